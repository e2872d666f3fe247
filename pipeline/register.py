"""DVC stage `register`: add the trained model as a new version, set `challenger`, and move
`champion` to it only when it is not worse than the champion on the same test snapshot.

The champion is re-scored on the current test rows rather than trusted by its old metrics:
last month's AUC was measured on last month's leads, and comparing across test sets says
nothing about which model is better today.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from features.build import feature_spec
from foundation.errors import LeadscoreError
from foundation.io import read_json, read_table, write_json
from foundation.params import Params
from models.promotion import decide_promotion
from models.registry import (
    CHAMPION,
    champion_version,
    load_lead_model,
    register_version,
    set_alias,
    tag_version,
)
from models.split import time_split
from models.tracking import configure_mlflow
from pipeline.evaluate import evaluate_dir
from pipeline.train import LABEL, RUN_FILE, train_dir, training_table_path

DECISION_FILE = "decision.json"


class StaleRunError(LeadscoreError):
    """run.json names an MLflow run the tracking store does not have."""


def ensure_run_exists(run_id: str) -> None:
    """Make a train stage restored without running (DVC run cache, a copied folder) visible."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    from models.tracking import tracking_uri

    try:
        MlflowClient().get_run(run_id)
    except MlflowException as exc:
        raise StaleRunError(
            f"MLflow run {run_id} from artifacts/train/run.json is not in the tracking store "
            f"{tracking_uri()}: the train stage's outputs were not produced against this store. "
            "Retrain with `dvc repro --force train`."
        ) from exc


def champion_auc_on(
    test: pd.DataFrame, name: str, columns: list[str]
) -> tuple[float | None, str | None, str]:
    """Score the current champion on the challenger's test rows; None when there is none."""
    from sklearn.metrics import roc_auc_score

    current = champion_version(name)
    if current is None:
        return None, None, "no champion yet"
    try:
        loaded = load_lead_model(f"models:/{name}@{CHAMPION}")
        proba = loaded.model.predict_proba(test[columns])
    except Exception as exc:  # an old champion may not speak today's feature set
        return None, str(current.version), f"champion v{current.version} cannot score: {exc}"
    return float(roc_auc_score(test[LABEL], proba)), str(current.version), "rescored"


def main(params: Params) -> dict[str, Any]:
    run = read_json(train_dir(params) / RUN_FILE)
    metrics = read_json(evaluate_dir(params) / "metrics.json")
    configure_mlflow(params.registry.experiment)
    ensure_run_exists(run["run_id"])

    name = params.registry.model_name
    spec = feature_spec(params.features)
    table = read_table(training_table_path(params))
    test = time_split(table, params.features.horizon_days, params.train.validation_snapshots).test
    champ_auc, champ_version, how = champion_auc_on(test, name, [*spec.numeric, *spec.categorical])

    decision = decide_promotion(
        challenger_auc=metrics["model"]["auc"],
        challenger_ece=metrics["model"]["ece"],
        champion_auc=champ_auc,
        champion_version=champ_version,
        auc_tolerance=params.registry.auc_tolerance,
        max_ece=params.registry.max_ece,
        no_champion_note=how,
    )
    version = register_version(run["model_uri"], name, tags={"run_id": run["run_id"]})
    if decision.promote:
        set_alias(name, CHAMPION, str(version.version))
    tags = {
        "promotion.decision": "champion" if decision.promote else "challenger-only",
        "promotion.reason": decision.reason,
    }
    tag_version(name, str(version.version), tags)

    import mlflow

    with mlflow.start_run(run_id=run["run_id"]):
        mlflow.set_tags({**tags, "registered.version": str(version.version)})

    result = {
        "model_name": name,
        "version": str(version.version),
        "run_id": run["run_id"],
        "champion_before": champ_version,
        "champion_how": how,
        **decision.as_dict(),
    }
    write_json(result, params.paths.artifacts / "register" / DECISION_FILE)
    verdict = "promoted to champion" if decision.promote else "kept as challenger"
    print(f"register: {name} v{version.version} {verdict}: {decision.reason}")
    return result
