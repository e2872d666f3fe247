"""Lead-keyed partitioning shared by features and scoring: every row of a lead (its lead row,
events, stages) lands in the same partition, and each partition restores the input order.

Two ways to hand the partitions on. `by_lead` keeps them in the cluster's memory as delayed
objects (fine while they are small). `lead_partitions` writes each one to a Parquet part file as
soon as the shuffle produces it, and the work per partition reads its parts back: a worker then
holds one partition at a time whatever the data size. In memory, a table whose shuffle finishes
first has all its output partitions computed and held until the other tables' shuffles finish
(the consumer of partition i needs the leads, events and stages of i): at 3M leads that was every
event, half per worker (7-8 GB a worker, against 1.7 GB at 1M with the same partition size).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

LEAD_ID = "lead_id"
BUCKET = "_bucket"
ROW = "_row"


def lead_bucket(lead_id: pd.Series) -> np.ndarray:
    """A 64-bit hash of each lead id's text: the same lead gets the same value whichever table
    (and dtype: text or categorical) it comes from. Dask's shuffle hashes this column into its
    partitions; a wide value (not already `% n`) keeps them balanced."""
    return pd.util.hash_pandas_object(lead_id.astype("str"), index=False).to_numpy()


def with_bucket(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(**{BUCKET: lead_bucket(frame[LEAD_ID])})


def with_row(frame: pd.DataFrame, offsets: list[int], partition_info: Any = None) -> pd.DataFrame:
    """The row's position in its file, so each partition can restore the input order."""
    start = offsets[partition_info["number"]] if partition_info else 0
    return frame.assign(**{ROW: np.arange(start, start + len(frame), dtype=np.int64)})


def restore_order(frame: pd.DataFrame) -> pd.DataFrame:
    """Input order, and pandas' own text dtype (Dask reads text as string[pyarrow], whose
    missing value is NA rather than NaN): the partition then looks like `read_table`'s rows."""
    frame = frame.sort_values(ROW, kind="stable").drop(columns=[ROW, BUCKET], errors="ignore")
    text = {c: "str" for c, t in frame.dtypes.items() if isinstance(t, pd.StringDtype)}
    return frame.astype(text).reset_index(drop=True)


def numbered(client: Any, frame: Any) -> Any:
    """The frame with each row's position in its file (ROW) and its lead's hash (BUCKET)."""
    from engine.cluster import compute_now

    lengths = compute_now(client, frame.map_partitions(len), "counting rows per partition")
    offsets = [int(o) for o in np.cumsum([0, *lengths])[:-1]]
    return frame.map_partitions(with_row, offsets).map_partitions(with_bucket)


def by_lead(client: Any, frames: list[Any], n: int) -> list[list[Any]]:
    """Each Dask frame numbered in file order and shuffled into `n` lead_id partitions; the
    i-th delayed partition of every frame holds the same leads."""
    return [numbered(client, f).shuffle(BUCKET, npartitions=n).to_delayed() for f in frames]


def part_name(i: int) -> str:
    return f"part-{i:05d}.parquet"


def lead_partitions(client: Any, frame: Any, n: int, folder: Path) -> Any:
    """Shuffle `frame` into `n` lead_id partitions written as `folder/part-NNNNN.parquet` (every
    i, empty or not; the i-th part of every table holds the same leads). Returns the
    not-yet-computed write: pass it to the client (see `engine.cluster.gather`). Each write task
    follows its partition's shuffle output directly, so no worker holds more than a partition."""
    shuffled = numbered(client, frame).shuffle(BUCKET, npartitions=n)
    return shuffled.to_parquet(
        str(folder),
        write_index=False,
        name_function=part_name,
        write_metadata_file=False,
        compute=False,
    )


def read_partition(folder: Path, i: int) -> pd.DataFrame:
    """The i-th lead partition written by `lead_partitions`, in input order (`restore_order`)."""
    import pyarrow.parquet as pq

    return restore_order(pq.read_table(Path(folder) / part_name(i)).to_pandas())


def in_order(client: Any, frame: Any) -> list[Any]:
    """Partitions as read (no lead keying needed), numbered so each keeps its order."""
    from engine.cluster import compute_now

    lengths = compute_now(client, frame.map_partitions(len), "counting rows per partition")
    offsets = [int(o) for o in np.cumsum([0, *lengths])[:-1]]
    return frame.map_partitions(with_row, offsets).to_delayed()
