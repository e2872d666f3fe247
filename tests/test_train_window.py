"""The training window chosen on validation (models/window.py, `train.window_snapshots`) and the
tie-free isotonic calibration (`train.calibration_strict`): small synthetic snapshots, real fits."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from features.build import FeatureSpec
from foundation.errors import InsufficientDataError
from foundation.params import LightGBMParams, Params, TrainParams
from models.calibration_curves import strict_isotonic
from models.metrics import roc_auc
from models.propensity import fit_calibrator, fit_propensity
from models.split import TimeSplit
from models.window import choose_window, latest_snapshots
from pipeline.train import fit_model

NUMERIC = ("signal", "noise")
LABEL = "label"
FAST = LightGBMParams(n_estimators=150, learning_rate=0.1, early_stopping_rounds=15)
SNAPSHOTS = pd.date_range("2020-01-01", periods=10, freq="QS", tz="UTC")
# The first six snapshots follow an old rule (more `signal`, less conversion); from the seventh
# the process has changed and the rule is reversed: a window of the latest snapshots learns it.
CHANGED_FROM = 6


def snapshot_rows(snapshot: pd.Timestamp, sign: float, n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    signal, noise = rng.normal(size=n), rng.normal(size=n)
    label = (rng.random(n) < 1 / (1 + np.exp(-(-1.0 + 1.5 * sign * signal)))).astype(int)
    return pd.DataFrame({"snapshot": snapshot, "signal": signal, "noise": noise, LABEL: label})


@pytest.fixture(scope="module")
def changed() -> TimeSplit:
    """Train: 8 snapshots (6 old rule, 2 new), valid: 1, test: 1 (both new rule)."""
    parts = [
        snapshot_rows(s, -1.0 if i < CHANGED_FROM else 1.0, 400, seed=i)
        for i, s in enumerate(SNAPSHOTS)
    ]
    return TimeSplit(train=pd.concat(parts[:8], ignore_index=True), valid=parts[8], test=parts[9])


def fit(train: pd.DataFrame, valid: pd.DataFrame, **overrides: object):
    params = TrainParams(lightgbm=FAST, **overrides)
    return fit_propensity(train, valid, NUMERIC, (), LABEL, params)


def raw(model, frame: pd.DataFrame) -> np.ndarray:
    return model.raw_score(frame[list(NUMERIC)])


def test_latest_snapshots_keeps_the_last_n_and_zero_keeps_all(changed) -> None:
    train = changed.train
    kept = latest_snapshots(train, 2)
    assert sorted(kept["snapshot"].unique()) == list(SNAPSHOTS[6:8])
    assert len(latest_snapshots(train, 0)) == len(train)
    assert len(latest_snapshots(train, 50)) == len(train)


def test_a_changed_process_is_learned_from_the_window_after_the_change(changed) -> None:
    choice = choose_window(changed.train, changed.valid, (0, 2, 4), fit, raw)
    assert choice.window == 2
    assert set(choice.valid_auc) == {0, 2, 4}
    assert choice.valid_auc[2] > choice.valid_auc[0]
    assert choice.info["window_rows"] == 800
    everything, _ = fit(changed.train, changed.valid)
    y = changed.test[LABEL].to_numpy()
    assert roc_auc(y, raw(choice.model, changed.test)) > roc_auc(y, raw(everything, changed.test))


def test_a_window_with_one_class_is_skipped_and_named(changed) -> None:
    train = changed.train.copy()
    latest = train["snapshot"] == SNAPSHOTS[7]
    train.loc[latest, LABEL] = 0  # the latest snapshot alone has no positive
    choice = choose_window(train, changed.valid, (1, 0), fit, raw)
    assert choice.window == 0
    assert "single class" in choice.info["window_skipped"][1]
    with pytest.raises(InsufficientDataError, match="single class"):
        choose_window(train, changed.valid, (1,), fit, raw)


def test_the_train_stage_never_lets_the_test_rows_choose(changed) -> None:
    params = Params(train=TrainParams(lightgbm=FAST, window_snapshots=(0, 2, 4)))
    spec = FeatureSpec(numeric=NUMERIC, categorical=())
    flipped = changed.test.assign(**{LABEL: 1 - changed.test[LABEL]})
    a, info_a = fit_model(changed, spec, params, {})
    b, info_b = fit_model(TimeSplit(changed.train, changed.valid, flipped), spec, params, {})
    assert info_a["window_snapshots"] == info_b["window_snapshots"] == 2
    assert np.array_equal(a.predict_proba(changed.test), b.predict_proba(changed.test))


def test_no_windows_is_the_one_fit_on_every_training_snapshot(changed) -> None:
    params = Params(train=TrainParams(lightgbm=FAST))
    spec = FeatureSpec(numeric=NUMERIC, categorical=())
    model, info = fit_model(changed, spec, params, {})
    alone, _ = fit(changed.train, changed.valid)
    assert "window_snapshots" not in info
    assert np.array_equal(model.predict_proba(changed.test), alone.predict_proba(changed.test))


@pytest.mark.parametrize("windows", [(-1,), (4, 4)])
def test_bad_training_windows_are_refused(windows: tuple[int, ...]) -> None:
    with pytest.raises(ValidationError, match="window"):
        TrainParams(window_snapshots=windows)


def scores_and_labels(n: int = 3000) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    raw_scores = rng.normal(size=n)
    y = (rng.random(n) < 1 / (1 + np.exp(-(-2.0 + raw_scores)))).astype(int)
    return raw_scores, y


def test_strict_isotonic_keeps_the_order_sklearns_steps_tie() -> None:
    raw_scores, y = scores_and_labels()
    fit_rows, held = slice(0, 2000), slice(2000, None)
    steps = fit_calibrator(raw_scores[fit_rows], y[fit_rows], "isotonic")
    strict = fit_calibrator(raw_scores[fit_rows], y[fit_rows], "isotonic", strict=True)
    assert np.all(np.diff(strict.values) > 0) and np.all(np.diff(strict.thresholds) > 0)
    new = raw_scores[held]
    assert len(np.unique(steps(new))) < 100  # a staircase: many leads share a step
    inside = (new > strict.thresholds[0]) & (new < strict.thresholds[-1])
    assert len(np.unique(strict(new[inside]))) == inside.sum()  # no two tied
    # On rows it was not fitted on, the strict map ranks as the raw scores do (bar the flat
    # ends), and better than the staircase.
    y_new = y[held]
    assert roc_auc(y_new, strict(new)) > roc_auc(y_new, steps(new))
    assert roc_auc(y_new, strict(new)) == pytest.approx(roc_auc(y_new, new), abs=0.003)


def test_strict_isotonic_puts_each_step_level_at_its_centre() -> None:
    x = np.array([0.0, 1.0, 2.0, 4.0, 5.0])
    v = np.array([0.1, 0.1, 0.3, 0.3, 0.6])
    centres, levels = strict_isotonic(x, v)
    assert centres.tolist() == [0.5, 3.0, 5.0]
    assert levels.tolist() == [0.1, 0.3, 0.6]


def test_calibration_strict_reaches_the_fitted_model() -> None:
    parts = [snapshot_rows(s, 1.0, 600, seed=20 + i) for i, s in enumerate(SNAPSHOTS[:2])]
    model, _ = fit(*parts, calibration="isotonic", calibration_strict=True)
    rows = parts[1][list(NUMERIC)]
    p, raw_scores = model.predict_proba(rows), model.raw_score(rows)
    inside = (raw_scores > model.calibrator.thresholds[0]) & (
        raw_scores < model.calibrator.thresholds[-1]
    )
    assert len(np.unique(p[inside])) == len(np.unique(raw_scores[inside])) > 100
