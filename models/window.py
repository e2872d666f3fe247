"""The training window: how many of the latest training snapshots the model learns from, chosen
on the validation snapshots.

Why: a long log's process changes. On the road traffic fines (2003-2012) the booster trained on
every quarter since 2003 ranked the validation year worse than one trained on the latest five
years (docs/your-own-data.md): old quarters teach rules that no longer hold. How far back is
still worth learning from is a property of each log, not a constant, so `train.window_snapshots`
lists candidates and the data decides: each candidate is fitted on the latest N training
snapshots (0: all of them), and the one whose model ranks the validation snapshots best (AUC of
its raw scores, before calibration, which cannot change a ranking) is kept.

What the choice may see: the training and validation snapshots only. The test snapshots are
never passed here, so the test figures of the chosen model stay honest. The validation AUC that
chooses is a little optimistic (each candidate early-stopped on the same rows); it only ranks
the candidates, and the report's figures are the test's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from foundation.errors import InsufficientDataError
from models.metrics import roc_auc

SNAPSHOT = "snapshot"
ALL = 0  # a window of 0 snapshots means every training snapshot

FitFunction = Callable[[pd.DataFrame, pd.DataFrame], tuple[Any, dict[str, Any]]]


@dataclass(frozen=True)
class WindowChoice:
    """The kept model, its fit info, the window (snapshots; 0 = all) and every candidate's
    validation AUC, in the order tried."""

    model: Any
    info: dict[str, Any]
    window: int
    valid_auc: dict[int, float]

    def summary(self) -> dict[str, Any]:
        """Flat numbers for run.json and MLflow (fit.window_snapshots, fit.valid_auc_window_N)."""
        return {
            "window_snapshots": self.window,
            **{f"valid_auc_window_{n}": round(auc, 6) for n, auc in self.valid_auc.items()},
        }


def latest_snapshots(train: pd.DataFrame, window: int) -> pd.DataFrame:
    """The rows of the latest `window` snapshots of `train` (all rows for 0 or a window at least
    as long as the training history)."""
    if window == ALL:
        return train
    snapshots = np.sort(pd.to_datetime(train[SNAPSHOT], utc=True).unique())
    if window >= len(snapshots):
        return train
    first = snapshots[-window]
    return train[pd.to_datetime(train[SNAPSHOT], utc=True).to_numpy() >= first].reset_index(
        drop=True
    )


def choose_window(
    train: pd.DataFrame,
    valid: pd.DataFrame,
    windows: Sequence[int],
    fit: FitFunction,
    raw_score: Callable[[Any, pd.DataFrame], np.ndarray],
    label: str = "label",
) -> WindowChoice:
    """Fit `fit(train rows of the window, valid)` for each window and keep the model with the
    best validation AUC of `raw_score(model, valid)`; ties go to the window listed first.

    Windows that hold the same rows (two lengths both past the history's start) are fitted once.
    A window whose rows have a single class cannot be fitted and is skipped with the reason in
    the info; when every window is, the last error is raised.
    """
    if not windows:
        raise ValueError("no training window to choose from")
    y_valid = valid[label].to_numpy()
    best: WindowChoice | None = None
    aucs: dict[int, float] = {}
    fitted_rows: dict[int, int] = {}
    skipped: dict[int, str] = {}
    error: InsufficientDataError | None = None
    for window in windows:
        rows = latest_snapshots(train, window)
        if len(rows) in fitted_rows:  # the same rows as a window already tried
            aucs[window] = aucs[fitted_rows[len(rows)]]
            continue
        try:
            model, info = fit(rows, valid)
        except InsufficientDataError as exc:
            skipped[window] = str(exc)
            error = exc
            continue
        fitted_rows[len(rows)] = window
        aucs[window] = roc_auc(y_valid, raw_score(model, valid))
        if best is None or aucs[window] > best.valid_auc[best.window]:
            best = WindowChoice(model, info, window, {window: aucs[window]})
    if best is None:
        assert error is not None
        raise error
    info = {**best.info, "window_rows": len(latest_snapshots(train, best.window))}
    if skipped:
        info["window_skipped"] = skipped
    return WindowChoice(best.model, info, best.window, aucs)
