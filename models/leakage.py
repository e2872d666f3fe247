"""Leakage audit of a flat lead table: columns that give the outcome away before any model runs.

CRM exports mix what was known when the lead arrived with what the sales team wrote after
talking to it (a status tag, a quality judgement). Those columns make a model look excellent and
useless for new leads. They leave two fingerprints, and the audit measures both per column:

- the column alone nearly decides the label: its own AUC, over all rows and over the rows where
  it is filled in (a post-contact field is empty for leads nobody has worked yet, which dilutes
  its overall AUC; where it is filled, it is the outcome in other words);
- it is missing far more often in one class (filled in for worked leads, empty for the rest).

Numeric columns use their rank AUC (no fit, so no over-fitting). Categorical columns are
target-encoded out of fold: an in-sample encoding would give any near-unique column (a name, an
email) an AUC of 1. AUCs are folded to max(auc, 1 - auc): a column that predicts "not converted"
leaks as much as one that predicts "converted".
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold

from foundation.errors import LeadscoreError
from foundation.params import LeakageParams

# Pseudo-count pulling a rare category's rate towards the overall rate in the target encoding.
TARGET_SMOOTHING = 10.0
MISSING = "__missing__"
AUDIT_COLUMNS = (
    "column",
    "kind",
    "auc",
    "auc_present",
    "present_share",
    "missing_rate_positive",
    "missing_rate_negative",
    "missing_gap",
    "flagged",
    "reviewed",
    "reason",
)


class LeakageError(LeadscoreError):
    """--strict: a column the audit flagged is still used as a feature."""


def _folded_auc(y: np.ndarray, score: np.ndarray) -> float:
    if len(y) == 0 or y.min() == y.max():
        return math.nan
    auc = float(roc_auc_score(y, score))
    return max(auc, 1.0 - auc)


def numeric_auc(values: np.ndarray, y: np.ndarray) -> float:
    """Rank AUC of a numeric column; missing values are a rank of their own, placed at whichever
    end gives the higher figure (the column alone, missingness included)."""
    values = np.asarray(values, dtype=np.float64)
    missing = np.isnan(values)
    if not missing.any():
        return _folded_auc(y, values)
    if missing.all():
        return math.nan
    finite = values[~missing]
    # sklearn refuses infinities: one below the minimum / above the maximum ranks the same.
    low = np.where(missing, finite.min() - 1.0, values)
    high = np.where(missing, finite.max() + 1.0, values)
    return max(_folded_auc(y, low), _folded_auc(y, high))


def target_encoded_auc(keys: np.ndarray, y: np.ndarray, folds: int, seed: int) -> float:
    """AUC of an out-of-fold, smoothed target encoding of a categorical column."""
    keys = np.asarray(keys, dtype=object)
    y = np.asarray(y, dtype=np.int64)
    n_splits = min(folds, int(np.bincount(y, minlength=2).min()))
    if n_splits < 2:
        return math.nan
    encoded = np.empty(len(y), dtype=np.float64)
    splitter = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    for fit_idx, held_idx in splitter.split(keys, y):
        prior = y[fit_idx].mean()
        stats = pd.Series(y[fit_idx]).groupby(keys[fit_idx]).agg(["sum", "count"])
        rate = (stats["sum"] + TARGET_SMOOTHING * prior) / (stats["count"] + TARGET_SMOOTHING)
        encoded[held_idx] = pd.Series(keys[held_idx]).map(rate).fillna(prior).to_numpy()
    return _folded_auc(y, encoded)


def audit_column(
    series: pd.Series, y: np.ndarray, kind: str, params: LeakageParams, seed: int
) -> dict[str, object]:
    """The audit figures of one column (see the module docstring) and why it is flagged."""
    missing = series.isna().to_numpy()
    present = ~missing
    if kind == "categorical":
        keys = series.astype(object).where(present, MISSING).to_numpy()
        auc = target_encoded_auc(keys, y, params.folds, seed)
        auc_present = target_encoded_auc(keys[present], y[present], params.folds, seed)
    else:
        values = series.to_numpy(dtype=np.float64, na_value=np.nan)
        auc = numeric_auc(values, y)
        auc_present = _folded_auc(y[present], values[present])
    share = float(present.mean())
    miss_pos = float(missing[y == 1].mean())
    miss_neg = float(missing[y == 0].mean())
    gap = miss_pos - miss_neg

    reasons = []
    if auc >= params.max_auc:
        reasons.append(f"alone it reaches AUC {auc:.3f}")
    if share >= params.min_present_share and auc_present >= params.max_auc:
        reasons.append(f"where filled in ({share:.0%} of rows) it reaches AUC {auc_present:.3f}")
    if abs(gap) >= params.max_missing_gap:
        reasons.append(f"missing for {miss_pos:.0%} of positives vs {miss_neg:.0%} of negatives")
    return {
        "column": series.name,
        "kind": kind,
        "auc": auc,
        "auc_present": auc_present,
        "present_share": share,
        "missing_rate_positive": miss_pos,
        "missing_rate_negative": miss_neg,
        "missing_gap": gap,
        "flagged": bool(reasons),
        "reviewed": series.name in params.reviewed,
        "reason": "; ".join(reasons),
    }


def audit_leakage(
    frame: pd.DataFrame,
    y: np.ndarray,
    numeric: Sequence[str],
    categorical: Sequence[str],
    params: LeakageParams,
    seed: int = 0,
) -> pd.DataFrame:
    """One row per feature column with the figures above; flagged first, strongest first.

    `frame` holds typed features (numeric float, categorical text with NaN for missing), `y` 0/1.
    """
    y = np.asarray(y, dtype=np.int64)
    rows = [audit_column(frame[c], y, "numeric", params, seed) for c in numeric]
    rows += [audit_column(frame[c], y, "categorical", params, seed) for c in categorical]
    report = pd.DataFrame(rows, columns=list(AUDIT_COLUMNS))
    strength = report[["auc", "auc_present"]].max(axis=1, skipna=True)
    return (
        report.assign(_strength=strength)
        .sort_values(["flagged", "_strength"], ascending=[False, False], kind="stable")
        .drop(columns="_strength")
        .reset_index(drop=True)
    )


def unreviewed_flags(report: pd.DataFrame) -> pd.DataFrame:
    """The flagged rows nobody has signed off (what --strict refuses)."""
    return report[report["flagged"] & ~report["reviewed"]]


def describe_flags(report: pd.DataFrame) -> list[str]:
    """One line per flagged column: name, figures, and whether a person reviewed it."""
    lines = []
    for row in report[report["flagged"]].itertuples(index=False):
        note = " (reviewed: kept)" if row.reviewed else ""
        lines.append(f"{row.column}: {row.reason}{note}")
    return lines


def refuse_if_leaky(report: pd.DataFrame, mapping_name: str) -> None:
    """Raise LeakageError naming each unreviewed flagged column and what to do about it."""
    leaky = unreviewed_flags(report)
    if leaky.empty:
        return
    lines = describe_flags(leaky)
    raise LeakageError(
        "--strict: the leakage audit flags column(s) still used as features:\n  "
        + "\n  ".join(lines)
        + f"\nAdd them to `exclude` in {mapping_name} (if sales fills them in after contact), or "
        "to `leakage.reviewed` once you have checked they are known when a lead arrives."
    )
