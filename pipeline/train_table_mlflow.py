"""`leadscore train-table`'s record in MLflow: the training run with its figures, folds, model and
input example, every tuning trial as a child run, and the model registered under its name.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from features.table_mapping import PreparedTable, TableMapping
from foundation.csv_safe import write_frame_csv
from models import metrics

if TYPE_CHECKING:
    from models.tuning import SearchResult, TuneParams
INPUT_EXAMPLE_ROWS = 5


def model_name_for(mapping: TableMapping, mapping_path: Path, override: str | None) -> str:
    """Flag, else the mapping's `model_name`, else the mapping file's name (x_education ->
    `x-education`): each table gets its own registered model, never the pipeline's."""
    return override or mapping.model_name or Path(mapping_path).stem.replace("_", "-")


def log_and_register(
    *,
    model_name: str,
    mapping: TableMapping,
    mapping_path: Path,
    data: Path,
    table: PreparedTable,
    result: dict[str, Any],
    folds: pd.DataFrame,
    oof: pd.DataFrame,
    audit: pd.DataFrame,
    model_path: Path,
    out_dir: Path,
    searches: dict[str, SearchResult] | None = None,
    tune: TuneParams | None = None,
) -> dict[str, Any]:
    """One MLflow run (params, data, CV metrics, plots, the servable model) and a new version of
    `model_name` with alias `challenger`; the first version also becomes `champion`. With tuning,
    every trial of every search is a child run (tag `leadscore.tune.scope`: `fold-<n>`/`final`)."""
    import mlflow

    from models.plots import curve_plot, reliability_plot
    from models.pyfunc import MODEL_ARTIFACT, LeadPropensityModel, model_signature
    from models.registry import CHAMPION, champion_version, register_version, set_alias
    from models.tracking import configure_mlflow, file_sha256, flatten, log_numeric_metrics

    uri = configure_mlflow(mapping.experiment)
    spec = table.spec
    plots = out_dir / "plots"
    curve_plot(
        {n: metrics.roc_points(oof["label"], oof[n]) for n in ("model", "baseline")},
        "fpr", "tpr", "ROC (out of fold)", plots / "roc.png", diagonal=True,
    )  # fmt: skip
    curve_plot(
        {n: metrics.pr_points(oof["label"], oof[n]) for n in ("model", "baseline")},
        "recall", "precision", "Precision-recall (out of fold)", plots / "pr.png",
    )  # fmt: skip
    reliability_plot(
        {n: metrics.reliability_bins(oof["label"], oof[n]) for n in ("model", "baseline")},
        plots / "reliability.png",
    )
    write_frame_csv(folds, out_dir / "cv_folds.csv")
    write_frame_csv(audit, out_dir / "leakage_audit.csv")

    with mlflow.start_run(run_name=f"train-table-{model_name}") as run:
        mlflow.set_tags(
            {
                "leadscore.stage": "train-table",
                "leadscore.source": "table",
                "leadscore.model_name": model_name,
                "leadscore.leakage_flags": ", ".join(audit.loc[audit["flagged"], "column"]),
            }
        )
        mlflow.log_params(flatten(mapping.model_dump(mode="json", exclude={"train"})))
        mlflow.log_params(flatten(mapping.train.model_dump(mode="json"), "train."))
        mlflow.log_params(
            {
                "data.path": str(data),
                "data.sha256": file_sha256(data),
                "data.rows": len(table.frame),
                "data.positive_rate": round(float(table.y.mean()), 6),
                "data.features": len(spec.model_numeric) + len(spec.categorical),
                "evaluation.scheme": result["evaluation"],
            }
        )
        log_numeric_metrics({"model": result["model"], "baseline": result["baseline"]}, "cv.")
        if result.get("candidates"):
            log_numeric_metrics(result["candidates"], "cv.candidates.")
            mlflow.set_tag("leadscore.candidate", result["chosen"]["chosen"])
        log_numeric_metrics(result["final_fit"], "fit.")
        if searches and tune is not None:
            mlflow.log_params(flatten(tune.model_dump(mode="json"), "tune."))
            log_trials(run.info.run_id, run.info.experiment_id, searches)
        mlflow.log_artifact(str(mapping_path), "mapping")
        for path in (out_dir / "cv_folds.csv", out_dir / "leakage_audit.csv", *plots.glob("*")):
            mlflow.log_artifact(str(path), "evaluation")
        columns = [*spec.model_numeric, *spec.categorical]
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=LeadPropensityModel(),
            artifacts={MODEL_ARTIFACT: str(model_path)},
            signature=model_signature(spec.model_numeric, spec.categorical),
            input_example=table.frame[columns].head(INPUT_EXAMPLE_ROWS),
        )
    first = champion_version(model_name) is None
    version = register_version(
        info.model_uri,
        model_name,
        tags={"leadscore.source": "table", "cv.auc_mean": f"{result['model']['auc_mean']:.4f}"},
    )
    if first:
        set_alias(model_name, CHAMPION, version.version)
    return {
        "run_id": run.info.run_id,
        "tracking_uri": uri,
        "model_uri": info.model_uri,
        "registered_model": model_name,
        "version": str(version.version),
        "aliases": ["challenger", *(["champion"] if first else [])],
    }


def log_trials(parent_run_id: str, experiment_id: str, searches: dict[str, SearchResult]) -> None:
    """Each trial as a finished child run of the training run: its parameters, inner-CV log loss
    and AUC, rounds and seconds. One batch call per trial keeps a 200-trial run to seconds."""
    from mlflow.entities import Metric, Param, RunTag
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    now = int(datetime.now(UTC).timestamp() * 1000)
    for scope, found in searches.items():
        for trial in found.trials:
            child = client.create_run(
                experiment_id,
                run_name=f"{scope}-trial-{trial.number}",
                tags={"mlflow.parentRunId": parent_run_id},
            )
            values = {
                "inner_log_loss": trial.log_loss,
                "inner_auc": trial.auc,
                "best_iteration": float(trial.best_iteration),
                "seconds": trial.seconds,
            }
            client.log_batch(
                child.info.run_id,
                metrics=[Metric(k, float(v), now, 0) for k, v in values.items()],
                params=[Param(k, str(v)) for k, v in trial.params.items()],
                tags=[
                    RunTag("leadscore.stage", "train-table-tune"),
                    RunTag("leadscore.tune.scope", scope),
                    RunTag("leadscore.tune.trial", str(trial.number)),
                    RunTag("leadscore.tune.best", str(trial.number == found.best_trial).lower()),
                ],
            )
            client.set_terminated(child.info.run_id)
