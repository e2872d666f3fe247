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


def auto_threshold(
    score: np.ndarray,
    probability: np.ndarray,
    sql_target: int,
    capacity: int,
    eligible: np.ndarray | None = None,
    value_per_sql_eur: np.ndarray | float = 0.0,
    leads_per_rep: int | None = None,
) -> ThresholdResult:
    """Pick the threshold for one month of scored leads.

    `eligible` marks leads no exclusion or fit rule stops (only they can become MQLs);
    `value_per_sql_eur` is the revenue an SQL brings on average (SQL -> customer rate x deal value),
    per lead or one figure, for the expected revenue.
    """
    score = np.asarray(score, dtype=np.float64)
    probability = np.asarray(probability, dtype=np.float64)
    if score.shape != probability.shape:
        raise ValueError("score and probability must have the same length")
    if sql_target < 0 or capacity < 0:
        raise SLAError(f"SQL target ({sql_target}) and capacity ({capacity}) must not be negative")
    keep = np.ones(len(score), bool) if eligible is None else np.asarray(eligible, bool)
    keep &= ~np.isnan(score) & ~np.isnan(probability)
    values = np.broadcast_to(np.asarray(value_per_sql_eur, dtype=np.float64), score.shape)
    order = np.argsort(-score[keep], kind="stable")
    s_desc = score[keep][order]
    cum_p = np.concatenate([[0.0], np.cumsum(probability[keep][order])])
    cum_v = np.concatenate([[0.0], np.cumsum((probability * values)[keep][order])])
    s_asc = s_desc[::-1]
    thresholds = _candidates()
    mqls = len(s_asc) - np.searchsorted(s_asc, thresholds, side="left")
    sqls = cum_p[mqls]
    meets = sqls >= sql_target - SUM_TOLERANCE
    fits = mqls <= capacity

    ok = np.flatnonzero(meets & fits)
    if ok.size:
        i = int(ok[0])  # candidates run strictest first
    else:
        # Fill capacity: the most MQLs that fit, at the highest threshold giving that many (the
        # marginal lead's score, so next month's leads in the gap below it do not overflow).
        within = np.flatnonzero(fits)
        i = int(np.argmax(mqls == mqls[within[-1]])) if within.size else 0
    met = bool(ok.size)

    capacity_needed = reps_needed = extra_leads = None
    if not met:
        meets_any = np.flatnonzero(meets)
        if meets_any.size:
            capacity_needed = int(mqls[meets_any[0]])
            if leads_per_rep:
                reps_needed = math.ceil(capacity_needed / leads_per_rep)
        elif len(s_asc):
            mean_p = cum_p[-1] / len(s_asc)
            extra_leads = (
                math.ceil((sql_target - cum_p[-1]) / mean_p - SUM_TOLERANCE) if mean_p else None
            )
    return ThresholdResult(
        threshold=float(thresholds[i]),
        expected_mqls=int(mqls[i]),
        expected_sqls=float(sqls[i]),
        expected_revenue_eur=float(cum_v[mqls[i]]),
        sql_target=int(sql_target),
        capacity=int(capacity),
        met=met,
        sqls_short=max(0.0, float(sql_target - sqls[i])),
        capacity_needed=capacity_needed,
        reps_needed=reps_needed,
        extra_leads_needed=extra_leads,
        leads_considered=len(s_asc),
    )
