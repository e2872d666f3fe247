"""The edges of the event-log mapping: read a team's exports, map them, write what validation reads.

`map_exports` runs at the start of `leadscore validate` when params name a mapping
(`paths.mapping`): it reads the exports named by the mapping (CSV, gzip CSV or Parquet), applies
features/mapping.py (which checks everything first and raises before anything is written), and
writes the contract's tables to data/interim/mapped/, which validation then triages as if they
were the raw folder. Without a mapping the raw folder already speaks the contract and nothing here
runs.

`write_event_families` runs at the end of validation: the unmapped event types of the kept events
and the families they get (features/event_families.py), in data/interim/event_families.json.
`with_event_families` folds them into the feature parameters every later stage loads.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from features.event_families import resolve_families
from features.mapping import apply_mapping, find_source, load_mapping, read_source
from features.schemas import EVENT_TYPES
from foundation.chunks import parquet_files
from foundation.io import read_json, write_json, write_table
from foundation.params import Params

MAPPED_DIR = "mapped"
MAPPING_REPORT = "mapping_report.json"
EVENT_FAMILIES = "event_families.json"


def map_exports(raw_dir: Path, params: Params) -> Path | None:
    """The folder validation should read: data/interim/mapped (the exports mapped onto the
    contract) when params name a mapping, else None (read `raw_dir` as it is)."""
    if params.paths.mapping is None:
        return None
    mf = load_mapping(params.paths.mapping)
    m = mf.mapping
    files = {"leads": m.leads.file, "events": m.events.file}
    if m.stages.file is not None:
        files["stages"] = m.stages.file
    paths = {table: find_source(raw_dir, name) for table, name in files.items()}
    sources = {table: read_source(path) for table, path in paths.items()}
    names = {table: str(path) for table, path in paths.items()}
    mapped = apply_mapping(sources, names, mf, params.features.target_stage)
    del sources
    out = Path(params.paths.interim) / MAPPED_DIR
    for table in ("leads", "events", "stages"):
        write_table(as_written(getattr(mapped, table)), out / f"{table}.parquet")
    report = {"mapping": mf.path, "warnings": mapped.report.warnings, **mapped.report.counts}
    write_json(report, Path(params.paths.interim) / MAPPING_REPORT)
    print(f"mapping: {mf.path} applied to {raw_dir}")
    print(
        f"  events: {mapped.report.counts['events_mapped']:,} mapped, "
        f"{mapped.report.counts['events_in_source_words']:,} kept in the source's words; "
        f"leads: {mapped.report.counts['lead_rows_merged']:,} duplicate rows merged"
    )
    for warning in mapped.report.warnings:
        print(f"warning: {warning}")
    return out


def as_written(frame: pd.DataFrame) -> pd.DataFrame:
    """Typed columns as they are (Parquet exports); object columns (CSV text, or text mixed with
    timestamps when stage dates join a stage log) as text, which validation parses and names."""
    out = {}
    for name, column in frame.items():
        if column.dtype == object:
            column = column.map(
                lambda v: v if v is None or v is pd.NA or isinstance(v, str) else str(v)
            )
            column = column.astype("string")
        out[name] = column
    return pd.DataFrame(out, index=frame.index)


def event_type_counts(events_path: Path) -> pd.Series:
    """Events per type in the kept events (a file or a folder of parts)."""
    parts = [
        pq.read_table(f, columns=["event_type"]).column(0).to_pandas().value_counts()
        for f in parquet_files(events_path)
    ]
    counts = pd.concat(parts).groupby(level=0).sum() if parts else pd.Series(dtype="int64")
    return counts.astype("int64")


def write_event_families(interim: Path, params: Params) -> tuple[str, ...]:
    """Resolve the families from the kept events and write them next to them."""
    counts = event_type_counts(Path(interim) / "events.parquet")
    families = resolve_families(counts, params.features.family_min_events)
    unmapped = counts[~counts.index.isin(EVENT_TYPES)]
    write_json(
        {
            "families": list(families),
            "min_events": params.features.family_min_events,
            "unmapped_counts": {
                str(k): int(v) for k, v in unmapped.sort_values(ascending=False).items()
            },
            "pooled_as_other": sorted(str(k) for k in unmapped.index if k not in families),
        },
        Path(interim) / EVENT_FAMILIES,
    )
    return families


def with_event_families(params: Params) -> Params:
    """params with `features.event_families` resolved: as given in params.yaml, else as the last
    validation found them (none before any validation)."""
    if params.features.event_families is not None:
        return params
    path = Path(params.paths.interim) / EVENT_FAMILIES
    families = tuple(read_json(path)["families"]) if path.exists() else ()
    if not families:  # none found: params stay as written (a model's stored params compare equal)
        return params
    features = params.features.model_copy(update={"event_families": families})
    return params.model_copy(update={"features": features})
