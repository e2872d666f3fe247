"""No downward ratchet: a challenger 0.005 AUC below the champion is refused when that drop is
outside the noise of the test rows (paired bootstrap of the AUC difference), promoted when it is
inside; and it is held to the best recent version too, not only to the champion."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_auc_score

from models.promotion import decide_promotion
from models.promotion_noise import auc_difference, gate_on_noise

ROUNDS, LEVEL, SEED = 1000, 0.95, 42


def scores_about_0005_worse(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels, champion scores, and challenger scores whose AUC is about 0.005 lower: the
    champion's score with a little noise added (so the two are strongly paired, as two
    versions of one model are)."""
    rng = np.random.default_rng(seed)
    label = (rng.random(n) < 0.15).astype(int)
    champion = rng.normal(size=n) + 1.4 * label
    noise = np.random.default_rng(seed + 1).normal(size=n)
    base = roc_auc_score(label, champion)
    low, high = 0.0, 2.0  # bisect the noise scale that costs 0.0055 AUC here
    for _ in range(25):
        scale = (low + high) / 2
        drop = base - roc_auc_score(label, champion + scale * noise)
        low, high = (scale, high) if drop < 0.0055 else (low, scale)
    return label, champion, champion + high * noise


def promoted(label: np.ndarray, champion: np.ndarray, challenger: np.ndarray) -> tuple[bool, str]:
    metrics = decide_promotion(
        roc_auc_score(label, challenger), 0.01, roc_auc_score(label, champion), "1", max_ece=0.03
    )
    difference = auc_difference(label, challenger, champion, "champion v1", ROUNDS, LEVEL, SEED)
    decision = gate_on_noise(metrics, [difference])
    return decision.promote, decision.reason


def test_a_challenger_0005_worse_beyond_noise_is_not_promoted() -> None:
    label, champion, challenger = scores_about_0005_worse(40_000, seed=1)
    drop = roc_auc_score(label, champion) - roc_auc_score(label, challenger)
    assert 0.005 <= drop < 0.006
    promote, reason = promoted(label, champion, challenger)
    assert not promote
    assert "worse beyond noise" in reason and "champion v1" in reason


def test_a_challenger_0005_worse_within_noise_is_promoted() -> None:
    label, champion, challenger = scores_about_0005_worse(600, seed=2)
    drop = roc_auc_score(label, champion) - roc_auc_score(label, challenger)
    assert 0.005 <= drop < 0.006
    promote, reason = promoted(label, champion, challenger)
    assert promote
    assert "within noise" in reason


def test_a_challenger_level_with_the_champion_but_below_the_best_recent_version_is_refused() -> (
    None
):
    # Month after month of forgiven small drops: the champion already slid; the best version of
    # the last months is the bar as well.
    label, best, slid = scores_about_0005_worse(40_000, seed=3)
    metrics = decide_promotion(
        roc_auc_score(label, slid), 0.01, roc_auc_score(label, slid), "4", max_ece=0.03
    )
    against_champion = auc_difference(label, slid, slid, "champion v4", ROUNDS, LEVEL, SEED)
    against_best = auc_difference(label, slid, best, "v2, the best", ROUNDS, LEVEL, SEED)
    assert not against_champion.worse_beyond_noise
    decision = gate_on_noise(metrics, [against_champion, against_best])
    assert not decision.promote and "v2, the best" in decision.reason


def test_the_auc_difference_is_the_one_sklearn_computes_and_its_interval_holds_it() -> None:
    rng = np.random.default_rng(7)
    label = (rng.random(2000) < 0.2).astype(int)
    a = np.round(rng.normal(size=2000) + label, 1)  # ties, as calibrated scores have
    b = np.round(a + rng.normal(scale=0.5, size=2000), 1)
    d = auc_difference(label, b, a, "x", 500, 0.9, 0)
    expected = roc_auc_score(label, b) - roc_auc_score(label, a)
    assert abs(d.difference - expected) < 1e-12
    assert d.low <= d.difference <= d.high
