"""When a challenger may replace the champion: the rule the register stage applies."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class PromotionDecision:
    promote: bool
    reason: str
    challenger_auc: float
    challenger_ece: float
    champion_auc: float | None
    champion_version: str | None

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def decide_promotion(
    challenger_auc: float,
    challenger_ece: float,
    champion_auc: float | None,
    champion_version: str | None,
    auc_tolerance: float,
    max_ece: float,
    no_champion_note: str = "no champion yet",
) -> PromotionDecision:
    """Promote when calibrated well enough and not worse than the champion on the same test rows.

    Both AUCs must come from the same test snapshot; otherwise the comparison says nothing.
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
    if challenger_auc < champion_auc - auc_tolerance:
        return decision(
            False,
            f"AUC {challenger_auc:.4f} is worse than champion v{champion_version} "
            f"({champion_auc:.4f}) by more than the tolerance {auc_tolerance}",
        )
    return decision(
        True,
        f"AUC {challenger_auc:.4f} vs champion v{champion_version} {champion_auc:.4f} "
        f"(tolerance {auc_tolerance}), ECE {challenger_ece:.4f} <= {max_ece}",
    )
