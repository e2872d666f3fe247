"""The edges of the event-log mapping: read a team's exports, map them, write what validation reads.

`map_exports` runs at the start of `leadscore validate` when params name a mapping
(`paths.mapping`): it reads the exports named by the mapping (CSV, gzip CSV or Parquet), applies
features/mapping.py, and writes the contract's tables to data/interim/mapped/, which validation
then triages as if they were the raw folder. Without a mapping the raw folder already speaks the
contract and nothing here runs.

Memory follows the leads, not the log: the leads export (and an id map) is read whole, because an
identity merge needs every row of a person at once; events and stages stream through in chunks of
params `engine.chunk_rows` rows, each mapped and appended to its output, and let go. The outputs
are written into a partial folder that becomes data/interim/mapped/ only once every check has
passed: a log that fails a check leaves nothing behind. Column problems are found from the
headers, before any row is read.

`write_event_families` runs at the end of validation: the unmapped event types of the kept events
and the families they get (features/event_families.py), in data/interim/event_families.json.
`with_event_families` folds them into the feature parameters every later stage loads.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from features.event_families import resolve_families
from features.mapping import LogMapper
from features.mapping_checks import parse_times
from features.mapping_file import find_source, load_mapping
from features.vocabularies import EVENT_TYPES
from foundation.chunks import CSV_TEXT, ParquetAppender, parquet_files, table_chunks, table_columns
from foundation.errors import DataError
from foundation.io import read_json, write_json
from foundation.params import Params

MAPPED_DIR = "mapped"
MAPPING_REPORT = "mapping_report.json"
EVENT_FAMILIES = "event_families.json"
PARTIAL = ".partial"


def read_source(path: Path) -> pd.DataFrame:
    """A whole export as read: CSV (plain or gzip) as text, so validation names bad values as
    written; Parquet with its types."""
    return pd.concat([chunk for _, chunk in source_chunks(path, None)], ignore_index=True)


def source_chunks(path: Path, chunk_rows: int | None) -> Iterator[tuple[int, pd.DataFrame]]:
    """(first data row, rows) of an export, `chunk_rows` at a time (None: whole). Parquet and
    plain CSV through foundation/chunks.py; gzip CSV, which cannot be cut into byte blocks, by
    pandas' own chunked reader."""
    path = Path(path)
    try:
        if path.suffix == ".parquet" and chunk_rows is None:
            yield 1, pd.read_parquet(path)
        elif path.suffix in (".parquet", ".csv") and chunk_rows is not None:
            for chunk in table_chunks(path, chunk_rows):
                yield chunk.first_row, chunk.frame
        else:
            reader = pd.read_csv(path, chunksize=chunk_rows, **CSV_TEXT)
            if chunk_rows is None:
                yield 1, reader
                return
            first = 1
            for frame in reader:
                yield first, frame
                first += len(frame)
    except DataError:
        raise
    except Exception as exc:  # pandas and pyarrow raise many types; the user needs the file
        raise DataError(f"{path}: cannot read ({type(exc).__name__}: {exc})") from exc


def source_header(path: Path) -> list[str]:
    if Path(path).name.endswith(".csv.gz"):
        try:
            return list(pd.read_csv(path, nrows=0, **CSV_TEXT).columns)
        except Exception as exc:  # the user needs the file
            raise DataError(f"{path}: cannot read ({type(exc).__name__}: {exc})") from exc
    return table_columns(path)


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
    if m.leads.identity_map is not None:
        files["identity_map"] = m.leads.identity_map.file
    paths = {table: find_source(raw_dir, name) for table, name in files.items()}
    names = {table: str(path) for table, path in paths.items()}
    headers = {table: source_header(path) for table, path in paths.items()}
    wanted = {"leads", "identity_map"}
    whole = {t: read_source(p) for t, p in paths.items() if t in wanted}
    mapper = LogMapper(
        mf, names, params.features.target_stage, headers, whole["leads"], whole.get("identity_map")
    )
    del whole
    out = Path(params.paths.interim) / MAPPED_DIR
    partial = out.with_name(out.name + PARTIAL)
    created = [p for p in (partial, *partial.parents) if not p.exists()]
    shutil.rmtree(partial, ignore_errors=True)
    try:
        write_mapped(mapper, paths, partial, params.engine.chunk_rows)
        report = mapper.finish()  # raises every problem; nothing kept
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        for folder in created[1:]:  # parents this run made (data/interim of a fresh project)
            if folder.exists() and not any(folder.iterdir()):
                folder.rmdir()
        raise
    shutil.rmtree(out, ignore_errors=True)
    partial.replace(out)
    write_json(
        {"mapping": mf.path, "warnings": report.warnings, **report.counts},
        Path(params.paths.interim) / MAPPING_REPORT,
    )
    print(f"mapping: {mf.path} applied to {raw_dir}")
    print(
        f"  events: {report.counts['events_mapped']:,} mapped, "
        f"{report.counts['events_in_source_words']:,} kept in the source's words; "
        f"leads: {report.counts['lead_rows_merged']:,} duplicate rows merged"
    )
    for warning in report.warnings:
        print(f"warning: {warning}")
    return out


def write_mapped(mapper: LogMapper, paths: dict[str, Path], out: Path, chunk_rows: int) -> None:
    """The mapped leads, and the events and stages one chunk at a time, as Parquet in `out`."""
    out.mkdir(parents=True, exist_ok=True)
    with ParquetAppender(out / "leads.parquet") as leads:
        leads.write(as_written(mapper.leads))
    with ParquetAppender(out / "events.parquet") as events:
        for first_row, chunk in source_chunks(paths["events"], chunk_rows):
            events.write(as_written(mapper.events(chunk, first_row)))
    with ParquetAppender(out / "stages.parquet") as stages:
        if "stages" in paths:
            for _, chunk in source_chunks(paths["stages"], chunk_rows):
                stages.write(as_written(mapper.stages(chunk)))
        from_dates = as_written(mapper.date_stages())
        if stages.schema is not None:  # the stage log's columns and types, for one table
            from_dates = from_dates.reindex(columns=stages.schema.names)
            if pa.types.is_timestamp(stages.schema.field("ts").type):
                from_dates["ts"] = parse_times(from_dates["ts"])
        if len(from_dates) or stages.writer is None:
            stages.write(from_dates)


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
