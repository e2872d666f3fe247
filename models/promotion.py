"""When a challenger may replace the champion: the rule the register stage applies."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace


@dataclass(frozen=True)
class Stability:
    """How differently the challenger would treat today's open leads than the champion does."""

    score_psi: float  # challenger's scores against the champion's, on the same leads
    champion_mqls: int | None  # MQLs at the threshold in force (None: no threshold known yet)
    challenger_mqls: int | None
    mql_change: float | None  # challenger / champion - 1
    threshold: float | None
    open_leads: int


def shift_problems(
    stability: Stability, max_score_psi: float, max_mql_volume_change: float
) -> list[str]:
    """What moves beyond the limits, in words; empty when the challenger is a quiet swap."""
    problems = []
    if stability.score_psi > max_score_psi:
        problems.append(
            f"scores on {stability.open_leads:,} open leads shift from the champion's by PSI "
            f"{stability.score_psi:.3f} (limit {max_score_psi})"
        )
    change = stability.mql_change
    if change is not None and abs(change) > max_mql_volume_change:
        size = "more" if change > 0 else "fewer"
        pct = "all new" if math.isinf(change) else f"{abs(change):.0%} {size}"
        problems.append(
            f"MQLs at threshold {stability.threshold:g} go from {stability.champion_mqls} to "
            f"{stability.challenger_mqls} ({pct}; limit {max_mql_volume_change:.0%})"
        )
    return problems


def gate_on_stability(
    decision: PromotionDecision,
    stability: Stability | None,
    max_score_psi: float,
    max_mql_volume_change: float,
    accept_shift: str | None,
) -> PromotionDecision:
    """Hold back a challenger that would change what sales receives overnight, unless a person
    accepted the shift with a reason. Only a promotion the metrics allowed can be held back:
    stability never promotes a worse model, and drift of the population alone never blocks."""
    if not decision.promote or stability is None:
        return decision
    problems = shift_problems(stability, max_score_psi, max_mql_volume_change)
    if not problems:
        return decision
    if accept_shift:
        return replace(
            decision,
            reason=f"{decision.reason}; shift accepted ({accept_shift}): {'; '.join(problems)}",
            accepted_shift=accept_shift,
        )
    return replace(
        decision,
        promote=False,
        reason=(
            f"{'; '.join(problems)}: promote with `leadscore register --accept-shift "
            f'"reason"` once both teams expect it (metrics alone: {decision.reason})'
        ),
    )


@dataclass(frozen=True)
class PromotionDecision:
    promote: bool
    reason: str
    challenger_auc: float
    challenger_ece: float
    champion_auc: float | None
    champion_version: str | None
    accepted_shift: str | None = None

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def decide_promotion(
    challenger_auc: float,
    challenger_ece: float,
    champion_auc: float | None,
    champion_version: str | None,
    max_ece: float,
    no_champion_note: str = "no champion yet",
) -> PromotionDecision:
    """Promote when calibrated well enough; the AUC comparison with the champion (and the best
    recent version) is the noise gate's (models/promotion_noise.py `gate_on_noise`), on the same
    test rows, so no fixed tolerance lets the AUC slide a little every month.

    With no comparable champion (the first model, or one that cannot score today's features)
    the challenger is promoted so the service has something to serve; a calibration error
    above the limit is still named in its reason.
    """

    def decision(promote: bool, reason: str) -> PromotionDecision:
        return PromotionDecision(
            promote, reason, challenger_auc, challenger_ece, champion_auc, champion_version
        )

    if champion_auc is None:
        note = (
            "" if challenger_ece <= max_ece else f" (warning: ECE {challenger_ece:.4f} > {max_ece})"
        )
        return decision(True, f"no comparable champion ({no_champion_note}){note}")
    if challenger_ece > max_ece:
        return decision(
            False, f"calibration error {challenger_ece:.4f} is above the limit {max_ece}"
        )
    return decision(True, f"ECE {challenger_ece:.4f} <= {max_ece}")
