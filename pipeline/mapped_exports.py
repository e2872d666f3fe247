"""The edges of the event-log mapping: read a team's exports, map them, hand them to validation.

When params name a mapping (`paths.mapping`), `leadscore validate` opens the exports through it
(`MappedExports`: CSV, gzip CSV or Parquet), and triages the contract's tables features/mapping.py
makes of them chunk by chunk, as they come: no copy of the log is written in between (on the
simulated 1M leads that copy cost more than the mapping itself: docs/your-own-data.md). With the
Dask engine, whose workers read files, `map_exports` writes the mapped tables to
data/interim/mapped/ first. Without a mapping the raw folder already speaks the contract and
nothing here runs.

Memory follows the leads, not the log: the leads export (and an id map) is read whole, because an
identity merge needs every row of a person at once; events and stages stream through in chunks of
params `engine.chunk_rows` rows, each mapped, passed on, and let go. Everything is written into a
partial folder that replaces what it replaces only once every check has passed: a log that fails a
check leaves nothing behind. Column problems are found from the headers, before any row is read.

`write_event_families` runs at the end of validation: the unmapped event types of the kept events
and the families they get (features/event_families.py), in data/interim/event_families.json.
`with_event_families` folds them into the feature parameters every later stage loads.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from features.event_families import resolve_families
from features.mapping import LogMapper
from features.mapping_checks import MappingReport, parse_times
from features.mapping_file import MappingFile, find_source, load_mapping
from features.vocabularies import EVENT_TYPES
from foundation.chunks import (
    CSV_TEXT,
    ParquetAppender,
    TableChunk,
    parquet_files,
    table_chunks,
    table_columns,
)
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


class MappedExports:
    """A team's exports seen through their mapping: the contract's tables, chunk by chunk.

    `open` reads the headers and the leads (and an id map) and raises every column problem
    before any event is read. `chunks(table)` then yields the mapped rows of each table, in
    order, numbered as the mapped table numbers them, for validation to triage as it comes (no
    copy of the log on disk between the two: writing and re-reading 57M events cost more than
    mapping them). `finish` judges what the chunks showed and raises every problem together; a
    caller keeps nothing it wrote before `finish` returned."""

    def __init__(self, mf: MappingFile, paths: dict[str, Path], mapper: LogMapper) -> None:
        self.mf, self.paths, self.mapper = mf, paths, mapper
        self.names = {table: str(path) for table, path in paths.items()}

    @classmethod
    def open(cls, raw_dir: Path, params: Params) -> MappedExports | None:
        """The exports named by params' mapping (None when params name no mapping)."""
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
        whole = {t: read_source(p) for t, p in paths.items() if t in ("leads", "identity_map")}
        mapper = LogMapper(
            mf,
            names,
            params.features.target_stage,
            headers,
            whole["leads"],
            whole.get("identity_map"),
        )
        return cls(mf, paths, mapper)

    def source(self, table: str) -> str:
        """The export a mapped table comes from, for messages (stages from date columns only:
        the leads export)."""
        return self.names.get(table, self.names["leads"])

    def chunks(self, table: str, chunk_rows: int) -> Iterator[TableChunk]:
        """The mapped `table` in chunks of about `chunk_rows` rows (the leads, mapped whole, in
        slices of that size), each with a fresh index and its first row in the mapped table."""
        first = 1
        for frame in self._frames(table, chunk_rows):
            yield TableChunk(frame.reset_index(drop=True), first)
            first += len(frame)

    def _frames(self, table: str, chunk_rows: int) -> Iterator[pd.DataFrame]:
        mapper = self.mapper
        if table == "leads":
            leads = as_written(mapper.leads)
            for start in range(0, max(len(leads), 1), chunk_rows):
                yield leads.iloc[start : start + chunk_rows]
        elif table == "events":
            for first_row, chunk in source_chunks(self.paths["events"], chunk_rows):
                yield as_written(mapper.events(chunk, first_row))
        elif table == "stages":
            log: pd.DataFrame | None = None  # the stage log's first chunk: its columns and types
            if "stages" in self.paths:
                for _, chunk in source_chunks(self.paths["stages"], chunk_rows):
                    frame = as_written(mapper.stages(chunk))
                    log = frame if log is None else log
                    yield frame
            from_dates = as_written(mapper.date_stages())
            if log is not None:  # one table: the stage log's columns, its time type
                from_dates = from_dates.reindex(columns=log.columns)
                if log["ts"].dtype.kind == "M":
                    from_dates["ts"] = parse_times(from_dates["ts"])
            if len(from_dates) or log is None:
                yield from_dates
        else:
            raise ValueError(f"no mapped table {table!r}")

    def finish(self, interim: Path, raw_dir: Path) -> MappingReport:
        """Judge the chunks seen (raises every problem together), then write the mapping report
        next to the tables and say what the mapping did."""
        report = self.mapper.finish()
        write_json(
            {"mapping": self.mf.path, "warnings": report.warnings, **report.counts},
            Path(interim) / MAPPING_REPORT,
        )
        print(f"mapping: {self.mf.path} applied to {raw_dir}")
        print(
            f"  events: {report.counts['events_mapped']:,} mapped, "
            f"{report.counts['events_in_source_words']:,} kept in the source's words; "
            f"leads: {report.counts['lead_rows_merged']:,} duplicate rows merged"
        )
        for warning in report.warnings:
            print(f"warning: {warning}")
        return report


def map_exports(raw_dir: Path, params: Params) -> Path | None:
    """The exports mapped onto the contract as files: data/interim/mapped (None when params name
    no mapping). What validation with the Dask engine reads, since its workers read files; the
    pandas engine triages the mapped chunks as they come (`MappedExports`)."""
    exports = MappedExports.open(raw_dir, params)
    if exports is None:
        return None
    out = Path(params.paths.interim) / MAPPED_DIR
    partial = out.with_name(out.name + PARTIAL)
    with kept_only_if_checked(partial):
        write_mapped(exports, partial, params.engine.chunk_rows)
        exports.finish(params.paths.interim, raw_dir)  # raises every problem; nothing kept
    shutil.rmtree(out, ignore_errors=True)
    partial.replace(out)
    return out


@contextmanager
def kept_only_if_checked(partial: Path) -> Iterator[None]:
    """Outputs written into `partial` stay only if the block ends without an error; parents
    this run made (data/interim of a fresh project) go with them."""
    created = [p for p in (partial, *partial.parents) if not p.exists()]
    shutil.rmtree(partial, ignore_errors=True)
    try:
        yield
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        for folder in created[1:]:
            if folder.exists() and not any(folder.iterdir()):
                folder.rmdir()
        raise


def write_mapped(exports: MappedExports, out: Path, chunk_rows: int) -> None:
    """The mapped leads, events and stages, one chunk at a time, as Parquet in `out`."""
    out.mkdir(parents=True, exist_ok=True)
    for table in ("leads", "events", "stages"):
        with ParquetAppender(out / f"{table}.parquet") as appender:
            for chunk in exports.chunks(table, chunk_rows):
                appender.write(chunk.frame)


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
