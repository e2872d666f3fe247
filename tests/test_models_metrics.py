"""Metrics pinned on tiny examples one can check by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from models import metrics as m


def test_auc_of_perfect_reversed_and_tied_ranking() -> None:
    y = np.array([0, 0, 1, 1])
    assert m.roc_auc(y, [0.1, 0.2, 0.8, 0.9]) == 1.0
    assert m.roc_auc(y, [0.9, 0.8, 0.2, 0.1]) == 0.0
    assert m.roc_auc(y, [0.5, 0.5, 0.5, 0.5]) == 0.5
    assert m.roc_auc(y, [0.1, 0.4, 0.35, 0.8]) == 0.75  # one of four pairs misordered


def test_pr_auc_perfect_and_by_hand() -> None:
    assert m.pr_auc([0, 1, 1], [0.1, 0.8, 0.9]) == 1.0
    # ranking: 1, 0, 1 -> precision at each positive: 1/1, 2/3 -> mean 5/6
    assert m.pr_auc([1, 0, 1], [0.9, 0.8, 0.7]) == pytest.approx(5 / 6)


def test_log_loss_and_brier_by_hand() -> None:
    assert m.log_loss([0, 1], [0.5, 0.5]) == pytest.approx(math.log(2))
    assert m.brier([0, 1], [0.2, 0.6]) == pytest.approx((0.04 + 0.16) / 2)


def test_ece_zero_when_every_bin_is_calibrated() -> None:
    p = np.array([0.2] * 10 + [0.8] * 10)
    y = np.array([1] * 2 + [0] * 8 + [1] * 8 + [0] * 2)
    assert m.expected_calibration_error(y, p, n_bins=2) == pytest.approx(0.0)
    assert m.expected_calibration_error(y, p, n_bins=10, strategy="uniform") == pytest.approx(0.0)


def test_ece_by_hand() -> None:
    # one bin: predicted 0.5, observed 0.3 -> 0.2
    y = np.array([1] * 3 + [0] * 7)
    assert m.expected_calibration_error(y, np.full(10, 0.5), n_bins=1) == pytest.approx(0.2)
    # two equal-count bins: |0.1 - 0.4| and |0.9 - 0.6|, weights 1/2 -> 0.3
    p = np.array([0.1] * 5 + [0.9] * 5)
    y = np.array([1, 1, 0, 0, 0, 1, 1, 1, 0, 0])
    assert m.expected_calibration_error(y, p, n_bins=2) == pytest.approx(0.3)


def test_reliability_bins_equal_count() -> None:
    p = np.linspace(0, 1, 100)
    y = (p > 0.5).astype(int)
    bins = m.reliability_bins(y, p, n_bins=4)
    assert bins["count"].tolist() == [25, 25, 25, 25]
    assert bins["observed_rate"].tolist() == [0.0, 0.0, 1.0, 1.0]


def test_lift_and_capture_in_top_decile() -> None:
    # 100 leads, 10 positives; the top 10 by score hold 5 of them.
    y = np.zeros(100, dtype=int)
    y[:5] = 1  # in the top decile
    y[50:55] = 1  # elsewhere
    p = np.linspace(1, 0, 100)
    assert m.lift_at(y, p) == pytest.approx(5.0)  # 50% in top vs 10% overall
    assert m.capture_rate_at(y, p) == pytest.approx(0.5)


def test_precision_and_recall_at_threshold() -> None:
    y = np.array([1, 0, 1, 0, 1])
    p = np.array([0.9, 0.8, 0.7, 0.2, 0.1])
    assert m.precision_at(y, p, 0.5) == pytest.approx(2 / 3)
    assert m.recall_at(y, p, 0.5) == pytest.approx(2 / 3)
    assert math.isnan(m.precision_at(y, p, 0.95))


def test_single_class_gives_nan_for_ranking_metrics_only() -> None:
    y, p = np.zeros(5, dtype=int), np.linspace(0.1, 0.5, 5)
    assert math.isnan(m.roc_auc(y, p))
    assert math.isnan(m.pr_auc(y, p))
    assert math.isnan(m.lift_at(y, p))
    assert math.isnan(m.recall_at(y, p, 0.3))
    assert math.isfinite(m.log_loss(y, p)) and math.isfinite(m.brier(y, p))
    assert m.roc_points(y, p).empty
    assert math.isnan(m.summary(y, p)["auc"])


def test_bad_input_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="no rows"):
        m.roc_auc([], [])
    with pytest.raises(ValueError, match="differ in length"):
        m.brier([0, 1], [0.5])
    with pytest.raises(ValueError, match="0/1"):
        m.brier([0, 2], [0.5, 0.5])


def test_ceiling_auc_uses_truth_probability() -> None:
    assert m.ceiling_auc([0, 1, 0, 1], [0.1, 0.9, 0.2, 0.7]) == 1.0


def test_curve_tables_are_small_and_well_formed() -> None:
    rng = np.random.default_rng(0)
    p = rng.random(5000)
    y = (rng.random(5000) < p).astype(int)
    roc = m.roc_points(y, p)
    assert len(roc) <= m.MAX_CURVE_POINTS
    assert (roc.iloc[0][["fpr", "tpr"]] == 0).all() and (roc.iloc[-1][["fpr", "tpr"]] == 1).all()
    pr = m.pr_points(y, p)
    assert len(pr) <= m.MAX_CURVE_POINTS and list(pr.columns) == [
        "recall",
        "precision",
        "threshold",
    ]
    gains = m.cumulative_gains(y, p, n_points=10)
    assert len(gains) == 11
    assert gains["fraction_captured"].iloc[0] == 0 and gains["fraction_captured"].iloc[-1] == 1
    assert gains["fraction_captured"].is_monotonic_increasing
    assert gains["lift"].iloc[-1] == pytest.approx(1.0)


def test_summary_keys() -> None:
    out = m.summary([0, 1, 0, 1], [0.2, 0.7, 0.4, 0.9], threshold=0.5)
    assert {"auc", "pr_auc", "log_loss", "brier", "ece", "lift_top_decile"} <= out.keys()
    assert out["precision_at_threshold"] == 1.0 and out["recall_at_threshold"] == 1.0


def test_ece_noise_floor_holds_a_calibrated_model_and_not_a_miscalibrated_one():
    rng = np.random.default_rng(3)
    p = rng.beta(1, 12, 2000)
    floor = m.ece_noise_floor(p, n_bins=10, draws=100)
    y = (rng.random(len(p)) < p).astype(int)
    assert m.expected_calibration_error(y, p, 10) <= floor["q90"] * 1.5
    assert m.expected_calibration_error(y, np.minimum(p * 2.5, 1), 10) > 3 * floor["q90"]
