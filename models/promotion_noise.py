"""Is the challenger worse than another version beyond noise? A paired bootstrap of the AUC
difference on the same test rows, the rule behind "no downward ratchet" in promotion.

A fixed tolerance ("promote if at most 0.005 below the champion") lets AUC slide a little every
month, each step forgiven. Here a challenger is refused when the whole interval of its AUC minus
the other version's lies below zero: the drop is larger than resampling the test rows explains.
It is compared with the champion and with the best version registered in the last N months, so a
run of small forgiven drops cannot add up either.

Paired: each bootstrap round resamples rows once and scores both models on that same resample,
so the interval is of the difference itself (the two AUCs are strongly correlated; two separate
intervals would be far too wide). AUC per round is computed from counts per distinct score
(Mann-Whitney with ties as half), O(rows) per round, no sort inside the loop.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from models.promotion import PromotionDecision


@dataclass(frozen=True)
class AucDifference:
    """Challenger AUC minus another version's, on the same rows, with its bootstrap interval."""

    against: str  # in words: "champion v3", "v2, the best of the last 6 months"
    reference_auc: float
    challenger_auc: float
    difference: float
    low: float
    high: float
    level: float

    @property
    def worse_beyond_noise(self) -> bool:
        return self.high < 0

    def words(self) -> str:
        return (
            f"AUC {self.challenger_auc:.4f} vs {self.against} {self.reference_auc:.4f}: "
            f"difference {self.difference:+.4f}, {self.level:.0%} interval "
            f"[{self.low:+.4f}, {self.high:+.4f}]"
        )


def _groups(score: np.ndarray) -> tuple[np.ndarray, int]:
    _, inverse = np.unique(score, return_inverse=True)
    return inverse, int(inverse.max()) + 1


def _auc(group: np.ndarray, k: int, positive: np.ndarray, weight: np.ndarray) -> float:
    """AUC with row weights (bootstrap multiplicities): P(positive scores above negative),
    ties counted half."""
    pos = np.bincount(group, weights=weight * positive, minlength=k)
    neg = np.bincount(group, weights=weight * (1 - positive), minlength=k)
    below = np.cumsum(neg) - neg
    n_pos, n_neg = pos.sum(), neg.sum()
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    return float((pos * (below + 0.5 * neg)).sum() / (n_pos * n_neg))


def auc_difference(
    label: np.ndarray,
    challenger: np.ndarray,
    reference: np.ndarray,
    against: str,
    rounds: int,
    level: float,
    seed: int,
) -> AucDifference:
    """The challenger's AUC minus `reference`'s on the same rows, with the equal-tailed `level`
    paired-bootstrap interval over `rounds` resamples (seeded: the same inputs, the same
    interval)."""
    y = np.asarray(label, dtype=np.float64)
    if len(y) != len(challenger) or len(y) != len(reference):
        raise ValueError("label and both score arrays must cover the same test rows")
    g_c, k_c = _groups(np.asarray(challenger, dtype=np.float64))
    g_r, k_r = _groups(np.asarray(reference, dtype=np.float64))
    ones = np.ones_like(y)
    auc_c, auc_r = _auc(g_c, k_c, y, ones), _auc(g_r, k_r, y, ones)
    rng = np.random.default_rng(seed)
    n = len(y)
    diffs = np.empty(rounds)
    for i in range(rounds):
        weight = np.bincount(rng.integers(0, n, n), minlength=n).astype(np.float64)
        diffs[i] = _auc(g_c, k_c, y, weight) - _auc(g_r, k_r, y, weight)
    diffs = diffs[np.isfinite(diffs)]
    tail = (1 - level) / 2
    low, high = np.quantile(diffs, [tail, 1 - tail]) if len(diffs) else (np.nan, np.nan)
    return AucDifference(
        against, auc_r, auc_c, auc_c - auc_r, float(low), float(high), float(level)
    )


def gate_on_noise(
    decision: PromotionDecision, differences: list[AucDifference]
) -> PromotionDecision:
    """Refuse a promotion when the challenger is worse than any compared version beyond noise;
    otherwise keep the decision and say how it compared. Never promotes what was refused."""
    if not decision.promote or not differences:
        return decision
    worse = [d for d in differences if d.worse_beyond_noise]
    if worse:
        return replace(
            decision,
            promote=False,
            reason="; ".join(f"{d.words()} lies below 0: worse beyond noise" for d in worse),
        )
    said = "; ".join(f"{d.words()}: within noise or better" for d in differences)
    return replace(decision, reason=f"{decision.reason}; {said}")
