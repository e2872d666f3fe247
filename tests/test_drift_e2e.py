"""Drift and the stability gate on the real pipeline's output: a quiet month raises nothing, a
simulated channel shift is named, a challenger that would double the MQLs needs a person."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
import yaml

from tests.conftest import Project, copy_of

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_default_data_raises_no_score_warning(trained_project: Project) -> None:
    drift = json.loads((trained_project.root / "artifacts/drift/drift.json").read_text())
    report = json.loads((trained_project.root / "artifacts/drift/report.json").read_text())
    assert drift["score_psi"] < 0.1
    assert report["score"]["level"] == "ok"
    assert drift["open_leads"] > 1000
    assert report["realised_calibration"]["bands"] == []  # no store yet: says so, no alarm


def test_a_channel_shift_is_named_with_psi_above_the_alert(
    trained_project: Project, tmp_path: Path
) -> None:
    project = copy_of(trained_project, tmp_path / "shifted")
    params = yaml.safe_load((project.root / "params.yaml").read_text())
    params["simulate"]["shift"] = {"start": "2026-01-01", "channel_weights": {"paid_search": 30}}
    (project.root / "params.yaml").write_text(yaml.safe_dump(params))
    project.run("leadscore", "simulate")
    project.run("leadscore", "validate")
    done = project.run("leadscore", "drift")

    report = json.loads((project.root / "artifacts/drift/report.json").read_text())
    channel = next(f for f in report["features"] if f["feature"] == "channel")
    assert channel["psi"] >= 0.25 and channel["level"] == "alert"
    assert channel["moved"][0]["bin"] == "paid_search"
    assert "channel" in {w["feature"] for w in report["warnings"]}
    assert "alert: channel" in done.stdout


def inflated(model: object, factor: float) -> object:
    """The same trees with probabilities scaled up: same ranking (AUC), many more MQLs."""
    calibrator = model.calibrator
    if calibrator.method == "isotonic":
        calibrator = dataclasses.replace(
            calibrator, values=np.minimum(calibrator.values * factor, 1)
        )
    else:
        calibrator = dataclasses.replace(calibrator, b=calibrator.b + float(np.log(factor)))
    return dataclasses.replace(model, calibrator=calibrator)


def test_a_challenger_doubling_mqls_needs_an_accepted_shift(
    trained_project: Project, tmp_path: Path
) -> None:
    from mlflow import MlflowClient

    project = copy_of(trained_project, tmp_path / "gate")
    model_path = project.root / "artifacts/train/model.joblib"
    joblib.dump(inflated(joblib.load(model_path), 4.0), model_path)

    project.run("leadscore", "register")
    refused = json.loads((project.root / "artifacts/register/decision.json").read_text())
    assert not refused["promote"]
    assert "MQLs at threshold" in refused["reason"] and "--accept-shift" in refused["reason"]
    assert refused["stability"]["challenger_mqls"] >= 2 * refused["stability"]["champion_mqls"]

    project.run("leadscore", "register", "--accept-shift", "paid campaign, two new reps")
    accepted = json.loads((project.root / "artifacts/register/decision.json").read_text())
    assert accepted["promote"]
    # The registry named too: an earlier in-process test may have set MLflow's global registry
    # URI, and a client given only a tracking URI would read that registry instead.
    client = MlflowClient(tracking_uri=project.tracking_uri, registry_uri=project.tracking_uri)
    version = client.get_model_version("lead-propensity", accepted["version"])
    assert version.tags["promotion.accepted_shift"] == "paid campaign, two new reps"
    champion = client.get_model_version_by_alias("lead-propensity", "champion")
    assert str(champion.version) == str(accepted["version"])


def test_scores_stored_a_horizon_ago_are_checked_against_what_happened(
    trained_project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = copy_of(trained_project, tmp_path / "realised")
    store_url = f"sqlite:///{tmp_path / 'store.db'}"
    project = dataclasses.replace(project, env={**project.env, "LEADSCORE_DB_URL": store_url})
    project.run("leadscore", "daily", "--as-of", "2026-08-20")
    done = project.run("leadscore", "drift")

    realised = json.loads((project.root / "artifacts/drift/report.json").read_text())[
        "realised_calibration"
    ]
    assert realised["run_date"] == "2026-08-20" and realised["horizon_days"] == 60
    bands = realised["bands"]
    assert sum(band["leads"] for band in bands) == realised["leads"] > 1000
    for band in bands:
        assert band["within"] == (band["low"] <= band["actual"] <= band["high"])
        assert band["low"] <= band["predicted"] <= band["high"]
    assert realised["bands_outside"] == [b["band"] for b in bands if not b["within"]]
    assert realised["status"] == ("ok" if not realised["bands_outside"] else "alert")
    assert "realised calibration of the 2026-08-20 scores" in done.stdout

    # What is checked is what the model promises: the stored daily probabilities are the
    # training path's for the same leads (a daily path without stages once scored 40% low).
    from features.persona import load_personas
    from foundation.io import find_table, read_table
    from foundation.params import load_params
    from pipeline.sla_data import personas_path
    from pipeline.sla_report import scored_open_leads
    from store import Store

    monkeypatch.chdir(project.root)
    params = load_params(Path("params.yaml"))
    tables = [
        read_table(find_table(params.paths.interim, n)) for n in ("leads", "events", "stages")
    ]
    model = joblib.load("artifacts/train/model.joblib")
    as_of = pd.Timestamp("2026-08-20", tz="UTC")
    pipeline_scores = scored_open_leads(
        model, load_personas(personas_path(params)), params, *tables, as_of
    )
    with Store.open(store_url) as store:
        stored = store.scores(as_of.date())
    both = stored.merge(pipeline_scores, on="lead_id", suffixes=("_daily", "_pipeline"))
    assert len(both) == len(stored)
    np.testing.assert_allclose(both["probability_daily"], both["probability_pipeline"], atol=1e-9)
