"""Vectorised search in per-row cumulative sums (used to invert cumulative rates and hazards)."""

from __future__ import annotations

import numpy as np


def first_at_least(cum: np.ndarray, row: np.ndarray, target: np.ndarray) -> np.ndarray:
    """For each i, the first column d with cum[row[i], d] >= target[i] (rows non-decreasing),
    or the last column: a binary search run for all queries at once."""
    lo = np.zeros(len(row), dtype=np.int32)
    hi = np.full(len(row), cum.shape[1] - 1, dtype=np.int32)
    while True:
        open_ = lo < hi
        if not open_.any():
            return lo
        mid = (lo + hi) // 2
        below = cum[row, mid] < target
        lo = np.where(open_ & below, mid + 1, lo)
        hi = np.where(open_ & ~below, mid, hi)
