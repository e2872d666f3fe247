"""The `auto` MQL threshold: the strictest score that still delivers the monthly SQL target.

Lowering the threshold hands sales more MQLs and more expected SQLs, so every threshold below a
good one also meets the target; the useful answer is the highest threshold that meets it, i.e.
the fewest MQLs sales must work to reach the agreed SQLs. Expected SQLs are the sum of calibrated
probabilities of the leads at or above the threshold (calibration is what makes that sum a count).
The MQL count may not exceed sales capacity; when no threshold meets the target within capacity,
the threshold that fills capacity is returned with what is missing: SQLs short, the capacity
(and reps) that would meet the target, or the extra leads when even every lead falls short.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from sla.agreement import SCORE_MAX, SCORE_MIN
from sla.errors import SLAError

THRESHOLD_STEP = 1.0  # candidate thresholds: whole scores 0..100, the scale people discuss
# Sums of floats: a target of 3 SQLs met by 0.1 x 30 must not fail by 4e-16.
SUM_TOLERANCE = 1e-9


@dataclass(frozen=True)
class ThresholdResult:
    threshold: float
    expected_mqls: int
    expected_sqls: float
    expected_revenue_eur: float
    sql_target: int
    capacity: int
    met: bool
    sqls_short: float
    capacity_needed: int | None  # MQLs a month that meet the target with this lead flow
    reps_needed: int | None
    extra_leads_needed: int | None  # when even every eligible lead is not enough
    leads_considered: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _candidates() -> np.ndarray:
    steps = round((SCORE_MAX - SCORE_MIN) / THRESHOLD_STEP)
    return SCORE_MAX - THRESHOLD_STEP * np.arange(steps + 1)  # strictest first


@dataclass(frozen=True)
class Curve:
    """Per candidate threshold (strictest first): MQLs, expected SQLs and expected revenue."""

    thresholds: np.ndarray
    mqls: np.ndarray
    sqls: np.ndarray
    revenue: np.ndarray
    mean_probability: float  # of all eligible leads (NaN when none)
    eligible: int

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "threshold": self.thresholds,
                "mqls": self.mqls,
                "expected_sqls": self.sqls,
                "expected_revenue_eur": self.revenue,
            }
        )


def threshold_curve(
    score: np.ndarray,
    probability: np.ndarray,
    eligible: np.ndarray | None = None,
    value_per_sql_eur: np.ndarray | float = 0.0,
) -> Curve:
    """What each whole-score threshold would hand sales: one sort, then cumulative sums.

    `eligible` marks leads no exclusion or fit rule stops (only they can become MQLs);
    `value_per_sql_eur` is the revenue an SQL brings on average (SQL -> customer rate x deal
    value), per lead or one figure, for the expected revenue.
    """
    score = np.asarray(score, dtype=np.float64)
    probability = np.asarray(probability, dtype=np.float64)
    if score.shape != probability.shape:
        raise ValueError("score and probability must have the same length")
    keep = np.ones(len(score), bool) if eligible is None else np.asarray(eligible, bool).copy()
    keep &= ~np.isnan(score) & ~np.isnan(probability)
    values = np.broadcast_to(np.asarray(value_per_sql_eur, dtype=np.float64), score.shape)
    order = np.argsort(-score[keep], kind="stable")
    p_desc = probability[keep][order]
    cum_p = np.concatenate([[0.0], np.cumsum(p_desc)])
    cum_v = np.concatenate([[0.0], np.cumsum((probability * values)[keep][order])])
    s_asc = np.sort(score[keep])
    thresholds = _candidates()
    mqls = len(s_asc) - np.searchsorted(s_asc, thresholds, side="left")
    return Curve(
        thresholds=thresholds,
        mqls=mqls,
        sqls=cum_p[mqls],
        revenue=cum_v[mqls],
        mean_probability=float(p_desc.mean()) if len(p_desc) else math.nan,
        eligible=len(s_asc),
    )


def _result(
    curve: Curve, i: int, sql_target: int, capacity: int, leads_per_rep: int | None
) -> ThresholdResult:
    """The figures at candidate `i`, with what is missing when it falls short."""
    meets = curve.sqls >= sql_target - SUM_TOLERANCE
    met = bool(meets[i] and curve.mqls[i] <= capacity)
    capacity_needed = reps_needed = extra_leads = None
    if not met:
        meets_any = np.flatnonzero(meets)
        if meets_any.size:
            capacity_needed = int(curve.mqls[meets_any[0]])
            if leads_per_rep:
                reps_needed = math.ceil(capacity_needed / leads_per_rep)
        elif curve.eligible and curve.mean_probability > 0:
            # More leads of this month's average quality; they need capacity too.
            short_all = sql_target - curve.sqls[-1]
            extra_leads = math.ceil(short_all / curve.mean_probability - SUM_TOLERANCE)
    return ThresholdResult(
        threshold=float(curve.thresholds[i]),
        expected_mqls=int(curve.mqls[i]),
        expected_sqls=float(curve.sqls[i]),
        expected_revenue_eur=float(curve.revenue[i]),
        sql_target=int(sql_target),
        capacity=int(capacity),
        met=met,
        sqls_short=max(0.0, float(sql_target - curve.sqls[i])),
        capacity_needed=capacity_needed,
        reps_needed=reps_needed,
        extra_leads_needed=extra_leads,
        leads_considered=curve.eligible,
    )


def _check(sql_target: int, capacity: int) -> None:
    if sql_target < 0 or capacity < 0:
        raise SLAError(f"SQL target ({sql_target}) and capacity ({capacity}) must not be negative")


def auto_threshold(
    score: np.ndarray,
    probability: np.ndarray,
    sql_target: int,
    capacity: int,
    eligible: np.ndarray | None = None,
    value_per_sql_eur: np.ndarray | float = 0.0,
    leads_per_rep: int | None = None,
) -> ThresholdResult:
    """Pick the threshold for one month of scored leads (see the module docstring)."""
    _check(sql_target, capacity)
    curve = threshold_curve(score, probability, eligible, value_per_sql_eur)
    return pick_threshold(curve, sql_target, capacity, leads_per_rep)


def pick_threshold(
    curve: Curve, sql_target: int, capacity: int, leads_per_rep: int | None = None
) -> ThresholdResult:
    meets = curve.sqls >= sql_target - SUM_TOLERANCE
    fits = curve.mqls <= capacity
    ok = np.flatnonzero(meets & fits)
    if ok.size:
        i = int(ok[0])  # candidates run strictest first
    else:
        # Fill capacity: the most MQLs that fit, at the highest threshold giving that many (the
        # marginal lead's score, so next month's leads in the gap below it do not overflow).
        within = np.flatnonzero(fits)
        i = int(np.argmax(curve.mqls == curve.mqls[within[-1]])) if within.size else 0
    return _result(curve, i, sql_target, capacity, leads_per_rep)


def fixed_threshold(
    curve: Curve,
    threshold: float,
    sql_target: int,
    capacity: int,
    leads_per_rep: int | None = None,
) -> ThresholdResult:
    """The same figures for an agreed fixed threshold (the nearest candidate at or above it)."""
    _check(sql_target, capacity)
    at_or_above = np.flatnonzero(curve.thresholds >= threshold - SUM_TOLERANCE)
    return _result(curve, int(at_or_above[-1]), sql_target, capacity, leads_per_rep)
