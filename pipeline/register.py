"""DVC stage `register`: add the trained model as a new version, set `challenger`, and move
`champion` to it only when it is not worse than the champion on the same test snapshot.

The champion is re-scored on the current test rows rather than trusted by its old metrics:
last month's AUC was measured on last month's leads, and comparing across test sets says
nothing about which model is better today.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.build import feature_spec
from features.snapshots import LABEL
from foundation.errors import LeadscoreError
from foundation.io import find_table, read_json, read_table, write_json
from foundation.params import Params
from models.promotion import Stability, decide_promotion, gate_on_stability
from models.promotion_noise import AucDifference, auc_difference, gate_on_noise
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
from pipeline.layout import (
    METRICS_FILE,
    MODEL_FILE,
    RUN_FILE,
    evaluate_dir,
    train_dir,
)
from pipeline.training_rows import training_rows

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
) -> tuple[float | None, str | None, str, Any]:
    """Score the current champion on the challenger's test rows; None when there is none.
    Also returns the champion's model when it can score today's features (else None)."""
    current = champion_version(name)
    if current is None:
        return None, None, "no champion yet", None
    from sklearn.metrics import roc_auc_score  # only with a champion: a first run needs no sklearn

    try:
        loaded = load_lead_model(f"models:/{name}@{CHAMPION}")
        proba = loaded.model.predict_proba(test[columns])
    except Exception as exc:  # an old champion may not speak today's feature set
        return None, str(current.version), f"champion v{current.version} cannot score: {exc}", None
    auc = float(roc_auc_score(test[LABEL], proba))
    return auc, str(current.version), "rescored", loaded.model


def recent_versions(name: str, months: int, now_ms: int) -> list[str]:
    """Versions of `name` registered within the last `months` months (30.44 days each)."""
    from mlflow import MlflowClient

    since = now_ms - months * 30.44 * 86_400_000
    return [
        str(v.version)
        for v in MlflowClient().search_model_versions(f"name='{name}'")
        if int(v.creation_timestamp) >= since
    ]


def noise_comparisons(
    params: Params,
    test: pd.DataFrame,
    columns: list[str],
    challenger: Any,
    champion: Any,
    champion_version: str | None,
) -> tuple[list[AucDifference], list[str]]:
    """The challenger against the champion and against the best version of the last
    `registry.best_of_months` months, each re-scored on the same test rows, as paired bootstrap
    intervals of the AUC difference; plus notes on versions that could not score the rows."""
    import time

    from sklearn.metrics import roc_auc_score

    settings = params.registry
    label = test[LABEL].to_numpy()
    mine = np.asarray(challenger.predict_proba(test[columns]), dtype=float)

    def compare(reference: np.ndarray, against: str) -> AucDifference:
        return auc_difference(
            label,
            mine,
            reference,
            against,
            settings.auc_bootstrap_rounds,
            settings.auc_interval_level,
            params.train.seed,
        )

    out, notes = [], []
    if champion is not None:
        out.append(
            compare(
                np.asarray(champion.predict_proba(test[columns])), f"champion v{champion_version}"
            )
        )
    best: tuple[float, str, np.ndarray] | None = None
    if settings.best_of_months > 0:
        now_ms = int(time.time() * 1000)
        for version in recent_versions(settings.model_name, settings.best_of_months, now_ms):
            if version == champion_version:
                continue
            try:
                proba = np.asarray(
                    load_lead_model(f"models:/{settings.model_name}/{version}").model.predict_proba(
                        test[columns]
                    ),
                    dtype=float,
                )
            except Exception as exc:  # an older version may not speak today's feature set
                notes.append(f"v{version} cannot score today's test rows: {str(exc)[:120]}")
                continue
            auc = float(roc_auc_score(label, proba))
            if best is None or auc > best[0]:
                best = (auc, version, proba)
    champion_auc = out[0].reference_auc if out else None
    if best is not None and (champion_auc is None or best[0] > champion_auc):
        out.append(
            compare(best[2], f"v{best[1]}, the best of the last {settings.best_of_months} months")
        )
    return out, notes


def threshold_in_force(params: Params, agreement: Any) -> float | None:
    """The MQL threshold the service applies today: the agreed number, or the `auto` threshold
    the last SLA report resolved (None before the first report)."""
    from sla.agreement import AUTO

    rule = agreement.mql_rule.score_threshold
    if rule != AUTO:
        return float(rule)
    resolved = Path(params.paths.artifacts) / "sla" / "threshold.json"
    return float(read_json(resolved)["threshold"]) if resolved.exists() else None


def stability_on_open_leads(params: Params, challenger: Any, champion: Any) -> Stability:
    """Both models on the leads open at the end of the data: how far the challenger's scores
    move from the champion's, and how many MQLs each would hand sales at today's threshold."""
    from features.persona import load_personas
    from features.snapshots import observed_until
    from models.drift import score_shift, volume_change
    from pipeline.sla_data import load_sla, personas_path
    from pipeline.sla_report import scored_open_leads
    from sla.qualify import MQL, compile_rules, qualify_frame, scores_from_probabilities

    interim = Path(params.paths.interim)
    leads, events, stages = (
        read_table(find_table(interim, table)) for table in ("leads", "events", "stages")
    )
    end = observed_until(events, stages, params.features.data_end)
    personas = load_personas(personas_path(params))
    scored = scored_open_leads(challenger, personas, params, leads, events, stages, end)
    champion_p = np.asarray(champion.predict_proba(scored), dtype=float)
    psi = score_shift(
        champion_p, scored["probability"].to_numpy(), params.drift.bins, params.drift.epsilon
    )
    agreement = load_sla(params)
    threshold = threshold_in_force(params, agreement)
    if threshold is None:
        return Stability(psi, None, None, None, None, len(scored))
    rules = compile_rules(agreement, threshold)
    as_champion = scored.assign(probability=champion_p, score=scores_from_probabilities(champion_p))
    challenger_mqls = int((qualify_frame(scored, rules)["decision"] == MQL).sum())
    champion_mqls = int((qualify_frame(as_champion, rules)["decision"] == MQL).sum())
    change = volume_change(champion_mqls, challenger_mqls)
    return Stability(psi, champion_mqls, challenger_mqls, change, threshold, len(scored))


def main(params: Params, accept_shift: str | None = None) -> dict[str, Any]:
    run = read_json(train_dir(params) / RUN_FILE)
    metrics = read_json(evaluate_dir(params) / METRICS_FILE)
    configure_mlflow(params.registry.experiment)
    ensure_run_exists(run["run_id"])

    name = params.registry.model_name
    spec = feature_spec(params.features)
    table, _ = training_rows(params, run.get("data"))  # the test rows evaluate scored
    test = time_split(
        table,
        params.features.horizon_days,
        params.train.validation_snapshots,
        params.train.test_snapshots,
    ).test
    champ_auc, champ_version, how, champion = champion_auc_on(
        test, name, [*spec.numeric, *spec.categorical]
    )

    decision = decide_promotion(
        challenger_auc=metrics["model"]["auc"],
        challenger_ece=metrics["model"]["ece"],
        champion_auc=champ_auc,
        champion_version=champ_version,
        max_ece=params.registry.max_ece,
        no_champion_note=how,
    )
    import joblib

    challenger = joblib.load(train_dir(params) / MODEL_FILE)
    differences, notes = noise_comparisons(
        params, test, [*spec.numeric, *spec.categorical], challenger, champion, champ_version
    )
    decision = gate_on_noise(decision, differences)
    stability = None
    if decision.promote and champion is not None:
        stability = stability_on_open_leads(params, challenger, champion)
    decision = gate_on_stability(
        decision,
        stability,
        params.registry.max_score_psi,
        params.registry.max_mql_volume_change,
        accept_shift,
    )
    version = register_version(run["model_uri"], name, tags={"run_id": run["run_id"]})
    if decision.promote:
        set_alias(name, CHAMPION, str(version.version))
    tags = {
        "promotion.decision": "champion" if decision.promote else "challenger-only",
        "promotion.reason": decision.reason,
    }
    if decision.accepted_shift:
        tags["promotion.accepted_shift"] = decision.accepted_shift
    if stability is not None:
        tags["promotion.score_psi"] = f"{stability.score_psi:.4f}"
        if stability.mql_change is not None:
            tags["promotion.mql_change"] = f"{stability.mql_change:.4f}"
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
        "stability": None if stability is None else asdict(stability),
        "auc_differences": [asdict(d) for d in differences],
        "notes": notes,
    }
    write_json(result, params.paths.artifacts / "register" / DECISION_FILE)
    verdict = "promoted to champion" if decision.promote else "kept as challenger"
    print(f"register: {name} v{version.version} {verdict}: {decision.reason}")
    return result
