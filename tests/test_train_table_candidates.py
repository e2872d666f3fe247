"""`train-table --tune` candidates: the choice made on inner folds is the better model on the
outer folds, whichever family the table favours; the blend never loses by more than noise; the
JSON report shows every candidate; and the chosen model, whatever it is, scores and explains.

Two small synthetic tables (1,000 leads, three outer folds, two trials per search) where the answer
is known by construction: a purely linear log-odds (the logistic's home ground) and a number whose
slope flips sign with a category (a pattern a linear model cannot express, even with products of
numbers, and a tree finds in two splits).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from features.table_mapping import TableMapping, prepare_table
from foundation.params import CandidateParams
from models.candidates import CandidateModel, fit_stack
from models.propensity import encode_frame, learn_categories
from models.table_logistic import LogisticSettings, fit_table_logistic, logistic_grid
from models.tuning import TuneParams
from pipeline.cli import app
from pipeline.train_table import train_table
from pipeline.train_table_cv import calibration_check, cross_validate, cv_folds, fit_candidates_on
from tests.test_train_table import write

ROWS = 1000
TINY = TuneParams(trials=2, inner_folds=3, n_estimators=300, early_stopping_rounds=20)
MAPPING = {
    "label": "won",
    "positive": ["yes"],
    "evaluation": {"folds": 3},
    "train": {"lightgbm": {"learning_rate": 0.1}},
}
CANDIDATES = ("lightgbm", "logistic", "blend")
# Two AUCs of the same 333 test leads differ by ~0.01-0.02 from sampling alone; "noise" below is
# a mean over three folds of a blend that shares most of its score with the best single model.
NOISE = 0.01


def linear_table(n: int = ROWS, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 6))
    logit = X @ np.array([1.0, -0.8, 0.6, 0.5, -0.4, 0.3]) - 0.5
    won = rng.random(n) < 1 / (1 + np.exp(-logit))
    frame = pd.DataFrame(X, columns=[f"n{i}" for i in range(6)])
    return frame.assign(won=np.where(won, "yes", "no"))


def interaction_table(n: int = ROWS, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    group = rng.choice(["a", "b"], n)
    # x1 helps in group a and hurts in group b: its slope changes sign with the category
    logit = np.where(group == "a", 3.0, -1.5) * x1 + 0.3 * x2
    won = rng.random(n) < 1 / (1 + np.exp(-logit))
    noise = pd.DataFrame(rng.normal(size=(n, 4)), columns=[f"noise{i}" for i in range(4)])
    return noise.assign(x1=x1, x2=x2, group=group, won=np.where(won, "yes", "no"))


def outer_folds(df: pd.DataFrame, **overrides) -> pd.DataFrame:
    mapping = TableMapping.model_validate(MAPPING | overrides)
    table = prepare_table(df, mapping, "leads.csv")
    folds, _, _ = cross_validate(table, mapping, tune=TINY)
    return folds


@pytest.fixture(scope="module")
def linear_folds() -> pd.DataFrame:
    return outer_folds(linear_table())


@pytest.fixture(scope="module")
def interaction_folds() -> pd.DataFrame:
    return outer_folds(interaction_table())


def mean_auc(folds: pd.DataFrame, name: str) -> float:
    return float(folds[f"{name}_auc"].mean())


def test_linear_table_chooses_a_linear_model_and_it_wins_outside(
    linear_folds: pd.DataFrame,
) -> None:
    assert "lightgbm" not in set(linear_folds["chosen"])  # every fold: logistic or its blend
    assert mean_auc(linear_folds, "logistic") > mean_auc(linear_folds, "lightgbm") + NOISE
    assert mean_auc(linear_folds, "model") >= mean_auc(linear_folds, "lightgbm") + NOISE


def test_interaction_table_chooses_trees_and_they_win_outside(
    interaction_folds: pd.DataFrame,
) -> None:
    assert "logistic" not in set(interaction_folds["chosen"])
    assert mean_auc(interaction_folds, "lightgbm") > mean_auc(interaction_folds, "logistic") + 0.1
    assert mean_auc(interaction_folds, "model") >= mean_auc(interaction_folds, "logistic") + 0.1


@pytest.mark.parametrize("which", ["linear_folds", "interaction_folds"])
def test_chosen_and_blend_never_lose_to_the_best_single_by_more_than_noise(
    which: str, request: pytest.FixtureRequest
) -> None:
    folds = request.getfixturevalue(which)
    best_single = max(mean_auc(folds, "lightgbm"), mean_auc(folds, "logistic"))
    assert mean_auc(folds, "blend") >= best_single - NOISE
    assert mean_auc(folds, "model") >= best_single - NOISE
    # the headline is the chosen candidate's own figure, fold by fold
    for _, fold in folds.iterrows():
        assert fold["model_auc"] == fold[f"{fold['chosen']}_auc"]


def test_the_old_logistic_baseline_does_not_beat_the_chosen_model(
    linear_folds: pd.DataFrame, interaction_folds: pd.DataFrame
) -> None:
    for folds in (linear_folds, interaction_folds):
        assert mean_auc(folds, "model") >= mean_auc(folds, "baseline") - NOISE


def test_candidates_only_ever_see_the_outer_training_rows() -> None:
    """Poison the outer test rows' labels: no candidate's fit or choice may change."""
    df = interaction_table(600)
    mapping = TableMapping.model_validate(MAPPING | {"evaluation": {"folds": 2}})
    table = prepare_table(df, mapping, "leads.csv")
    fold = next(cv_folds(table, 2, mapping.train.seed))
    train = table.frame.iloc[fold.train]
    test = table.frame.iloc[fold.test]
    poisoned = table.frame.copy()
    poisoned.iloc[fold.test, poisoned.columns.get_loc(table.label)] = 1 - test[table.label]
    poisoned_table = dataclasses.replace(table, frame=poisoned)
    first = fit_candidates_on(train, table, mapping, TINY, "fold-1")
    again = fit_candidates_on(poisoned.iloc[fold.train], poisoned_table, mapping, TINY, "fold-1")
    assert first.chosen == again.chosen
    for name in CANDIDATES:
        np.testing.assert_array_equal(
            first.models[name].predict_proba(test), again.models[name].predict_proba(test)
        )


def test_with_time_the_candidates_run_on_forward_chaining_folds() -> None:
    df = linear_table(900).assign(created=pd.date_range("2025-01-01", periods=900, freq="D"))
    folds = outer_folds(df, time="created")
    assert set(folds["chosen"]) <= set(CANDIDATES)
    # forward chaining: each fold trains on more of the past than the one before
    assert folds["train_rows"].is_monotonic_increasing
    assert {f"{name}_auc" for name in CANDIDATES} <= set(folds.columns)


def test_json_report_keeps_model_auc_as_the_chosen_model_and_lists_candidates(
    tmp_path: Path, monkeypatch, isolated_mlflow: str
) -> None:
    monkeypatch.chdir(tmp_path)
    data, spec = write(tmp_path, interaction_table(600), MAPPING | {"model_name": "cand-json"})
    result = CliRunner().invoke(
        app, ["train-table", str(data), "--mapping", str(spec), "--tune", "2", "--json"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout.strip().splitlines()[-1])
    folds = pd.DataFrame(report["folds"])
    assert set(report["candidates"]) == set(CANDIDATES)
    assert report["model"]["auc_mean"] == pytest.approx(folds["model_auc"].mean())
    for name, figures in report["candidates"].items():
        assert figures["auc_mean"] == pytest.approx(folds[f"{name}_auc"].mean())
        assert {"ece_mean", "ece_noise_floor_mean", "inner_auc_mean"} <= figures.keys()
    assert sum(c["chosen_in_folds"] for c in report["candidates"].values()) == len(folds)
    assert report["chosen"]["chosen"] in CANDIDATES
    assert report["calibration"]["folds"] == len(folds)


def test_a_chosen_logistic_or_blend_scores_and_explains_like_a_lead_model() -> None:
    """Contributions sum to the raw score (reasons stay exact) and a served row (encode_row)
    scores the same as the table row."""
    df = linear_table(600)
    mapping = TableMapping.model_validate(MAPPING)
    table = prepare_table(df.assign(src=np.where(df["n0"] > 0, "web", "fair")), mapping, "t.csv")
    found = fit_candidates_on(table.frame, table, mapping, TINY, "final")
    for name in ("logistic", "blend"):
        model = found.models[name]
        assert isinstance(model, CandidateModel) and not hasattr(model, "booster")
        X = model.encode(table.frame)
        np.testing.assert_allclose(model.contributions(X).sum(axis=1), model.raw_score(X))
        row = table.frame.iloc[0].to_dict()
        assert model.predict_proba(model.encode_row(row))[0] == pytest.approx(
            model.predict_proba(table.frame.iloc[[0]])[0]
        )


def test_rare_levels_share_one_column_and_unseen_levels_land_there() -> None:
    params = CandidateParams(rare_min_count=20)
    rng = np.random.default_rng(1)
    city = np.where(rng.random(400) < 0.9, "Mumbai", rng.choice(["Pune", "Goa", "Agra"], 400))
    frame = pd.DataFrame({"city": city})
    categories = learn_categories(frame, ["city"])
    X = encode_frame(frame, ("city",), categories)
    y = (rng.random(400) < 0.4).astype(int)
    model = fit_table_logistic(X, y, [0], params, LogisticSettings(1.0, False, False), seed=0)
    mumbai = categories["city"].index("Mumbai")
    assert [int(v) for v in model.basis.kept_levels[0]] == [mumbai]  # the others are rare
    rare = [categories["city"].index(c) for c in ("Pune", "Goa", "Agra")]
    scores = model.raw_score(np.array([[float(code)] for code in rare]))
    assert np.ptp(scores) == 0.0  # one pooled coefficient for every rare level
    unseen = model.raw_score(np.array([[99.0]]))  # a code no training row had
    assert unseen[0] == pytest.approx(scores[0])


def test_logistic_grid_tries_straight_lines_splines_and_products() -> None:
    grid = logistic_grid(CandidateParams(C_grid=(0.1, 1.0)))
    assert {(s.splines, s.interactions) for s in grid} == {
        (False, False),
        (True, False),
        (True, True),
    }
    assert len(grid) == 6


def test_blend_weights_are_never_negative() -> None:
    """A second candidate that ranks leads a little (0.2 of the signal) but mostly repeats the
    first one's noise: unconstrained, the stack would subtract it to cancel that noise."""
    rng = np.random.default_rng(0)
    signal, shared = rng.normal(size=4000), rng.normal(size=4000)
    y = (rng.random(4000) < 1 / (1 + np.exp(-2 * signal))).astype(float)
    first, second = signal + shared, 0.2 * signal + shared
    weights, _ = fit_stack(np.column_stack([first, second]), y)
    assert (weights >= 0).all()
    assert weights[0] > 0.5 and weights[1] == 0.0


def test_a_fold_beyond_chance_says_why() -> None:
    rng = np.random.default_rng(0)
    p = rng.uniform(0.05, 0.6, 3000)
    calibrated = calibration_check((rng.random(3000) < p).astype(int), p, 10, 0)
    assert calibrated["within_noise"] and calibrated["why"] is None
    shifted = calibration_check((rng.random(3000) < p + 0.2).astype(int), p, 10, 0)
    assert not shifted["within_noise"]
    assert shifted["why"].startswith("base rate")
    bent_p = np.clip(p.mean() + 1.8 * (p - p.mean()), 0.01, 0.99)  # same mean, too steep
    bent = calibration_check((rng.random(3000) < p).astype(int), bent_p, 10, 0)
    assert not bent["within_noise"]
    assert bent["why"].startswith("shape")


def test_leadscore_score_serves_a_chosen_logistic_with_reasons(tmp_path: Path, monkeypatch) -> None:
    """The linear table's final choice is not the trees: the saved model still scores a raw
    export through `leadscore score --explain`, with the probabilities it gives itself."""
    monkeypatch.chdir(tmp_path)
    df = linear_table(600).assign(lead=[f"L{i}" for i in range(600)])
    data, spec = write(tmp_path, df, MAPPING | {"id": "lead", "model_name": "cand-score"})
    result = train_table(data, spec, artifacts=tmp_path / "artifacts", log=False, tune=TINY)
    assert result["chosen"]["chosen"] in ("logistic", "blend")
    saved = joblib.load(result["model_path"])
    assert isinstance(saved, CandidateModel)
    (tmp_path / "params.yaml").write_text("{}\n")
    out = tmp_path / "scores.csv"
    done = CliRunner().invoke(
        app,
        ["score", str(data), "--out", str(out), "--model", result["model_path"], "--explain"],
    )
    assert done.exit_code == 0, done.output
    scores = pd.read_csv(out)
    assert scores["lead_id"].tolist() == df["lead"].tolist()
    np.testing.assert_allclose(
        scores["probability"], saved.predict_proba(df.drop(columns=["won", "lead"])), atol=1e-9
    )
    assert scores["reasons_for"].notna().any()
