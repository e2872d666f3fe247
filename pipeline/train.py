"""DVC stage `train`: fit the calibrated propensity model and the logistic baseline on a
time-ordered split, save them, and open the MLflow run that evaluate and register extend.

The run id goes to artifacts/train/run.json, an uncached DVC output: that keeps DVC from
restoring this stage from its run cache (which would skip logging the MLflow run), and lets
the later stages check that the run they extend really exists in the tracking store.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd

from features.build import FeatureSpec, feature_spec
from features.calendar import is_calendar
from features.persona import load_personas
from foundation.errors import InsufficientDataError
from foundation.io import write_json
from foundation.params import Params
from models.baselines import fit_logistic
from models.drift import (
    REFERENCE_PROFILE,
    REFERENCE_PROFILE_ARTIFACT,
    reference_profile,
    scored_population,
)
from models.horizon import fit_month_calibration
from models.propensity import LeadModel, fit_propensity
from models.split import TimeSplit, time_split
from models.tracking import configure_mlflow, file_sha256, flatten
from models.window import choose_window
from pipeline.layout import (
    LOGISTIC_FILE,
    MODEL_FILE,
    RUN_FILE,
    SPLIT_FILE,
    train_dir,
    training_table_path,
)
from pipeline.training_rows import exclusion_info, exclusion_lines, training_rows

LABEL = "label"
LABEL_MONTH = "label_month"  # features.snapshots.LABEL_MONTH: calibrates the monthly SQL forecast
INPUT_EXAMPLE_ROWS = 5


def check_enough_data(split: TimeSplit, min_positives: int) -> None:
    """Refuse to train on too few positives: the model would be noise with a confident face."""
    for part in ("train", "valid"):
        frame = getattr(split, part)
        positives = int(frame[LABEL].sum())
        if positives < min_positives:
            raise InsufficientDataError(
                f"{part} split has {positives} positive rows (label=1) in {len(frame)} rows; "
                f"at least train.min_positives={min_positives} are needed. Add history "
                "(more leads or months) or lower train.min_positives knowingly."
            )


def dataset_info(table: pd.DataFrame, split: TimeSplit, table_path: Path) -> dict[str, Any]:
    snapshots = sorted(pd.to_datetime(table["snapshot"], utc=True).unique())
    return {
        "rows": len(table),
        "positive_rate": round(float(table[LABEL].mean()), 6),
        "first_snapshot": snapshots[0].date().isoformat(),
        "last_snapshot": snapshots[-1].date().isoformat(),
        "sha256": file_sha256(table_path),
        **{f"{name}_rows": len(getattr(split, name)) for name in ("train", "valid", "test")},
        **{
            f"{name}_positive_rate": round(float(getattr(split, name)[LABEL].mean()), 6)
            for name in ("train", "valid", "test")
        },
    }


def loggable_params(params: Params) -> dict[str, Any]:
    """The params a run records. Pattern-keyed maps (train.monotone) become one JSON value:
    MLflow param names may not hold the `*` and `[` of a pattern."""
    dumped = params.model_dump(mode="json", include={"features", "train", "simulate"})
    dumped["train"]["monotone"] = json.dumps(dumped["train"]["monotone"])
    return dumped


# The logged model's environment, pinned to the versions that trained it. Given explicitly:
# MLflow's default infers it by starting a Python that re-imports the model and all it touches,
# ~20 s of a 135 s train stage on a loaded 2-core machine here (issue 15).
MODEL_PACKAGES = (
    "mlflow",
    "cloudpickle",
    "numpy",
    "pandas",
    "scikit-learn",
    "scipy",
    "lightgbm",
    "joblib",
    "pydantic",
)


def pip_requirements() -> list[str]:
    """`package==version` for each of MODEL_PACKAGES, as installed here."""
    from importlib.metadata import version

    return [f"{name}=={version(name)}" for name in MODEL_PACKAGES]


def log_run(
    params: Params,
    fit_info: dict[str, Any],
    data: dict[str, Any],
    example: pd.DataFrame,
    model_path: Path,
) -> dict[str, Any]:
    """One MLflow run per retrain: params, dataset, fit info and the servable model."""
    import mlflow

    from models.pyfunc import MODEL_ARTIFACT, LeadPropensityModel, model_signature

    uri = configure_mlflow(params.registry.experiment)
    spec = feature_spec(params.features)
    with mlflow.start_run(run_name=f"retrain-{data['last_snapshot']}") as run:
        mlflow.set_tags(
            {"leadscore.stage": "train", "leadscore.target": params.features.target_stage}
        )
        mlflow.log_params(flatten(loggable_params(params)))
        mlflow.log_params({f"data.{k}": v for k, v in data.items()})
        dataset = mlflow.data.from_pandas(
            example.head(0), name="training_table", digest=data["sha256"][:16]
        )
        mlflow.log_input(dataset, context="training")
        mlflow.log_metrics(
            {f"fit.{k}": float(v) for k, v in fit_info.items() if isinstance(v, int | float)}
        )
        mlflow.set_tag("fit.calibration", str(fit_info.get("calibration")))
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=LeadPropensityModel(),
            artifacts={MODEL_ARTIFACT: str(model_path)},
            signature=model_signature(spec.numeric, spec.categorical),
            input_example=example,
            pip_requirements=pip_requirements(),
        )
    return {
        "run_id": run.info.run_id,
        "experiment_id": run.info.experiment_id,
        "model_uri": info.model_uri,
        "tracking_uri": uri,
        "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def training_reference(
    model: Any, valid: pd.DataFrame, spec: FeatureSpec, params: Params
) -> dict[str, Any]:
    """The population this model was fitted and calibrated on, as frozen bins (models/drift.py).

    The validation rows are the latest population the model saw, scored out of sample: the
    score deciles there are what the same population would get today if nothing had moved.
    Only the rows of the population the daily run scores (models.drift.scored_population).
    """
    valid = valid[scored_population(valid)]
    columns = [*spec.numeric, *spec.categorical]
    scores = np.asarray(model.predict_proba(valid[columns]), dtype=float)
    # Calendar features are one value per day by construction: no population drift to watch.
    profiled = [name for name in spec.numeric if not is_calendar(name)]
    return reference_profile(
        valid,
        profiled,
        spec.categorical,
        scores,
        n_bins=params.drift.bins,
        top_categories=params.drift.top_categories,
        cells=params.drift.cells,
        min_cell_rows=params.drift.min_cell_rows,
    )


def log_reference_profile(run_id: str, profile: dict[str, Any]) -> None:
    import mlflow

    with mlflow.start_run(run_id=run_id):
        mlflow.log_dict(profile, REFERENCE_PROFILE_ARTIFACT)


def fit_model(
    split: TimeSplit, spec: FeatureSpec, params: Params, metadata: dict[str, Any]
) -> tuple[LeadModel, dict[str, Any]]:
    """The calibrated propensity model: one fit on every training snapshot, or, when
    `train.window_snapshots` lists windows, the window whose model ranks the validation snapshots
    best (models/window.py; the test snapshots are not passed)."""

    def fit(train: pd.DataFrame, valid: pd.DataFrame) -> tuple[LeadModel, dict[str, Any]]:
        return fit_propensity(
            train, valid, spec.numeric, spec.categorical, LABEL, params.train, metadata=metadata
        )

    windows = params.train.window_snapshots
    if not windows:
        return fit(split.train, split.valid)
    columns = [*spec.numeric, *spec.categorical]
    choice = choose_window(
        split.train, split.valid, windows, fit, lambda m, v: m.raw_score(v[columns]), LABEL
    )
    aucs = ", ".join(f"{n or 'all'} {auc:.4f}" for n, auc in choice.valid_auc.items())
    kept = choice.window or "all"
    print(f"training window (latest snapshots: validation AUC): {aucs}; kept {kept}")
    return choice.model, {**choice.info, **choice.summary()}


def main(params: Params) -> dict[str, Any]:
    table_path = training_table_path(params)
    table, exclusion = training_rows(params)  # less train.exclude_leads' leads
    for line in exclusion_lines(params, exclusion):
        print(line)
    spec = feature_spec(params.features)
    split = time_split(
        table,
        params.features.horizon_days,
        params.train.validation_snapshots,
        params.train.test_snapshots,
    )
    check_enough_data(split, params.train.min_positives)
    tested = split.describe()["test"]["snapshots"]
    print(
        f"train: {len(split.train)} rows / valid: {len(split.valid)} / test: {len(split.test)} "
        f"(test snapshot {' .. '.join(dict.fromkeys(tested[:1] + tested[-1:]))})"
    )

    personas = load_personas(params.paths.interim / "personas.yaml")
    # What the scorer needs to rebuild the same features: it prefers these to the files.
    metadata = {
        "source": "pipeline",
        "target_stage": params.features.target_stage,
        "feature_params": params.features.model_dump(mode="json"),
        "personas": personas.model_dump(mode="json"),
    }
    model, fit_info = fit_model(split, spec, params, metadata)
    if LABEL_MONTH in split.valid.columns:  # tables built before the month label lack it
        fit_info["month_calibration"] = fit_month_calibration(model, split.valid, LABEL_MONTH)
    # Frozen with the model: what later drift checks compare today's open leads with.
    model.metadata[REFERENCE_PROFILE] = training_reference(model, split.valid, spec, params)
    logistic = fit_logistic(
        split.train, spec.numeric, spec.categorical, LABEL, params.train.logistic
    )

    out = train_dir(params)
    out.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, out / MODEL_FILE)
    joblib.dump(logistic, out / LOGISTIC_FILE)
    write_json(split.describe(), out / SPLIT_FILE)

    columns = [*spec.numeric, *spec.categorical]
    example = split.valid[columns].head(INPUT_EXAMPLE_ROWS)
    data = dataset_info(table, split, table_path) | exclusion_info(params, exclusion)
    run = log_run(params, fit_info, data, example, out / MODEL_FILE)
    log_reference_profile(run["run_id"], model.metadata[REFERENCE_PROFILE])
    run.update({"fit": fit_info, "data": data})
    write_json(run, out / RUN_FILE)
    print(
        f"model: best iteration {fit_info.get('best_iteration')}, calibration "
        f"{fit_info.get('calibration')}; MLflow run {run['run_id']} ({run['tracking_uri']})"
    )
    return run
