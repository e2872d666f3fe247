"""Baselines: points rank by points; logistic regression copes with what real tables contain."""

from __future__ import annotations

import numpy as np
import pandas as pd

from foundation.params import LogisticParams, PointsParams
from models.baselines import fit_logistic, points_calibrator, points_score
from models.metrics import roc_auc

POINTS = PointsParams(per_event={"demo_request": 25, "site_visit": 1, "unsubscribe": -10})


def test_points_score_is_the_weighted_sum_of_decayed_counts() -> None:
    features = pd.DataFrame(
        {
            "decayed_demo_request": [1.0, 0.0, 0.0, np.nan],
            "decayed_site_visit": [0.0, 5.0, 30.0, 2.0],
            "decayed_unsubscribe": [0.0, 0.0, 1.0, 0.0],
        }
    )
    np.testing.assert_allclose(points_score(features, POINTS), [25.0, 5.0, 20.0, 2.0])


def test_points_rank_by_points_and_missing_columns_count_zero() -> None:
    features = pd.DataFrame({"decayed_site_visit": [3.0, 1.0, 2.0]})  # no demo/unsubscribe cols
    score = points_score(features, POINTS)
    assert list(np.argsort(-score)) == [0, 2, 1]
    assert points_score(pd.DataFrame(index=range(2)), POINTS).tolist() == [0.0, 0.0]


def test_points_calibrator_keeps_the_ranking() -> None:
    score = np.arange(20.0)
    y = (score > 9).astype(int)
    proba = points_calibrator(score, y)(score)
    assert np.all(np.diff(proba) >= 0)
    assert roc_auc(y, proba) == roc_auc(y, score)


def synthetic(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    x[rng.random(n) < 0.1] = np.nan
    role = rng.choice(["cto", "marketing", None], size=n)
    logit = 1.5 * np.nan_to_num(x) + np.where(role == "cto", 1.0, 0.0)
    label = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return pd.DataFrame({"x": x, "role": pd.array(role, dtype="str"), "label": label})


def test_logistic_learns_and_handles_unknown_categories_and_missing() -> None:
    train, test = synthetic(1500, 0), synthetic(500, 1)
    model = fit_logistic(train, ["x"], ["role"], "label", LogisticParams())
    assert roc_auc(test["label"], model.predict_proba(test)[:, 1]) > 0.75
    new = pd.DataFrame({"x": [np.nan, 0.5], "role": ["astronaut", None]})
    assert np.isfinite(model.predict_proba(new)).all()
