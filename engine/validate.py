"""Events and stages validated in parallel: one task per Parquet row group or CSV block.

Each task reads its rows (numbered as in the whole file), triages them with
`features.triage.TableTriage` against the kept leads (broadcast once to every worker), and
writes its kept and quarantined rows as part files: `{table}.parquet/part-NNNNN.parquet`, in
file order, so reading the folder gives the rows the pandas engine writes to one file. Only a
summary per task travels back. Memory per worker: one row group (or block) and the lead index.

Leads are not validated here: a duplicate lead_id is found across the whole table, in order,
so the stage streams them in one process (they are the small table).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from engine.cluster import gather
from features.triage import LeadIndex, TableTriage
from features.triage_results import merge_summaries
from foundation.chunks import (
    CsvBlock,
    ParquetAppender,
    RowGroup,
    TableChunk,
    clear_output,
    csv_blocks,
    parquet_row_groups,
    read_csv_block,
    table_columns,
)
from foundation.completion import mark_complete, mark_started
from foundation.errors import DataError
from foundation.params import EngineParams


def part_name(index: int) -> str:
    return f"part-{index:05d}.parquet"


def _unit_chunks(path: Path, unit: RowGroup | CsvBlock, columns: list[str], chunk_rows: int):
    if isinstance(unit, CsvBlock):
        yield read_csv_block(path, unit, columns)
        return
    parquet = pq.ParquetFile(unit.path)
    first_row = unit.first_row
    try:
        batches = parquet.iter_batches(batch_size=chunk_rows, row_groups=[unit.index])
        for batch in batches:
            frame = pa.Table.from_batches([batch], schema=parquet.schema_arrow).to_pandas()
            yield TableChunk(frame, first_row)
            first_row += len(frame)
    except Exception as exc:  # pyarrow raises many types; the user needs the file name
        raise DataError(f"{unit.path}: cannot read ({type(exc).__name__}: {exc})") from exc


def validate_unit(
    path: Path,
    unit: RowGroup | CsvBlock,
    columns: list[str],
    table: str,
    leads: LeadIndex,
    kept_dir: Path,
    quarantine_dir: Path,
    index: int,
    chunk_rows: int,
) -> dict[str, Any]:
    """Runs on a worker: triage one unit, write its two part files, return its summary."""
    triage = TableTriage(table, source=str(path), leads=leads)
    with (
        ParquetAppender(kept_dir / part_name(index)) as kept,
        ParquetAppender(quarantine_dir / part_name(index)) as quarantined,
    ):
        for chunk in _unit_chunks(path, unit, columns, chunk_rows):
            result = triage.add(chunk)
            kept.write(result.kept)
            quarantined.write(result.quarantined)
    return triage.summary(top=None)


def validate_partitioned(
    client: Any,
    path: Path,
    table: str,
    leads: LeadIndex,
    kept_dir: Path,
    quarantine_dir: Path,
    engine: EngineParams,
) -> dict[str, Any]:
    """Triage `path` on the cluster; returns the table's summary (as the pandas engine's)."""
    path = Path(path).resolve()
    units: list[RowGroup | CsvBlock]
    units = list(csv_blocks(path)) if path.suffix == ".csv" else list(parquet_row_groups(path))
    columns = table_columns(path)
    for folder in (kept_dir, quarantine_dir):
        clear_output(folder)
        mark_started(folder, "validate")
    if not units:  # a Parquet file without row groups: one empty unit keeps the schema
        units = [RowGroup(path, -1, 1, 0)]
    # hash=False: a content-hashed key would be shared with the events' scatter of the same
    # index, and releasing that one would cancel these tasks ("lost dependencies").
    index_future = client.scatter(leads, broadcast=True, hash=False)
    futures = [
        client.submit(
            validate_unit if unit.rows or isinstance(unit, CsvBlock) else validate_empty,
            path,
            unit,
            columns,
            table,
            index_future,
            Path(kept_dir).resolve(),
            Path(quarantine_dir).resolve(),
            i,
            engine.chunk_rows,
            pure=False,
        )
        for i, unit in enumerate(units)
    ]
    parts = gather(client, futures, f"validating {path}")
    for folder in (kept_dir, quarantine_dir):
        mark_complete(folder, "validate")  # only now may `features` read it
    return merge_summaries(parts)


def validate_empty(
    path: Path,
    unit: RowGroup,
    columns: list[str],
    table: str,
    leads: LeadIndex,
    kept_dir: Path,
    quarantine_dir: Path,
    index: int,
    chunk_rows: int,
) -> dict[str, Any]:
    """A unit without rows (an empty row group or file): still one part with the columns."""
    frame = pq.read_schema(unit.path).empty_table().to_pandas()
    triage = TableTriage(table, source=str(path), leads=leads)
    result = triage.add(TableChunk(frame, unit.first_row))
    with (
        ParquetAppender(kept_dir / part_name(index)) as kept,
        ParquetAppender(quarantine_dir / part_name(index)) as quarantined,
    ):
        kept.write(result.kept)
        quarantined.write(result.quarantined)
    return triage.summary(top=None)
