"""The promotion gate's stability check: a challenger that would change overnight what sales
receives needs a person to accept the shift, with a reason; drift alone never blocks."""

from __future__ import annotations

from models.promotion import Stability, decide_promotion, gate_on_stability

LIMITS = {"max_score_psi": 0.25, "max_mql_volume_change": 0.5}


def metrics_ok():
    return decide_promotion(0.86, 0.01, 0.85, "3", max_ece=0.03)


def test_a_quiet_challenger_is_promoted_on_its_metrics() -> None:
    quiet = Stability(0.02, 100, 110, 0.1, 40.0, 3000)
    decision = gate_on_stability(metrics_ok(), quiet, **LIMITS, accept_shift=None)
    assert decision.promote and decision.accepted_shift is None


def test_doubling_the_mql_volume_is_refused_with_that_reason() -> None:
    doubled = Stability(0.05, 100, 200, 1.0, 40.0, 3000)
    decision = gate_on_stability(metrics_ok(), doubled, **LIMITS, accept_shift=None)
    assert not decision.promote
    assert "MQLs at threshold 40 go from 100 to 200 (100% more" in decision.reason
    assert "--accept-shift" in decision.reason


def test_an_accepted_shift_promotes_and_carries_the_reason() -> None:
    doubled = Stability(0.4, 100, 200, 1.0, 40.0, 3000)
    decision = gate_on_stability(
        metrics_ok(), doubled, **LIMITS, accept_shift="new paid campaign, sales staffed up"
    )
    assert decision.promote
    assert decision.accepted_shift == "new paid campaign, sales staffed up"
    assert "shift accepted (new paid campaign, sales staffed up)" in decision.reason
    assert "PSI 0.400" in decision.reason


def test_stability_never_promotes_a_challenger_the_metrics_refused() -> None:
    worse = decide_promotion(0.90, 0.08, 0.85, "3", max_ece=0.03)  # badly calibrated
    quiet = Stability(0.0, 100, 100, 0.0, 40.0, 3000)
    assert not gate_on_stability(worse, quiet, **LIMITS, accept_shift="anything").promote


def test_without_a_known_threshold_only_the_score_shift_counts() -> None:
    unknown = Stability(0.05, None, None, None, None, 3000)
    assert gate_on_stability(metrics_ok(), unknown, **LIMITS, accept_shift=None).promote
