"""Population stability: PSI against frozen reference bins, and its edge cases."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from models.drift import (
    MISSING,
    OTHER,
    DriftThresholds,
    cell_drift,
    column_drift,
    population_drift,
    profile_column,
    psi,
    reference_profile,
    score_shift,
    volume_change,
)

LIMITS = DriftThresholds(warn=0.1, alert=0.25, epsilon=1e-4)


def frame(n: int, seed: int, paid_share: float = 0.2) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "visits_30d": rng.poisson(3, n).astype(float),
            "fit_score": rng.uniform(0, 1, n),
            "channel": rng.choice(
                ["paid_search", "organic_search", "email"],
                n,
                p=[paid_share, (1 - paid_share) / 2, (1 - paid_share) / 2],
            ),
            "persona": rng.choice(["ops", "it"], n),
        }
    )


def profile_of(df: pd.DataFrame, scores: np.ndarray) -> dict:
    return reference_profile(df, ["visits_30d", "fit_score"], ["channel", "persona"], scores)


def test_same_population_has_psi_near_zero_and_no_warning() -> None:
    ref, cur = frame(5000, 1), frame(5000, 2)
    scores_ref, scores_cur = ref["fit_score"].to_numpy(), cur["fit_score"].to_numpy()
    result = population_drift(profile_of(ref, scores_ref), cur, scores_cur, LIMITS)
    assert result["score"]["psi"] < 0.02
    assert result["warnings"] == []


def test_a_changed_channel_mix_is_named_with_the_bin_that_grew() -> None:
    ref, cur = frame(5000, 1, paid_share=0.1), frame(5000, 2, paid_share=0.7)
    result = population_drift(
        profile_of(ref, ref["fit_score"].to_numpy()), cur, cur["fit_score"].to_numpy(), LIMITS
    )
    worst = result["features"][0]
    assert worst["feature"] == "channel"
    assert worst["psi"] >= 0.25 and worst["level"] == "alert"
    assert worst["moved"][0]["bin"] == "paid_search"
    assert worst["moved"][0]["current_share"] > worst["moved"][0]["reference_share"]
    assert [w["feature"] for w in result["warnings"]] == ["channel"]


def test_empty_bins_are_floored_not_infinite() -> None:
    value = psi([0.5, 0.5, 0.0], [0.0, 0.5, 0.5], epsilon=1e-4)
    assert math.isfinite(value) and value > 1
    assert psi([0.2, 0.8], [0.2, 0.8]) == 0.0


def test_all_missing_feature_profiles_to_one_missing_bin_and_compares_cleanly() -> None:
    ref = pd.Series([np.nan] * 100)
    column = profile_column(ref, "numeric", 10, 10)
    assert column["edges"] == [] and column["shares"][-1] == 1.0
    same = column_drift("x", column, pd.Series([np.nan] * 50), LIMITS)
    assert same["psi"] == 0.0
    filled = column_drift("x", column, pd.Series(np.arange(50.0)), LIMITS)
    assert filled["level"] == "alert"  # a feature that suddenly has values has moved


def test_new_categories_count_as_other() -> None:
    column = profile_column(pd.Series(["a"] * 60 + ["b"] * 40), "categorical", 10, 10)
    assert column["labels"] == ["a", "b", OTHER, MISSING]
    result = column_drift("c", column, pd.Series(["a"] * 30 + ["brand_new"] * 70), LIMITS)
    assert result["moved"][0]["bin"] == OTHER
    assert result["level"] == "alert"


def test_no_current_rows_is_never_an_alarm() -> None:
    column = profile_column(pd.Series([1.0, 2.0, 3.0]), "numeric", 10, 10)
    assert column_drift("x", column, pd.Series([], dtype=float), LIMITS)["level"] == "ok"


def test_profile_is_json_ready() -> None:
    ref = frame(500, 1)
    profile = profile_of(ref, ref["fit_score"].to_numpy())
    assert json.loads(json.dumps(profile)) == profile


def test_each_cell_is_compared_with_itself_at_training() -> None:
    ref, cur = frame(6000, 1), frame(6000, 2)
    # Cells differ from the whole by construction: email leads score higher here.
    for df in (ref, cur):
        df.loc[df["channel"] == "email", "fit_score"] = df["fit_score"] ** 0.2
    by = ["channel", "persona"]
    profile = reference_profile(
        ref,
        ["visits_30d", "fit_score"],
        ["channel", "persona"],
        ref["fit_score"].to_numpy(),
        cells=by,
        min_cell_rows=700,
    )
    cells = cell_drift(profile, cur, cur["fit_score"].to_numpy(), 700, LIMITS)
    assert {("email", "it"), ("email", "ops")} <= {(c["channel"], c["persona"]) for c in cells}
    assert all(c["rows"] >= 700 for c in cells)
    assert not any(c["channel"] == "paid_search" for c in cells)  # ~600 rows each: noise
    assert all(c["score_level"] == "ok" for c in cells), cells


def test_a_cell_that_moved_is_named_and_a_new_cell_is_listed() -> None:
    ref, cur = frame(6000, 1), frame(6000, 2)
    cur.loc[cur["channel"] == "email", "visits_30d"] += 6
    cur.loc[cur.index[:1500], "persona"] = "brand_new_persona"
    profile = reference_profile(
        ref,
        ["visits_30d"],
        ["channel", "persona"],
        ref["fit_score"].to_numpy(),
        cells=["channel", "persona"],
        min_cell_rows=500,
    )
    cells = cell_drift(profile, cur, cur["fit_score"].to_numpy(), 300, LIMITS)
    email = [c for c in cells if c["channel"] == "email" and not c["new"]]
    assert email and all(c["top_features"][0]["feature"] == "visits_30d" for c in email)
    assert all(c["top_features"][0]["level"] == "alert" for c in email)
    assert any(c["persona"] == "brand_new_persona" and c["new"] for c in cells)


def test_score_shift_and_volume_change() -> None:
    rng = np.random.default_rng(0)
    champion = rng.uniform(0, 1, 5000)
    assert score_shift(champion, champion, 10, 1e-4) == pytest.approx(0.0)
    assert score_shift(champion, champion**3, 10, 1e-4) > 0.25
    assert volume_change(100, 200) == pytest.approx(1.0)
    assert volume_change(0, 0) == 0.0 and volume_change(0, 5) == math.inf
