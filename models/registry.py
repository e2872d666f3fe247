"""The model registry: versions of `lead-propensity`, the `challenger` and `champion` aliases,
and loading a LeadModel for scoring from an alias or a local file.

Aliases, not stages: MLflow deprecated stages, and an alias move is the whole promote/rollback.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from foundation.errors import LeadscoreError

CHAMPION = "champion"
CHALLENGER = "challenger"


class ModelLoadError(LeadscoreError):
    """The model URI does not resolve, or its files are not a leadscore model."""


@dataclass(frozen=True)
class LoadedModel:
    """A LeadModel plus where it came from, for /v1/model and the scoring responses."""

    model: Any  # models.propensity.LeadModel (kept loose to avoid importing LightGBM here)
    uri: str
    name: str | None = None
    version: str | None = None
    alias: str | None = None
    run_id: str | None = None
    trained_at: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)


def parse_models_uri(uri: str) -> tuple[str, str | None, str | None]:
    """`models:/name@alias` or `models:/name/3` -> (name, alias, version)."""
    body = uri.removeprefix("models:/")
    if "@" in body:
        name, alias = body.split("@", 1)
        return name, alias, None
    if "/" in body:
        name, version = body.rsplit("/", 1)
        return name, None, version
    raise ModelLoadError(f"{uri}: expected models:/<name>@<alias> or models:/<name>/<version>")


def _client() -> Any:
    from mlflow import MlflowClient

    from models.tracking import configure_mlflow

    configure_mlflow()
    return MlflowClient()


def resolve_version(name: str, alias: str | None, version: str | None) -> Any:
    """The ModelVersion behind an alias or number, or a ModelLoadError saying which is missing."""
    from mlflow.exceptions import MlflowException

    from models.tracking import tracking_uri

    client = _client()
    try:
        if alias is not None:
            return client.get_model_version_by_alias(name, alias)
        return client.get_model_version(name, str(version))
    except MlflowException as exc:
        what = f"alias '{alias}'" if alias else f"version {version}"
        raise ModelLoadError(
            f"registered model '{name}' has no {what} in the tracking store {tracking_uri()} "
            "(train and register one with `dvc repro`)"
        ) from exc


def champion_version(name: str) -> Any | None:
    """The current champion's ModelVersion, or None when the model or alias does not exist."""
    from mlflow.exceptions import MlflowException

    try:
        return _client().get_model_version_by_alias(name, CHAMPION)
    except MlflowException:
        return None


RUN_FILE = "run.json"  # pipeline/train.py writes it beside model.joblib
RESULT_FILE = "result.json"  # pipeline/train_table.py writes it beside its model.joblib
EVALUATION_FILE = Path("..") / "evaluate" / "metrics.json"  # the pipeline's layout


def _json_object(path: Path) -> dict[str, Any]:
    import json

    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _numbers(metrics: dict[str, Any], prefix: str) -> dict[str, float]:
    """The finite numbers of a nested metrics dict, with MLflow's dotted names."""
    import math

    from models.tracking import flatten

    groups = {k: v for k, v in metrics.items() if isinstance(v, dict)}
    return {
        k: float(v)
        for k, v in flatten(groups, prefix).items()
        if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
    }


def file_model_facts(path: Path, model: Any) -> tuple[str | None, str | None, dict[str, float]]:
    """Run id, training time and metrics of a model given as a file, from what it carries.

    In order: the model's own metadata; the train stage's run.json beside it (run id, time);
    test metrics from the pipeline's evaluate/metrics.json when it is newer than the model
    (else it describes an older model), named as in the registry (`test.model.auc`); for a
    flat-table model, its result.json (cross-validated `cv.model.auc_mean`, MLflow run id).
    The file's modification time is never a training time: unknown stays None.
    """
    metadata = getattr(model, "metadata", None) or {}
    run_id = metadata.get("run_id")
    trained = metadata.get("trained_at")
    metrics: dict[str, float] = {}
    run = _json_object(path.parent / RUN_FILE)
    run_id = run_id or run.get("run_id")
    trained = trained or run.get("trained_at")
    evaluation = path.parent / EVALUATION_FILE
    if run and evaluation.exists() and evaluation.stat().st_mtime >= path.stat().st_mtime:
        metrics = _numbers(_json_object(evaluation), "test.")
    result = _json_object(path.parent / RESULT_FILE)
    if result:
        mlflow = result.get("mlflow")
        if isinstance(mlflow, dict):
            run_id = run_id or mlflow.get("run_id")
        metrics.update(_numbers({k: result.get(k) for k in ("model", "baseline")}, "cv."))
    return (
        str(run_id) if run_id else None,
        str(trained) if trained else None,
        metrics,
    )


def load_lead_model(uri: str) -> LoadedModel:
    """Load a LeadModel from `models:/name@alias`, `models:/name/N` or a local .joblib path."""
    import joblib

    from models.pyfunc import MODEL_FILE

    if not uri.startswith("models:/"):
        path = Path(uri)
        if path.is_dir():
            path = path / MODEL_FILE
        if not path.exists():
            raise ModelLoadError(f"{uri}: no model file there")
        try:
            model = joblib.load(path)
        except Exception as exc:  # a truncated or foreign file: say so, keep the caller alive
            raise ModelLoadError(f"{uri}: not a loadable model ({type(exc).__name__})") from exc
        run_id, trained, metrics = file_model_facts(path, model)
        return LoadedModel(
            model=model,
            uri=uri,
            name=path.stem,
            run_id=run_id,
            trained_at=trained,
            metrics=metrics,
        )

    import mlflow

    name, alias, version = parse_models_uri(uri)
    mv = resolve_version(name, alias, version)
    try:
        version_uri = f"models:/{name}/{mv.version}"
        local = Path(mlflow.artifacts.download_artifacts(artifact_uri=version_uri))
        model = joblib.load(local / "artifacts" / MODEL_FILE)
    except Exception as exc:
        raise ModelLoadError(
            f"{uri} (version {mv.version}): cannot load its files ({type(exc).__name__}: {exc})"
        ) from exc
    run = _client().get_run(mv.run_id) if mv.run_id else None
    trained = (
        datetime.fromtimestamp(run.info.start_time / 1000, tz=UTC).isoformat() if run else None
    )
    metrics = {k: v for k, v in run.data.metrics.items() if k.startswith("test.")} if run else {}
    return LoadedModel(
        model=model,
        uri=uri,
        name=name,
        version=str(mv.version),
        alias=alias,
        run_id=mv.run_id,
        trained_at=trained,
        metrics=metrics,
    )


def register_version(model_uri: str, name: str, tags: dict[str, str] | None = None) -> Any:
    """Add the logged model as a new version of `name` and set the `challenger` alias on it."""
    import mlflow

    client = _client()
    mv = mlflow.register_model(model_uri, name, tags=tags)
    client.set_registered_model_alias(name, CHALLENGER, mv.version)
    return mv


def set_alias(name: str, alias: str, version: str) -> None:
    _client().set_registered_model_alias(name, alias, version)


def tag_version(name: str, version: str, tags: dict[str, str]) -> None:
    client = _client()
    for key, value in tags.items():
        client.set_model_version_tag(name, version, key, value)
