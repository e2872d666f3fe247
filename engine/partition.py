"""Lead-keyed partitioning shared by features and scoring: every row of a lead (its lead row,
events, stages) lands in the same partition, and each partition restores the input order."""

from __future__ import annotations

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


def by_lead(client: Any, frames: list[Any], n: int) -> list[list[Any]]:
    """Each Dask frame numbered in file order and shuffled into `n` lead_id partitions; the
    i-th delayed partition of every frame holds the same leads."""
    out = []
    for frame in frames:
        lengths = client.compute(frame.map_partitions(len), sync=True)
        offsets = [int(o) for o in np.cumsum([0, *lengths])[:-1]]
        frame = frame.map_partitions(with_row, offsets).map_partitions(with_bucket)
        out.append(frame.shuffle(BUCKET, npartitions=n).to_delayed())
    return out


def in_order(client: Any, frame: Any) -> list[Any]:
    """Partitions as read (no lead keying needed), numbered so each keeps its order."""
    lengths = client.compute(frame.map_partitions(len), sync=True)
    offsets = [int(o) for o in np.cumsum([0, *lengths])[:-1]]
    return frame.map_partitions(with_row, offsets).to_delayed()
