"""The monthly retrain as a user runs it: real `dvc repro`, real MLflow store and registry,
a real `mlflow models serve` process answering on loopback."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
from pathlib import Path

import pandas as pd
import pytest
import yaml
from mlflow import MlflowClient

from tests.conftest import Project, copy_of
from tests.live_server import free_port

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

STAGES = ("simulate", "validate", "features", "train", "evaluate", "register")
SERVE_START_TIMEOUT_S = 120


def mlflow_client(project: Project) -> MlflowClient:
    return MlflowClient(tracking_uri=project.tracking_uri, registry_uri=project.tracking_uri)


def run_id(project: Project) -> str:
    return json.loads((project.root / "artifacts/train/run.json").read_text())["run_id"]


def test_dvc_repro_runs_every_stage_and_registers_a_champion(trained_project: Project) -> None:
    for stage in STAGES:
        assert f"Running stage '{stage}'" in trained_project.repro_output
    client = mlflow_client(trained_project)
    champion = client.get_model_version_by_alias("lead-propensity", "champion")
    challenger = client.get_model_version_by_alias("lead-propensity", "challenger")
    assert str(champion.version) == str(challenger.version) == "1"
    assert champion.run_id == run_id(trained_project)
    assert client.get_model_version("lead-propensity", "1").tags["promotion.decision"] == "champion"


def test_a_second_repro_does_nothing(trained_project: Project) -> None:
    done = trained_project.run("dvc", "repro")
    assert "Running stage" not in done.stdout
    assert "up to date" in done.stdout


def test_the_run_holds_params_dataset_metrics_plots_and_the_model(trained_project: Project) -> None:
    client = mlflow_client(trained_project)
    run = client.get_run(run_id(trained_project))
    assert run.data.params["train.lightgbm.learning_rate"] == "0.03"
    assert "data.sha256" in run.data.params and "data.positive_rate" in run.data.params
    for metric in ("test.model.auc", "test.points.auc", "test.logistic.auc", "test.model.ece"):
        assert metric in run.data.metrics
    assert "test.ceiling.auc" in run.data.metrics
    plots = {f.path for f in client.list_artifacts(run.info.run_id, "plots")}
    for name in ("roc", "pr", "calibration", "gains", "importance", "shap_summary"):
        assert f"plots/{name}.png" in plots
    evaluation = {f.path for f in client.list_artifacts(run.info.run_id, "evaluation")}
    assert "evaluation/test_predictions.parquet" in evaluation


def test_dvc_metrics_and_plots_commands_work(trained_project: Project) -> None:
    shown = trained_project.run("dvc", "metrics", "show", "--json")
    metrics = json.loads(shown.stdout)
    assert "artifacts/evaluate/metrics.json" in json.dumps(metrics)
    trained_project.run("dvc", "plots", "show", "-o", str(trained_project.root / "dvc_plots"))
    assert (trained_project.root / "dvc_plots" / "index.html").exists()


def test_model_beats_the_points_baseline_and_is_calibrated(trained_project: Project) -> None:
    metrics = json.loads((trained_project.root / "artifacts/evaluate/metrics.json").read_text())
    assert metrics["model"]["auc"] > metrics["points"]["auc"]
    assert metrics["model"]["auc"] <= metrics["ceiling"]["auc"] + 0.02
    assert metrics["model"]["ece"] < 0.05


def wait_until_up(
    url: str, process: subprocess.Popen[bytes], timeout_s: float, log: Path | None = None
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            # Its own words: one random-order run saw it exit 1 with the output discarded.
            tail = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
            raise AssertionError(f"mlflow models serve exited with {process.returncode}\n{tail}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"{url} did not answer within {timeout_s} s")


def registry_state(project: Project) -> str:
    """What the server should have found: one random-order run, with other pytest sessions
    running beside it, saw `Registered Model with name=lead-propensity not found`."""
    db = project.root / "mlflow.db"
    settings = {k: v for k, v in project.env.items() if k.startswith("MLFLOW")}
    lines = [f"store {db}: exists={db.exists()} size={db.stat().st_size if db.exists() else 0}"]
    lines.append(f"MLflow settings of the project's environment: {settings}")
    try:
        found = mlflow_client(project).search_model_versions("name='lead-propensity'")
        lines.append(f"versions: {[(v.version, v.aliases) for v in found]}")
    except Exception as exc:  # a diagnostic: show whatever the store says
        lines.append(f"registry unreadable: {exc}")
    return "\n".join(lines)


def start_mlflow_serve(project: Project, folder: Path) -> tuple[subprocess.Popen[bytes], int]:
    """`mlflow models serve` on a free port, up and answering /ping. A port found free can be
    taken by another process before the server binds it: only that case gets a second port."""
    for attempt in range(2):
        port = free_port()
        log = folder / f"mlflow-serve-{attempt}.log"
        with log.open("wb") as sink:
            process = subprocess.Popen(
                ["mlflow", "models", "serve", "-m", project.model_uri, "--env-manager", "local",
                 "--host", "127.0.0.1", "--port", str(port)],
                cwd=project.root, env=project.env,
                stdout=sink, stderr=subprocess.STDOUT,
            )  # fmt: skip
        try:
            wait_until_up(f"http://127.0.0.1:{port}/ping", process, SERVE_START_TIMEOUT_S, log)
            return process, port
        except AssertionError as exc:
            process.kill()
            process.wait(timeout=30)
            said = str(exc).lower()  # uvicorn's and gunicorn's words for a taken port
            if attempt or not ("address already in use" in said or "connection in use" in said):
                raise AssertionError(f"{exc}\n{registry_state(project)}") from None
    raise AssertionError("unreachable")


def test_mlflow_models_serve_answers_with_calibrated_probabilities(
    trained_project: Project, tmp_path: Path
) -> None:
    import joblib

    model = joblib.load(trained_project.root / "artifacts/train/model.joblib")
    table = pd.read_parquet(trained_project.root / "data/features/training_table.parquet")
    rows = table[list(model.feature_names)].tail(5)
    expected = model.predict_proba(rows)
    body = {"dataframe_split": json.loads(rows.to_json(orient="split", index=False))}

    process, port = start_mlflow_serve(trained_project, tmp_path)
    try:
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/invocations",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            answer = json.loads(response.read())
    finally:
        process.terminate()
        process.wait(timeout=30)
    served = [row["probability"] for row in answer["predictions"]]
    assert served == pytest.approx(list(expected), abs=1e-9)
    assert all(0.0 <= p <= 1.0 for p in served)


def test_evaluate_measures_the_sla_rule_on_the_test_snapshot(trained_project: Project) -> None:
    metrics = json.loads((trained_project.root / "artifacts/evaluate/metrics.json").read_text())
    assert 0 <= metrics["sla_score_threshold"] <= 100
    assert metrics["sla_mqls"] > 0
    assert 0 <= metrics["model"]["precision_at_threshold"] <= 1
    assert 0 <= metrics["model"]["recall_at_threshold"] <= 1


def test_changing_a_training_param_retrains_without_rebuilding_data_and_guards_the_champion(
    trained_project: Project, tmp_path: Path
) -> None:
    """A crippled model (two leaves, three trees) is trained, registered as challenger, refused.
    On a copy of the project: the session's trained project keeps its own model for the tests
    that read it later."""
    trained_project = copy_of(trained_project, tmp_path / "project")
    params_path = trained_project.root / "params.yaml"
    params = yaml.safe_load(params_path.read_text())
    params["train"]["lightgbm"].update({"num_leaves": 2, "n_estimators": 3})
    params_path.write_text(yaml.safe_dump(params))

    done = trained_project.run("dvc", "repro")
    for stage in ("simulate", "validate", "features"):
        assert f"Running stage '{stage}'" not in done.stdout
    for stage in ("train", "evaluate", "register"):
        assert f"Running stage '{stage}'" in done.stdout

    client = mlflow_client(trained_project)
    assert str(client.get_model_version_by_alias("lead-propensity", "challenger").version) == "2"
    assert str(client.get_model_version_by_alias("lead-propensity", "champion").version) == "1"
    decision = json.loads((trained_project.root / "artifacts/register/decision.json").read_text())
    assert decision["promote"] is False
    assert client.get_model_version("lead-propensity", "2").tags["promotion.decision"] == (
        "challenger-only"
    )
