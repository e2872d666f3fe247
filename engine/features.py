"""The training table on a Dask cluster: leads, events and stages hash-partitioned by lead_id,
`features.snapshots.training_table` (the pandas path's function) applied to each partition.

Why this gives the pandas table: every feature of a lead reads only that lead's rows (its events,
its stages, its firmographics), and a lead's rows all land in the same partition. The two things
that are global are computed once and passed in: the end of the data (`data_end`, the latest
event or stage time, unless params fix it) and so the snapshot dates.

Each table is shuffled into lead partitions written to a scratch folder next to the output
(`.training_table.parquet.by-lead/`, removed at the end), one table at a time; each partition's
task then reads its three parts: a worker holds one partition at a time, so its memory follows
the partition size (`engine.partition_rows`), not the data size (see engine/partition.py).

Rows come out partition by partition, each ordered like the pandas table (snapshot, then the
leads' order in the leads file), written as `training_table.parquet/part-NNNNN.parquet`. Across
partitions the order differs from the pandas file: compare after sorting by (snapshot, lead_id).
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from engine.cluster import compute_now, gather
from engine.partition import lead_partitions, read_partition
from features.persona import Personas
from features.snapshots import SNAPSHOT, SUMMARY_COLUMNS, TrainingTable, training_table
from foundation.chunks import clear_output, parquet_files
from foundation.completion import mark_complete, mark_started, require_complete
from foundation.errors import DataError
from foundation.params import EngineParams, FeatureParams
from foundation.timestamps import as_utc_timestamp

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
    latest_values = compute_now(client, latest, "finding the data's last timestamp")
    found = [pd.Timestamp(t) for t in latest_values if not pd.isna(t)]
    if not found:
        raise DataError("no events or stages with a timestamp: cannot tell where the data ends")
    return as_utc_timestamp(max(found))


def partition_training_table(
    scratch: Path, i: int, personas: Personas, params: FeatureParams, out: Path
) -> pd.DataFrame:
    """Runs on a worker: the training table of lead partition `i` (its leads, events and stages
    read from `scratch`), written to `out`; returns the per-snapshot counts (rows, positives)
    that the summary adds up."""
    leads, events, stages = (read_partition(scratch / t, i) for t in TABLES)
    result = training_table(leads, events, stages, personas, params)
    del leads, events, stages
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
        require_complete(path)
    threads = sum(client.nthreads().values()) or 1
    n = partition_count(paths["events"], engine, threads)
    frames = {t: dd.read_parquet(str(p)) for t, p in paths.items()}
    end = data_end(client, frames, params)
    fixed = params.model_copy(update={"data_end": end.to_pydatetime()})

    clear_output(out_dir)
    out_dir = Path(out_dir).resolve()
    scratch = out_dir.with_name(f".{out_dir.name}.by-lead")
    clear_output(scratch)
    try:
        # One table at a time: a shuffle's buffers and disk are freed before the next starts.
        for t in TABLES:
            write = lead_partitions(client, frames[t], n, scratch / t)
            gather(client, client.compute([write]), f"partitioning {t} by lead_id")
        mark_started(out_dir, "features")
        personas_future = client.scatter(personas, broadcast=True, hash=False)
        tasks = [
            dask.delayed(partition_training_table)(
                scratch, i, personas_future, fixed, out_dir / f"part-{i:05d}.parquet"
            )
            for i in range(n)
        ]
        futures = client.compute(tasks)
        snapshots = add_snapshots(gather(client, futures, "building the training table"))
        mark_complete(out_dir, "features")  # only now may `train` read it
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return TrainingTable(table=pd.DataFrame(), snapshots=snapshots, data_end=end)
