"""The training table on a Dask cluster: leads, events and stages hash-partitioned by lead_id,
`features.snapshots.training_table` (the pandas path's function) applied to each partition.

Why this gives the pandas table: every feature of a lead reads only that lead's rows (its events,
its stages, its firmographics), and a lead's rows all land in the same partition. The two things
that are global are computed once and passed in: the end of the data (`data_end`, the latest
event or stage time, unless params fix it) and so the snapshot dates.

Rows come out partition by partition, each ordered like the pandas table (snapshot, then the
leads' order in the leads file), written as `training_table.parquet/part-NNNNN.parquet`. Across
partitions the order differs from the pandas file: compare after sorting by (snapshot, lead_id).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from engine.cluster import gather
from engine.partition import by_lead, restore_order
from features.behaviour import as_utc_timestamp
from features.persona import Personas
from features.snapshots import SNAPSHOT, SUMMARY_COLUMNS, TrainingTable, training_table
from foundation.chunks import clear_output, parquet_files
from foundation.errors import DataError
from foundation.params import EngineParams, FeatureParams

TABLES: tuple[str, ...] = ("leads", "events", "stages")


def partition_count(events_path: Path, engine: EngineParams, threads: int) -> int:
    """`engine.partitions`, or one partition per `partition_rows` events, at least one per
    worker thread so every core has work."""
    if engine.partitions:
        return engine.partitions
    rows = sum(pq.ParquetFile(p).metadata.num_rows for p in parquet_files(events_path))
    return max(threads, math.ceil(rows / engine.partition_rows), 1)


def data_end(client: Any, frames: dict[str, Any], params: FeatureParams) -> pd.Timestamp:
    """`observed_until` over the whole data: params.data_end, else the latest event or stage."""
    if params.data_end is not None:
        return as_utc_timestamp(params.data_end)
    latest = [frames[t]["ts"].max() for t in ("events", "stages")]
    found = [pd.Timestamp(t) for t in client.compute(latest, sync=True) if not pd.isna(t)]
    if not found:
        raise DataError("no events or stages with a timestamp: cannot tell where the data ends")
    return as_utc_timestamp(max(found))


def partition_training_table(
    leads: pd.DataFrame,
    events: pd.DataFrame,
    stages: pd.DataFrame,
    personas: Personas,
    params: FeatureParams,
    out: Path,
) -> pd.DataFrame:
    """Runs on a worker: the training table of one lead partition, written to `out`; returns
    the per-snapshot counts (rows, positives) that the summary adds up."""
    result = training_table(
        restore_order(leads),
        restore_order(events),
        restore_order(stages),
        personas,
        params,
    )
    write_part(result.table, out)
    return result.snapshots


def write_part(table: pd.DataFrame, out: Path) -> None:
    """One part file; a text column with no value in this part is typed as text, so all parts
    share one schema and the folder reads as one table."""
    arrow = pa.Table.from_pandas(table, preserve_index=False)
    fields = [f.with_type(pa.string()) if pa.types.is_null(f.type) else f for f in arrow.schema]
    schema = pa.schema(fields, metadata=arrow.schema.metadata)
    out.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(arrow.cast(schema), out)


def add_snapshots(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """The partitions' per-snapshot counts as one table: rows and positives add up, the rate
    is recomputed; a snapshot is complete or not in every partition alike (same data end)."""
    stacked = pd.concat(parts, ignore_index=True)
    totals = stacked.groupby(SNAPSHOT, sort=True).agg(
        rows=("rows", "sum"),
        positives=("positives", lambda s: None if s.isna().all() else int(s.fillna(0).sum())),
        horizon_complete=("horizon_complete", "all"),
    )
    totals = totals.reset_index()
    totals["positive_rate"] = [
        (p / r if r else None) if c else None
        for p, r, c in zip(
            totals["positives"], totals["rows"], totals["horizon_complete"], strict=True
        )
    ]
    totals["rows"] = totals["rows"].astype(int)
    return totals[list(SUMMARY_COLUMNS)]


def training_table_partitioned(
    client: Any,
    interim: Path,
    personas: Personas,
    params: FeatureParams,
    engine: EngineParams,
    out_dir: Path,
) -> TrainingTable:
    """Build the training table on the cluster into `out_dir` (a folder of parts). The result's
    `table` is empty (the rows are on disk); `snapshots` and `data_end` are the whole data's."""
    import dask
    import dask.dataframe as dd

    paths = {t: Path(interim, f"{t}.parquet").resolve() for t in TABLES}
    for path in paths.values():
        if not path.exists():
            raise DataError(f"{path}: missing (the Dask engine reads the validated Parquet)")
    threads = sum(client.nthreads().values()) or 1
    n = partition_count(paths["events"], engine, threads)
    frames = {t: dd.read_parquet(str(p)) for t, p in paths.items()}
    end = data_end(client, frames, params)
    fixed = params.model_copy(update={"data_end": end.to_pydatetime()})

    partitioned = by_lead(client, [frames[t] for t in TABLES], n)

    clear_output(out_dir)
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True)
    personas_future = client.scatter(personas, broadcast=True, hash=False)
    tasks = [
        dask.delayed(partition_training_table)(
            leads, events, stages, personas_future, fixed, out_dir / f"part-{i:05d}.parquet"
        )
        for i, (leads, events, stages) in enumerate(zip(*partitioned, strict=True))
    ]
    futures = client.compute(tasks)
    snapshots = add_snapshots(gather(client, futures, "building the training table"))
    return TrainingTable(table=pd.DataFrame(), snapshots=snapshots, data_end=end)
