"""Weights that let the latest validation snapshots count more when calibrating.

A real log's base rate moves: a process pays more in its last year, a market turns. The model is
calibrated on the validation snapshots (the latest ones before the test), and with several of
them an equal-weight fit lands on their average rate, which the next period may have left behind.
`train.calibration_half_life_snapshots` gives each validation row the weight 0.5 ** (age / h),
age = how many snapshots it lies before the latest one, so the fit follows the recent rate and
still uses every row (h = 1: the latest counts twice the one before). null: equal weights, as
before. One validation snapshot (the simulated default) has every weight 1 either way.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

SNAPSHOT = "snapshot"


def recency_weights(valid: pd.DataFrame, half_life_snapshots: float | None) -> np.ndarray | None:
    """Per-row weights for the validation rows, or None (equal weights)."""
    if half_life_snapshots is None or SNAPSHOT not in valid.columns:
        return None
    snapshots = pd.to_datetime(valid[SNAPSHOT], utc=True)
    order = np.sort(snapshots.unique())
    if len(order) < 2:
        return None
    age = len(order) - 1 - np.searchsorted(order, snapshots.to_numpy())
    return np.power(0.5, age / half_life_snapshots)
