"""Drift and the stability gate on the real pipeline's output: a quiet month raises nothing, a
simulated channel shift is named, a challenger that would double the MQLs needs a person."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import joblib
import numpy as np
import pytest
import yaml

from tests.conftest import Project

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def copy_of(project: Project, dest: Path) -> Project:
    """A private copy of the trained project (data, artifacts, MLflow store) to change freely."""
    shutil.copytree(project.root, dest, ignore=shutil.ignore_patterns(".dvc/cache", "tmp"))
    uri = f"sqlite:///{dest / 'mlflow.db'}"
    env = {**project.env, "MLFLOW_TRACKING_URI": uri}
    return Project(root=dest, env=env, tracking_uri=uri, repro_output="")


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
    client = MlflowClient(tracking_uri=project.tracking_uri)
    version = client.get_model_version("lead-propensity", accepted["version"])
    assert version.tags["promotion.accepted_shift"] == "paid campaign, two new reps"
    champion = client.get_model_version_by_alias("lead-propensity", "champion")
    assert str(champion.version) == str(accepted["version"])
