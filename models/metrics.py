"""Model quality figures both teams read, and the small tables behind the plots.

All functions take `y` (0/1 labels) and `p` (scores; probabilities where the metric needs them).
Single class: ranking metrics (ROC AUC, PR AUC, lift, capture, recall) are undefined when one class
is absent and return NaN, so a report of a tiny segment shows a gap instead of crashing or
inventing a number; log loss, Brier and ECE stay defined. Empty input is a ValueError.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from sklearn.metrics import (
    average_precision_score,
    precision_recall_curve,
    roc_auc_score,
    roc_curve,
)

TOP_DECILE = 0.1
DEFAULT_N_BINS = 10
# Plot tables are thinned to about this many points: enough for a smooth curve, small for MLflow.
MAX_CURVE_POINTS = 200
# Log loss clips probabilities here: a score of exactly 0 or 1 would make one lead infinite.
LOG_LOSS_EPS = 1e-15


def _arrays(y: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y).astype(np.int64).ravel()
    p = np.asarray(p, dtype=np.float64).ravel()
    if len(y) != len(p):
        raise ValueError(f"labels ({len(y)}) and scores ({len(p)}) differ in length")
    if len(y) == 0:
        raise ValueError("no rows to evaluate")
    if not np.isin(y, (0, 1)).all():
        raise ValueError("labels must be 0/1")
    return y, p


def _both_classes(y: np.ndarray) -> bool:
    return 0 < int(y.sum()) < len(y)


def roc_auc(y: np.ndarray, p: np.ndarray) -> float:
    """Area under the ROC curve; NaN with a single class."""
    y, p = _arrays(y, p)
    return float(roc_auc_score(y, p)) if _both_classes(y) else math.nan


def pr_auc(y: np.ndarray, p: np.ndarray) -> float:
    """Average precision (step-wise PR AUC, no interpolation); NaN with no positives."""
    y, p = _arrays(y, p)
    return float(average_precision_score(y, p)) if y.sum() > 0 else math.nan


def log_loss(y: np.ndarray, p: np.ndarray) -> float:
    """Mean negative log-likelihood of probabilities p."""
    y, p = _arrays(y, p)
    p = np.clip(p, LOG_LOSS_EPS, 1.0 - LOG_LOSS_EPS)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log1p(-p)))


def brier(y: np.ndarray, p: np.ndarray) -> float:
    """Mean squared error of probabilities p."""
    y, p = _arrays(y, p)
    return float(np.mean((p - y) ** 2))


def _bin_index(p: np.ndarray, n_bins: int, strategy: str) -> np.ndarray:
    """Bin of each row. `quantile`: equal-count bins over the sorted scores (ties may straddle a
    boundary; order is stable so the result is deterministic). `uniform`: equal-width on [0, 1]."""
    if n_bins < 1:
        raise ValueError("n_bins must be at least 1")
    if strategy == "quantile":
        order = np.argsort(p, kind="stable")
        idx = np.empty(len(p), dtype=np.int64)
        for b, chunk in enumerate(np.array_split(order, n_bins)):
            idx[chunk] = b
        return idx
    if strategy == "uniform":
        return np.clip((p * n_bins).astype(np.int64), 0, n_bins - 1)
    raise ValueError(f"unknown binning strategy {strategy!r} (use 'quantile' or 'uniform')")


def reliability_bins(
    y: np.ndarray, p: np.ndarray, n_bins: int = DEFAULT_N_BINS, strategy: str = "quantile"
) -> pd.DataFrame:
    """Per bin: count, mean predicted probability, observed positive rate (empty bins dropped)."""
    y, p = _arrays(y, p)
    frame = pd.DataFrame({"bin": _bin_index(p, n_bins, strategy), "y": y, "p": p})
    out = (
        frame.groupby("bin", sort=True)
        .agg(count=("y", "size"), mean_predicted=("p", "mean"), observed_rate=("y", "mean"))
        .reset_index()
    )
    return out[out["count"] > 0].reset_index(drop=True)


def expected_calibration_error(
    y: np.ndarray, p: np.ndarray, n_bins: int = DEFAULT_N_BINS, strategy: str = "quantile"
) -> float:
    """Count-weighted mean |mean predicted - observed rate| over the bins.

    Equal-count bins are the default: lead scores pile up near zero, and equal-width bins would put
    most leads in the first bin and judge calibration on a handful in the others.
    """
    bins = reliability_bins(y, p, n_bins, strategy)
    weights = bins["count"] / bins["count"].sum()
    return float((weights * (bins["mean_predicted"] - bins["observed_rate"]).abs()).sum())


def ece_noise_floor(
    p: np.ndarray,
    n_bins: int = DEFAULT_N_BINS,
    draws: int = 200,
    seed: int = 0,
    quantile: float = 0.9,
) -> dict[str, float]:
    """The ECE a perfectly calibrated model would show on these rows by chance alone: labels
    drawn as Bernoulli(p) `draws` times, the ECE of p against each. A measured ECE within this
    range says nothing against the calibration; only one above it does."""
    p = np.asarray(p, dtype=np.float64)
    rng = np.random.default_rng(seed)
    eces = [
        expected_calibration_error((rng.random(len(p)) < p).astype(np.int64), p, n_bins)
        for _ in range(draws)
    ]
    return {
        "median": float(np.median(eces)),
        f"q{round(quantile * 100)}": float(np.quantile(eces, quantile)),
    }


def _top_mask(p: np.ndarray, fraction: float) -> np.ndarray:
    """The ceil(fraction * n) highest scores (stable order breaks ties: first rows win)."""
    if not 0 < fraction <= 1:
        raise ValueError("fraction must be in (0, 1]")
    k = max(1, math.ceil(fraction * len(p)))
    order = np.argsort(-p, kind="stable")
    mask = np.zeros(len(p), dtype=bool)
    mask[order[:k]] = True
    return mask


def lift_at(y: np.ndarray, p: np.ndarray, fraction: float = TOP_DECILE) -> float:
    """Positive rate in the top `fraction` by score / overall positive rate; NaN if no positives."""
    y, p = _arrays(y, p)
    if y.sum() == 0:
        return math.nan
    return float(y[_top_mask(p, fraction)].mean() / y.mean())


def capture_rate_at(y: np.ndarray, p: np.ndarray, fraction: float = TOP_DECILE) -> float:
    """Share of all positives found in the top `fraction` by score; NaN if no positives."""
    y, p = _arrays(y, p)
    if y.sum() == 0:
        return math.nan
    return float(y[_top_mask(p, fraction)].sum() / y.sum())


def precision_at(y: np.ndarray, p: np.ndarray, threshold: float) -> float:
    """Precision of `p >= threshold`; NaN when nothing is above the threshold."""
    y, p = _arrays(y, p)
    chosen = p >= threshold
    return float(y[chosen].mean()) if chosen.any() else math.nan


def recall_at(y: np.ndarray, p: np.ndarray, threshold: float) -> float:
    """Recall of `p >= threshold`; NaN with no positives."""
    y, p = _arrays(y, p)
    return float(y[p >= threshold].sum() / y.sum()) if y.sum() > 0 else math.nan


def ceiling_auc(y: np.ndarray, p_true: np.ndarray) -> float:
    """AUC of the simulator's true probability: the best any model could rank these rows."""
    return roc_auc(y, p_true)


def summary(
    y: np.ndarray,
    p: np.ndarray,
    n_bins: int = DEFAULT_N_BINS,
    threshold: float | None = None,
) -> dict[str, float]:
    """The headline figures in one dict (keys are the names used in reports and MLflow)."""
    out = {
        "auc": roc_auc(y, p),
        "pr_auc": pr_auc(y, p),
        "log_loss": log_loss(y, p),
        "brier": brier(y, p),
        "ece": expected_calibration_error(y, p, n_bins),
        "lift_top_decile": lift_at(y, p),
        "capture_top_decile": capture_rate_at(y, p),
        "positive_rate": float(np.mean(np.asarray(y))),
        "rows": float(len(np.asarray(y))),
    }
    if threshold is not None:
        out["precision_at_threshold"] = precision_at(y, p, threshold)
        out["recall_at_threshold"] = recall_at(y, p, threshold)
    return out


def _thin(frame: pd.DataFrame, max_points: int) -> pd.DataFrame:
    """Keep about `max_points` evenly spaced rows, always the first and last."""
    if len(frame) <= max_points:
        return frame.reset_index(drop=True)
    keep = np.unique(np.linspace(0, len(frame) - 1, max_points).round().astype(int))
    return frame.iloc[keep].reset_index(drop=True)


def roc_points(y: np.ndarray, p: np.ndarray, max_points: int = MAX_CURVE_POINTS) -> pd.DataFrame:
    """fpr, tpr, threshold; empty frame with a single class."""
    y, p = _arrays(y, p)
    if not _both_classes(y):
        return pd.DataFrame(columns=["fpr", "tpr", "threshold"], dtype=float)
    fpr, tpr, thr = roc_curve(y, p)
    return _thin(pd.DataFrame({"fpr": fpr, "tpr": tpr, "threshold": thr}), max_points)


def pr_points(y: np.ndarray, p: np.ndarray, max_points: int = MAX_CURVE_POINTS) -> pd.DataFrame:
    """recall, precision, threshold (recall descending); empty frame with no positives."""
    y, p = _arrays(y, p)
    if y.sum() == 0:
        return pd.DataFrame(columns=["recall", "precision", "threshold"], dtype=float)
    precision, recall, thr = precision_recall_curve(y, p)
    # sklearn adds a final (recall 0, precision 1) point without threshold.
    frame = pd.DataFrame(
        {"recall": recall, "precision": precision, "threshold": np.append(thr, np.nan)}
    )
    return _thin(frame, max_points)


def cumulative_gains(y: np.ndarray, p: np.ndarray, n_points: int = 100) -> pd.DataFrame:
    """Contacting the top x of leads by score: share of positives captured and lift, per x.

    Starts at (0, 0); lift is NaN at x = 0 and when there are no positives.
    """
    y, p = _arrays(y, p)
    order = np.argsort(-p, kind="stable")
    hits = np.concatenate([[0], np.cumsum(y[order])])
    fractions = np.linspace(0.0, 1.0, n_points + 1)
    counts = np.ceil(fractions * len(y)).astype(int)
    total = y.sum()
    captured = hits[counts] / total if total > 0 else np.full(len(counts), np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        lift = np.where(fractions > 0, captured / fractions, np.nan)
    return pd.DataFrame(
        {"fraction_contacted": fractions, "fraction_captured": captured, "lift": lift}
    )
