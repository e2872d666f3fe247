"""The linear-time TreeSHAP gives LightGBM's `pred_contrib`, on the models that stress it.

Each model is trained here on synthetic data shaped to reach the awkward parts: categorical
splits (bitsets past one 32-bit word), `zero_as_missing` and NaN-as-missing defaults both ways,
features split again lower on the same path, deep trees (paths with many distinct features, so
large quadratures), a tree that is one leaf. Rows add NaNs, zeros, negative and unseen category
codes and values far outside every threshold.
"""

from __future__ import annotations

import os
import sys

import lightgbm as lgb
import numpy as np
import pytest

from models.linear_treeshap import linear_treeshap, tabulate

try:
    import models._linear_treeshap  # noqa: F401
except ImportError:  # a machine without a C compiler: reasons use pred_contrib there
    if os.environ.get("CI"):
        raise  # CI builds it (.ci/run): not built there is a failure, not a skip
    pytest.skip("the TreeSHAP extension is not built", allow_module_level=True)

N_FEATURES = 12
CATEGORICAL = (9, 10, 11)  # 9: 3 levels, 10: 40 levels (two bitset words), 11: 70 levels
LEVELS = {9: 3, 10: 40, 11: 70}


def training_data(n: int = 4000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, N_FEATURES))
    X[:, 3] = np.where(rng.uniform(size=n) < 0.3, 0.0, X[:, 3])  # zeros for zero_as_missing
    X[rng.uniform(size=X.shape) < 0.1] = np.nan
    for j, levels in LEVELS.items():
        X[:, j] = rng.integers(0, levels, size=n).astype(float)
    logit = (
        np.sin(3 * np.nan_to_num(X[:, 0]))
        + np.nan_to_num(X[:, 1]) * np.nan_to_num(X[:, 2])
        + (X[:, 10] % 7 == 0)
        - 0.5 * (X[:, 11] > 50)
        + np.where(np.isnan(X[:, 4]), 1.0, 0.0)
    )
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-logit))).astype(int)
    return X, y


def awkward_rows(n: int = 1500, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    X = rng.normal(0, 3, size=(n, N_FEATURES))
    X[rng.uniform(size=X.shape) < 0.25] = np.nan
    X[rng.uniform(size=X.shape) < 0.1] = 0.0
    X[rng.uniform(size=X.shape) < 0.05] = 1e300
    for j, levels in LEVELS.items():
        X[:, j] = rng.integers(-3, levels + 40, size=n).astype(float)
        # Fractional codes: LightGBM truncates toward zero, so -0.5 is category 0.
        fractional = rng.uniform(size=n) < 0.1
        X[fractional, j] += rng.choice([-0.5, 0.5, 0.25], size=fractional.sum())
        X[rng.uniform(size=n) < 0.15, j] = np.nan
    return X


def train(**params: object) -> lgb.Booster:
    X, y = training_data()
    base = {"objective": "binary", "verbosity": -1, "num_threads": 1, "seed": 7}
    data = lgb.Dataset(X, y, categorical_feature=list(CATEGORICAL), free_raw_data=False)
    return lgb.train({**base, **params}, data, num_boost_round=int(params.pop("rounds", 40)))


MODELS = {
    "default": {},
    "deep": {"num_leaves": 127, "min_data_in_leaf": 5, "max_cat_to_onehot": 2},
    "zero_as_missing": {"zero_as_missing": True, "num_leaves": 31},
    "no_missing": {"use_missing": False, "num_leaves": 15},
    "stumps": {"num_leaves": 2, "learning_rate": 0.5},
}


@pytest.fixture(scope="module", params=sorted(MODELS))
def booster(request: pytest.FixtureRequest) -> lgb.Booster:
    return train(**MODELS[request.param])


def test_contributions_match_lightgbm_pred_contrib(booster: lgb.Booster) -> None:
    explainer = linear_treeshap(booster)
    assert explainer is not None
    X = np.vstack([training_data(500, seed=5)[0], awkward_rows()])
    expected = booster.predict(X, pred_contrib=True, num_threads=1)
    np.testing.assert_allclose(explainer.contributions(X), expected, rtol=0, atol=1e-9)


def test_contributions_add_up_to_the_raw_score(booster: lgb.Booster) -> None:
    explainer = linear_treeshap(booster)
    assert explainer is not None
    X = awkward_rows(300, seed=4)
    raw = booster.predict(X, raw_score=True, num_threads=1)
    np.testing.assert_allclose(explainer.contributions(X).sum(axis=1), raw, rtol=0, atol=1e-9)


def test_one_row_at_a_time_equals_the_batch() -> None:
    explainer = linear_treeshap(train(**MODELS["deep"]))
    assert explainer is not None
    X = awkward_rows(50, seed=8)
    one_by_one = np.vstack([explainer.contributions(X[i : i + 1]) for i in range(len(X))])
    np.testing.assert_array_equal(one_by_one, explainer.contributions(X))


def test_deep_model_needs_large_quadratures_and_repeats_features_on_paths() -> None:
    """Guards the test set itself: the deep model must reach the cases it is there for."""
    tables = tabulate(train(**MODELS["deep"]).dump_model())
    assert max(tables.tree_points) >= 5
    assert any(p >= 0 for p in tables.prev)
    assert max(tables.cat_words) > 1  # a category set past one 32-bit word


def test_a_model_of_single_leaves_has_only_the_bias() -> None:
    booster = train(min_data_in_leaf=100_000, rounds=3)
    explainer = linear_treeshap(booster)
    assert explainer is not None
    X = awkward_rows(10)
    np.testing.assert_allclose(
        explainer.contributions(X), booster.predict(X, pred_contrib=True), rtol=0, atol=1e-12
    )


def test_rows_of_the_wrong_width_are_refused_with_the_shape() -> None:
    explainer = linear_treeshap(train())
    assert explainer is not None
    with pytest.raises(ValueError, match=r"12 features, got shape \(2, 11\)"):
        explainer.contributions(np.zeros((2, 11)))


def test_multiclass_models_are_left_to_pred_contrib() -> None:
    X, _ = training_data(600)
    y = np.arange(600) % 3
    booster = lgb.train(
        {"objective": "multiclass", "num_class": 3, "verbosity": -1}, lgb.Dataset(X, y), 5
    )
    assert linear_treeshap(booster) is None


def test_without_the_extension_none_is_returned(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "models._linear_treeshap", None)  # the import now fails
    assert linear_treeshap(train()) is None
