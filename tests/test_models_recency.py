"""Calibration under a moving base rate (models/recency.py) and the early-stopping metric."""

from __future__ import annotations

import numpy as np
import pandas as pd

from foundation.params import TrainParams
from models.propensity import configured_calibrator, fit_propensity
from models.recency import recency_weights


def validation(rates: tuple[float, ...], rows: int = 4000, seed: int = 0) -> pd.DataFrame:
    """Validation snapshots, one per rate, whose scores rank alike but whose base rate moves."""
    rng = np.random.default_rng(seed)
    parts = []
    for i, rate in enumerate(rates):
        raw = rng.normal(0, 1, rows)
        p = 1 / (1 + np.exp(-(np.log(rate / (1 - rate)) + raw)))
        parts.append(
            pd.DataFrame(
                {
                    "snapshot": pd.Timestamp("2025-01-01", tz="UTC") + pd.DateOffset(months=3 * i),
                    "raw": raw,
                    "label": rng.random(rows) < p,
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


def test_recency_weights_halve_per_snapshot_of_age():
    valid = validation((0.05, 0.05, 0.2), rows=3)
    weights = recency_weights(valid, half_life_snapshots=1.0)
    assert weights.tolist() == [0.25] * 3 + [0.5] * 3 + [1.0] * 3
    assert recency_weights(valid, None) is None
    assert recency_weights(valid[valid["snapshot"] == valid["snapshot"].max()], 1.0) is None


def test_calibration_weighting_the_latest_snapshot_follows_its_base_rate():
    valid = validation((0.04, 0.04, 0.04, 0.15))
    latest = (valid["snapshot"] == valid["snapshot"].max()).to_numpy()
    raw, y = valid["raw"].to_numpy(), valid["label"].to_numpy().astype(int)
    params = TrainParams(calibration="sigmoid")
    equal, _ = configured_calibrator(raw, y, params)
    recent, _ = configured_calibrator(raw, y, params, recency_weights(valid, 0.5))
    observed = y[latest].mean()
    recent_gap = abs(recent(raw[latest]).mean() - observed)
    assert recent_gap < abs(equal(raw[latest]).mean() - observed) / 2


def test_the_early_stopping_metric_reaches_lightgbm():
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"x": rng.normal(size=3000)})
    frame["label"] = (rng.random(3000) < 1 / (1 + np.exp(-2 * frame["x"]))).astype(int)
    train, valid = frame.iloc[:2000], frame.iloc[2000:]
    for metric in ("binary_logloss", "auc"):
        params = TrainParams.model_validate(
            {"lightgbm": {"n_estimators": 30, "early_stopping_metric": metric}}
        )
        model, _ = fit_propensity(train, valid, ["x"], [], "label", params)
        assert model.booster.params["metric"] == [metric]
