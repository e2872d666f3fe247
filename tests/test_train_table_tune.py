"""`leadscore train-table --tune`: nested search that never sees the outer test rows, trials as
MLflow child runs in a real SQLite store, and a tuned model at least as good on held-out rows.

Searches here are tiny (two or three trials, few trees): they pin the command's behaviour, not the
search's quality; the X Education figures are in docs/data-scientist.md and the issue's note.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from features.table_mapping import TableMapping, load_mapping, prepare_table
from foundation.io import read_table
from models.metrics import log_loss
from models.tuning import Trial, TuneParams, fit_tuned, inner_folds, search
from pipeline.cli import app
from pipeline.train_table import FINAL_SCOPE, train_table, tune_settings, tuning_progress
from pipeline.train_table_cv import cross_validate, cv_folds, fit_model
from tests.test_train_table import (
    BASE_MAPPING,
    QUICK,
    X_EDUCATION,
    X_MAPPING,
    crm_export,
    needs_x_education,
    write,
)

TINY = TuneParams(trials=2, inner_folds=2, n_estimators=60, early_stopping_rounds=10)
MAPPING = BASE_MAPPING | {"exclude": ["Created", "Sales Status"]} | QUICK


def test_nested_search_never_sees_the_outer_test_rows() -> None:
    table = prepare_table(crm_export(), TableMapping.model_validate(MAPPING), "leads.csv")
    mapping = TableMapping.model_validate(MAPPING)
    heard: list[str] = []
    folds, _, searches = cross_validate(
        table, mapping, tune=TINY, on_trial=lambda scope, trial: heard.append(scope)
    )
    assert sorted(searches) == ["fold-1", "fold-2"]
    assert heard == ["fold-1"] * TINY.trials + ["fold-2"] * TINY.trials
    for fold in cv_folds(table, mapping.evaluation.folds, mapping.train.seed):
        seen = set(searches[f"fold-{fold.number}"].rows_seen.tolist())
        test_rows = set(table.frame.index[fold.test].tolist())
        assert seen.isdisjoint(test_rows)
        assert seen == set(table.frame.index[fold.train].tolist())  # and every training row
    assert {"tuned_learning_rate", "tuned_num_leaves"} <= set(folds.columns)


def test_search_starts_from_the_configured_parameters() -> None:
    mapping = TableMapping.model_validate(MAPPING)
    table = prepare_table(crm_export(), mapping, "leads.csv")
    spec = table.spec
    found = search(
        table.frame, spec.model_numeric, spec.categorical, table.label, mapping.train, TINY
    )
    configured = mapping.train.lightgbm
    assert found.trials[0].params["learning_rate"] == configured.learning_rate
    assert found.trials[0].params["num_leaves"] == configured.num_leaves
    assert min(t.log_loss for t in found.trials) <= found.trials[0].log_loss
    # every row was held out once, so every row calibrates the final model
    assert not np.isnan(found.oof_raw).any()


def test_tuned_trials_are_child_runs_in_mlflow(
    tmp_path: Path, monkeypatch, isolated_mlflow: str
) -> None:
    """The session's real SQLite store (a new one per test would cost its migrations again)."""
    from mlflow.tracking import MlflowClient

    monkeypatch.chdir(tmp_path)
    uri = isolated_mlflow
    data, spec = write(tmp_path, crm_export(), MAPPING)
    result = train_table(
        data, spec, artifacts=tmp_path / "artifacts", tune=TINY, model_name="tune-child-runs"
    )

    client = MlflowClient(uri)
    parent = client.get_run(result["mlflow"]["run_id"])
    children = client.search_runs(
        [parent.info.experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'",
    )
    scopes = sorted(c.data.tags["leadscore.tune.scope"] for c in children)
    assert scopes == sorted(["fold-1", "fold-2", FINAL_SCOPE] * TINY.trials)
    for child in children:
        assert {"learning_rate", "num_leaves", "min_child_samples"} <= child.data.params.keys()
        assert child.data.metrics["inner_log_loss"] > 0
        assert child.info.status == "FINISHED"
    best = [c for c in children if c.data.tags["leadscore.tune.best"] == "true"]
    assert len(best) == 3  # one per search
    assert parent.data.params["tune.trials"] == str(TINY.trials)
    final = result["tuning"]["searches"][FINAL_SCOPE]
    assert result["final_fit"]["tuned_num_leaves"] == final["best_params"]["num_leaves"]


@pytest.mark.slow
@needs_x_education
def test_tuning_matches_or_beats_untuned_on_held_out_rows() -> None:
    """A real table: 2,400 X Education leads to tune and fit on, 1,600 held out and never seen."""
    mapping = load_mapping(X_MAPPING)
    table = prepare_table(read_table(X_EDUCATION).head(4000), mapping, X_EDUCATION.name)
    spec, frame, y = table.spec, table.frame, table.y
    fit_rows, held = frame.iloc[:2400], frame.iloc[2400:]
    untuned, _ = fit_model(fit_rows, table, mapping)
    space = TuneParams(trials=6, inner_folds=3, early_stopping_rounds=30)
    found = search(
        fit_rows, spec.model_numeric, spec.categorical, table.label, mapping.train, space
    )
    tuned, _ = fit_tuned(
        fit_rows, spec.model_numeric, spec.categorical, table.label, mapping.train, found
    )
    before = log_loss(y[2400:], untuned.predict_proba(held))
    after = log_loss(y[2400:], tuned.predict_proba(held))
    assert after <= before + 0.002, (before, after)


def test_cli_help_names_tune_and_its_budget() -> None:
    result = CliRunner().invoke(app, ["train-table", "--help"])
    assert result.exit_code == 0
    assert "--tune" in result.output and "--tune-minutes" in result.output
    assert "nested" in result.output


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--tune", "0"], "--tune: give at least 1 trial, got 0"),
        (["--tune-minutes", "-1"], "--tune-minutes: give a positive number of minutes, got -1"),
    ],
)
def test_cli_bad_tune_value_is_one_clear_line(
    tmp_path: Path, monkeypatch, flags: list[str], message: str
) -> None:
    monkeypatch.chdir(tmp_path)
    data, spec = write(tmp_path, crm_export(), MAPPING)
    result = CliRunner().invoke(app, ["train-table", str(data), "--mapping", str(spec), *flags])
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "artifacts").exists()  # refused before any training


def test_progress_in_a_log_is_one_line_per_search(capsys) -> None:
    """Under cron or CI stderr is no terminal: no bar, but each finished search says so."""
    with tuning_progress(TuneParams(trials=2), searches=2) as on_trial:
        for scope in ("fold-1", FINAL_SCOPE):
            for number, loss in enumerate((0.5, 0.4)):
                on_trial(scope, Trial(number, {}, loss, 0.8, 10, 0.1))
    lines = [line for line in capsys.readouterr().err.splitlines() if "trials" in line]
    assert [line.split(" ", 1)[1] for line in lines] == [
        "tuning fold-1: 2 trials, best inner log loss 0.4000",
        "tuning final: 2 trials, best inner log loss 0.4000",
    ]


def test_inner_folds_with_time_never_fit_on_the_future() -> None:
    created = np.random.default_rng(0).permutation(30)  # positions in shuffled time order
    order = np.argsort(created, kind="stable")
    for fit, held in inner_folds(np.zeros(30, dtype=int), order, 3, seed=0):
        assert created[fit].max() < created[held].min()


def test_time_budget_is_shared_by_the_searches() -> None:
    budget = tune_settings(None, 12.0, searches=6)
    assert budget is not None and budget.timeout_seconds == pytest.approx(120.0)
    assert budget.trials >= 1_000  # minutes alone: as many trials as fit
    both = tune_settings(20, 12.0, searches=6)
    assert both is not None and both.trials == 20 and both.timeout_seconds == pytest.approx(120.0)
    assert tune_settings(None, None, searches=6) is None


def test_with_time_each_fold_search_sees_only_the_past() -> None:
    mapping = TableMapping.model_validate(
        MAPPING | {"exclude": ["Sales Status"], "time": "Created"}
    )
    table = prepare_table(crm_export(), mapping, "leads.csv")
    _, _, searches = cross_validate(table, mapping, tune=TINY)
    created = table.frame[table.time]
    for fold in cv_folds(table, mapping.evaluation.folds, mapping.train.seed):
        seen = searches[f"fold-{fold.number}"].rows_seen
        assert created.loc[seen].max() < created.iloc[fold.test].min()
