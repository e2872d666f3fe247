"""`leadscore train-table DATA --mapping MAP`: the same calibrated model, from a flat CRM export.

Read, validate against the mapping, audit for leakage, cross-validate the model and the logistic
baseline, fit the final model on all rows, save it, log and register it in MLflow.

Evaluation is k-fold stratified cross-validation, or, when the mapping names a `time` column,
forward-chaining folds (train on the past, test on the next block), because a random split would
let next quarter's leads teach the model about this quarter's. Inside every training fold a
further hold-out (latest by time, else stratified) drives early stopping and calibration, so no
test row ever steers the model it is scored by.

The final model is a `models.propensity.LeadModel` saved with joblib at
`artifacts/train_table/<model name>/model.joblib`; its `metadata` holds `source: "table"`, the
mapping's `id_column` and `table_spec` (the resolved column types, see
`features.table_mapping.TableSpec`), so `leadscore score` prepares a new export with
`features_for_scoring(df, TableSpec.from_dict(model.metadata["table_spec"]))` and keeps the ids.

With `--tune N` (see `models.tuning`), every outer training fold runs its own Optuna search over
its own rows (nested cross-validation: the fold's test rows never guide the search, so the
reported figures stay honest), the final model runs one more search on all rows, and each model is
calibrated on its search's out-of-fold scores (cross-fitted) instead of a 20% hold-out. Every
trial becomes an MLflow child run of the training run.

With tuning, LightGBM is one of the candidates (`models.candidates`: a table logistic regression
and a non-negative blend of the two too), chosen on each training set's inner folds; every
candidate is scored on the outer test rows, `model` is each fold's choice, and the final model is
the choice on all rows: a `LeadModel`, or a `CandidateModel` with the same interface (see
docs/train-table.md).
"""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import joblib
import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedKFold, train_test_split

from features.table_mapping import PreparedTable, TableMapping, load_mapping, prepare_table
from foundation.csv_safe import write_frame_csv
from foundation.errors import ConfigError, InsufficientDataError
from foundation.io import read_table, write_json
from models import metrics
from models.baselines import fit_logistic
from models.leakage import audit_leakage, describe_flags, refuse_if_leaky, unreviewed_flags
from models.propensity import LeadModel, fit_propensity

if TYPE_CHECKING:
    from models.candidates import Candidates
    from models.tuning import SearchResult, Trial, TuneParams

# Called after every tuning trial with the study's scope ("fold-3", "final") and the trial.
TrialCallback = Callable[[str, "Trial"], None]
FINAL_SCOPE = "final"
# `--tune-minutes` without `--tune`: trials are bounded by the time budget alone.
UNBOUNDED_TRIALS = 1_000_000
# Random draws behind `ece_noise_floor`: enough for a stable mean (its spread is ~0.005/sqrt(n)).
NOISE_FLOOR_DRAWS = 200
NOISE_FLOOR_CELLS = 2_000_000  # random numbers drawn at once (16 MB)
# A fold's ECE above this quantile of the noise draws is more than chance: the report says so.
NOISE_BAND_QUANTILE = 0.95

ARTIFACTS = Path("artifacts/train_table")
MODEL_FILE = "model.joblib"
RESULT_FILE = "result.json"
INPUT_EXAMPLE_ROWS = 5
SCORE_KEYS = ("auc", "pr_auc", "log_loss", "brier", "ece", "lift_top_decile")


@dataclass(frozen=True)
class Fold:
    number: int
    train: np.ndarray  # row positions
    test: np.ndarray


def cv_folds(table: PreparedTable, folds: int, seed: int) -> Iterator[Fold]:
    """Stratified k-fold, or forward-chaining blocks by time when the mapping has `time`."""
    y = table.y
    if table.time is None:
        splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
        for i, (tr, te) in enumerate(splitter.split(np.zeros(len(y)), y), start=1):
            yield Fold(i, tr, te)
        return
    order = np.argsort(table.frame[table.time].to_numpy(), kind="stable")
    blocks = np.array_split(order, folds + 1)
    for i in range(1, folds + 1):
        yield Fold(i, np.concatenate(blocks[:i]), blocks[i])


def inner_split(
    frame: pd.DataFrame, label: str, time: str | None, fraction: float, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Training rows -> (fit, valid): valid is the latest `fraction` by time, else stratified."""
    if time is not None:
        ordered = frame.sort_values(time, kind="stable")
        cut = round(len(ordered) * (1.0 - fraction))
        return ordered.iloc[:cut], ordered.iloc[cut:]
    fit, valid = train_test_split(
        frame, test_size=fraction, stratify=frame[label], random_state=seed
    )
    return fit, valid


def fit_model(
    frame: pd.DataFrame, table: PreparedTable, mapping: TableMapping
) -> tuple[LeadModel, dict[str, Any]]:
    fit, valid = inner_split(
        frame,
        table.label,
        table.time,
        mapping.evaluation.inner_valid_fraction,
        mapping.train.seed,
    )
    spec = table.spec
    return fit_propensity(
        fit, valid, spec.model_numeric, spec.categorical, table.label, mapping.train
    )


def ece_noise_draws(
    p: np.ndarray, n_bins: int, seed: int, draws: int = NOISE_FLOOR_DRAWS
) -> np.ndarray:
    """The ECE of a perfectly calibrated model with these predictions, once per draw of labels
    from p itself: their mean is the noise floor, their upper quantile the band a fold's ECE
    may reach by chance alone.

    Vectorised over the draws: the quantile bins depend on p alone (the same `_bin_index` as
    `metrics.expected_calibration_error`), so only the per-bin label sums change per draw."""
    rng = np.random.default_rng(seed)
    p = np.asarray(p, dtype=float)
    bins = metrics._bin_index(p, n_bins, "quantile")
    counts = np.bincount(bins, minlength=n_bins).astype(float)
    used = counts > 0
    predicted = np.bincount(bins, weights=p, minlength=n_bins)[used] / counts[used]
    weights = counts[used] / counts.sum()
    errors = []
    # A few draws at a time: a (draws x rows) label matrix for a million-row table would not fit.
    step = max(1, NOISE_FLOOR_CELLS // max(len(p), 1))
    for start in range(0, draws, step):
        labels = rng.random((min(step, draws - start), len(p))) < p
        sums = np.stack([np.bincount(bins, weights=row, minlength=n_bins) for row in labels])
        errors.append(np.abs(sums[:, used] / counts[used] - predicted) @ weights)
    return np.concatenate(errors)


def ece_noise_floor(p: np.ndarray, n_bins: int, seed: int, draws: int = NOISE_FLOOR_DRAWS) -> float:
    """The ECE a perfectly calibrated model with these predictions would show on average: labels
    drawn from p itself. On a 1,800-row fold it is near 0.02, so a fold's ECE is read against it."""
    return float(np.mean(ece_noise_draws(p, n_bins, seed, draws)))


def calibration_check(y: np.ndarray, p: np.ndarray, n_bins: int, seed: int) -> dict[str, Any]:
    """Does this fold's ECE stay within what chance alone gives a calibrated model (the 95th
    percentile of `ece_noise_draws`)? When it does not, say which way: a gap between the mean
    prediction and the fold's positive rate (the base rate moved, e.g. a later period converts
    differently) or, with the means in line, a calibration curve that bends within the fold."""
    ece = metrics.expected_calibration_error(y, p, n_bins=n_bins)
    noise = ece_noise_draws(p, n_bins, seed)
    band = float(np.quantile(noise, NOISE_BAND_QUANTILE))
    predicted, observed = float(np.mean(p)), float(np.mean(y))
    out: dict[str, Any] = {
        "ece": ece,
        "ece_noise_floor": float(np.mean(noise)),
        "ece_noise_band": band,
        "within_noise": bool(ece <= band),
        "mean_predicted": predicted,
        "positive_rate": observed,
        "why": None,
    }
    if ece > band:
        if abs(predicted - observed) > band:
            out["why"] = (
                f"base rate: predicted {predicted:.1%} on average, {observed:.1%} converted "
                "(the fold's rate differs from its training rows')"
            )
        else:
            out["why"] = (
                "shape: the mean prediction matches the fold's rate, but the calibration curve "
                "bends within the fold (the calibrator was fitted on the training rows' "
                "out-of-fold scores)"
            )
    return out


def scores(y: np.ndarray, p: np.ndarray, n_bins: int) -> dict[str, float]:
    figures = metrics.summary(y, p, n_bins=n_bins)
    return {k: figures[k] for k in SCORE_KEYS}


def cross_validate(
    table: PreparedTable,
    mapping: TableMapping,
    n_bins: int = metrics.DEFAULT_N_BINS,
    *,
    tune: TuneParams | None = None,
    on_trial: TrialCallback | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, SearchResult]]:
    """Per-fold scores of the model and the logistic baseline, out-of-fold predictions, and (with
    `tune`) each fold's search, keyed `fold-<n>`: the search sees that fold's training rows only.

    With `tune`, every fold fits the candidates (`models.candidates`) on its training rows, each
    is scored on the fold's test rows (`<candidate>_auc`, ...), and `model_*` is the candidate
    that fold's inner folds chose (`chosen`): the outer figures of the whole procedure."""
    spec, frame, y = table.spec, table.frame, table.y
    rows, oof = [], []
    searches: dict[str, SearchResult] = {}
    for fold in cv_folds(table, mapping.evaluation.folds, mapping.train.seed):
        train, test = frame.iloc[fold.train], frame.iloc[fold.test]
        if y[fold.test].min() == y[fold.test].max():
            raise InsufficientDataError(
                f"fold {fold.number} has a single class in its test rows; use fewer folds"
            )
        extra: dict[str, Any] = {}
        predictions: dict[str, np.ndarray] = {}
        if tune is None:
            model, info = fit_model(train, table, mapping)
        else:
            scope = f"fold-{fold.number}"
            found = fit_candidates_on(train, table, mapping, tune, scope, on_trial)
            searches[scope] = found.search
            model, info = found.model, found.lightgbm_info
            extra["chosen"] = found.chosen
            for name, candidate in found.models.items():
                predictions[name] = candidate.predict_proba(test)
                extra |= {
                    f"{name}_{k}": v
                    for k, v in scores(y[fold.test], predictions[name], n_bins).items()
                }
                extra[f"{name}_ece_noise_floor"] = ece_noise_floor(
                    predictions[name], n_bins, mapping.train.seed
                )
                extra[f"{name}_inner_auc"] = found.inner[name].auc
                extra[f"{name}_inner_log_loss"] = found.inner[name].log_loss
        baseline = fit_logistic(
            train, spec.model_numeric, spec.categorical, table.label, mapping.train.logistic
        )
        p_model = model.predict_proba(test)
        p_base = baseline.predict_proba(test)[:, 1]
        check = calibration_check(y[fold.test], p_model, n_bins, mapping.train.seed)
        rows.append(
            {
                "fold": fold.number,
                "train_rows": len(train),
                "test_rows": len(test),
                "best_iteration": info.get("best_iteration"),
                "calibration": model.calibrator.method,
                **{f"model_{k}": v for k, v in scores(y[fold.test], p_model, n_bins).items()},
                **{f"baseline_{k}": v for k, v in scores(y[fold.test], p_base, n_bins).items()},
                "model_ece_noise_floor": check["ece_noise_floor"],
                "model_ece_noise_band": check["ece_noise_band"],
                "model_ece_within_noise": check["within_noise"],
                "model_ece_why": check["why"],
                **extra,
                **{k: v for k, v in info.items() if k.startswith("tuned_")},
            }
        )
        oof.append(
            pd.DataFrame(
                {"row": fold.test, "fold": fold.number, "label": y[fold.test]}
                | {"model": p_model, "baseline": p_base}
                | predictions
            )
        )
    return pd.DataFrame(rows), pd.concat(oof, ignore_index=True).sort_values("row"), searches


def fit_candidates_on(
    frame: pd.DataFrame,
    table: PreparedTable,
    mapping: TableMapping,
    tune: TuneParams,
    scope: str,
    on_trial: TrialCallback | None = None,
    *,
    fit_all: bool = True,
) -> Candidates:
    """The candidates searched, compared and chosen on `frame` alone (the caller decides which
    rows it holds: that is the nesting); `fit_all=False` refits only the chosen one."""
    from models.candidates import fit_candidates

    spec = table.spec
    return fit_candidates(
        frame,
        spec.model_numeric,
        spec.categorical,
        table.label,
        mapping.train,
        tune,
        mapping.candidates,
        time_column=table.time,
        on_trial=None if on_trial is None else (lambda trial: on_trial(scope, trial)),
        fit_all=fit_all,
    )


def candidates_summary(folds: pd.DataFrame, names: Sequence[str]) -> dict[str, Any]:
    """Each candidate's outer-fold figures (mean, std) and how many folds chose it."""
    chosen = folds["chosen"].tolist()
    out: dict[str, Any] = {}
    for name in names:
        figures = summarise(folds, name)
        figures["ece_noise_floor_mean"] = float(folds[f"{name}_ece_noise_floor"].mean())
        figures["inner_auc_mean"] = float(folds[f"{name}_inner_auc"].mean())
        figures["chosen_in_folds"] = chosen.count(name)
        out[name] = figures
    return out


def fold_calibration(folds: pd.DataFrame) -> dict[str, Any]:
    """Which folds' ECE is beyond chance for the reported model, and why (`calibration_check`)."""
    missed = folds.loc[~folds["model_ece_within_noise"].astype(bool)]
    return {
        "folds_within_noise": int(len(folds) - len(missed)),
        "folds": len(folds),
        "misses": [
            {
                "fold": int(row["fold"]),
                "ece": float(row["model_ece"]),
                "ece_noise_band": float(row["model_ece_noise_band"]),
                "why": row["model_ece_why"],
            }
            for _, row in missed.iterrows()
        ],
    }


def summarise(folds: pd.DataFrame, prefix: str) -> dict[str, float]:
    """Mean and standard deviation over folds (population std, as most CV reports give it)."""
    out: dict[str, float] = {}
    for key in SCORE_KEYS:
        values = folds[f"{prefix}_{key}"].to_numpy(dtype=float)
        out[f"{key}_mean"] = float(np.mean(values))
        out[f"{key}_std"] = float(np.std(values))
    return out


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


def train_table(
    data: Path,
    mapping_path: Path,
    *,
    strict: bool = False,
    model_name: str | None = None,
    artifacts: Path = ARTIFACTS,
    log: bool = True,
    tune: TuneParams | None = None,
    on_trial: TrialCallback | None = None,
) -> dict[str, Any]:
    """The whole command without printing: returns the result dict (see `main`).

    `tune`: search LightGBM's parameters inside every outer fold and once more on all rows for the
    final model (nested; see the module docstring). `on_trial` hears about every trial."""
    mapping = load_mapping(mapping_path)
    if log and tune is not None:
        # Import the tracking stack before a search that may run for many minutes, so a broken
        # install fails now, and a package swapped on disk meanwhile cannot break the import.
        import mlflow  # noqa: F401
    source = Path(data).name
    table = prepare_table(read_table(data), mapping, source)
    spec = table.spec

    audit = audit_leakage(
        table.frame,
        table.y,
        spec.model_numeric,
        spec.categorical,
        mapping.leakage,
        mapping.train.seed,
    )
    if strict:
        refuse_if_leaky(audit, str(mapping_path))

    folds, oof, searches = cross_validate(table, mapping, tune=tune, on_trial=on_trial)
    final: Candidates | None = None
    if tune is None:
        model, fit_info = fit_model(table.frame, table, mapping)
    else:
        final = fit_candidates_on(
            table.frame, table, mapping, tune, FINAL_SCOPE, on_trial, fit_all=False
        )
        searches[FINAL_SCOPE] = final.search
        model = final.model
        best_trial = next(t for t in final.search.trials if t.number == final.search.best_trial)
        fit_info = {
            # The search's best parameters whichever candidate won: the trees are what a later
            # run would start from, and the blend holds them.
            **{f"tuned_{k}": getattr(final.search.best, k) for k in best_trial.params},
            **final.lightgbm_info,
            "chosen": final.chosen,
            "calibration": model.calibrator.method,
        }
    name = model_name_for(mapping, mapping_path, model_name)
    model = dataclasses.replace(
        model,
        metadata={
            "source": "table",
            "model_name": name,
            "id_column": mapping.id,
            "label": mapping.label,
            "channel": mapping.channel,
            "persona": mapping.persona,
            "table_spec": spec.as_dict(),
            "data": str(data),
            "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
            **({} if final is None else {"candidate": final.chosen}),
        },
    )
    out_dir = Path(artifacts) / name
    out_dir.mkdir(parents=True, exist_ok=True)
    model_path = out_dir / MODEL_FILE
    joblib.dump(model, model_path)

    result: dict[str, Any] = {
        "data": str(data),
        "mapping": str(mapping_path),
        "rows": len(table.frame),
        "positive_rate": float(table.y.mean()),
        "evaluation": (
            f"{mapping.evaluation.folds}-fold forward-chaining by {table.time}"
            if table.time
            else f"{mapping.evaluation.folds}-fold stratified"
        ),
        "model": summarise(folds, "model"),
        # All out-of-fold predictions pooled: five times the rows of a fold, so its ECE is read
        # against a noise floor near 0.01 instead of 0.02.
        "model_pooled": {
            "ece": metrics.expected_calibration_error(oof["label"], oof["model"]),
            "ece_noise_floor": ece_noise_floor(
                oof["model"], metrics.DEFAULT_N_BINS, mapping.train.seed
            ),
            "auc": metrics.roc_auc(oof["label"], oof["model"]),
        },
        "baseline": summarise(folds, "baseline"),
        "candidates": None
        if tune is None
        else candidates_summary(folds, mapping.candidates.models),
        "chosen": None if final is None else final.summary(),
        "calibration": fold_calibration(folds),
        "folds": folds.to_dict(orient="records"),
        "features": {
            "numeric": list(spec.numeric),
            "boolean": list(spec.boolean),
            "categorical": list(spec.categorical),
        },
        "dropped": table.dropped,
        "leakage": {
            "flagged": describe_flags(audit),
            "unreviewed": unreviewed_flags(audit)["column"].tolist(),
            "audit": audit.to_dict(orient="records"),
        },
        "final_fit": fit_info,
        "tuning": None if tune is None else tuning_summary(tune, searches),
        "model_name": name,
        "model_path": str(model_path),
    }
    # Written before logging too: the figures of a long tuned run survive a tracking failure.
    write_json(result, out_dir / RESULT_FILE)
    if log:
        result["mlflow"] = log_and_register(
            model_name=name,
            mapping=mapping,
            mapping_path=Path(mapping_path),
            data=Path(data),
            table=table,
            result=result,
            folds=folds,
            oof=oof,
            audit=audit,
            model_path=model_path,
            out_dir=out_dir,
            searches=searches,
            tune=tune,
        )
    write_json(result, out_dir / RESULT_FILE)
    return result


def tuning_summary(tune: TuneParams, searches: dict[str, SearchResult]) -> dict[str, Any]:
    """Per search: trials run, the best trial, its inner-CV log loss and parameters."""
    return {
        "settings": tune.model_dump(mode="json"),
        "searches": {
            scope: {
                "trials": len(found.trials),
                "best_trial": found.best_trial,
                "best_inner_log_loss": min(t.log_loss for t in found.trials),
                "configured_inner_log_loss": found.trials[0].log_loss,
                "best_iteration": found.best_iteration,
                "best_params": found.trials[
                    [t.number for t in found.trials].index(found.best_trial)
                ].params,
            }
            for scope, found in searches.items()
        },
    }


def format_report(result: dict[str, Any]) -> str:
    """What a person reads after the run: the two headline numbers, leakage, where things went."""
    m, b = result["model"], result["baseline"]
    lines = [
        f"{result['rows']} leads, {result['positive_rate']:.1%} positive; {result['evaluation']}",
        f"model    AUC {m['auc_mean']:.3f} ± {m['auc_std']:.3f}   PR AUC {m['pr_auc_mean']:.3f}"
        f"   log loss {m['log_loss_mean']:.3f}   ECE {m['ece_mean']:.3f}",
        f"logistic AUC {b['auc_mean']:.3f} ± {b['auc_std']:.3f}   PR AUC {b['pr_auc_mean']:.3f}"
        f"   log loss {b['log_loss_mean']:.3f}   ECE {b['ece_mean']:.3f}",
    ]
    pooled = result["model_pooled"]
    lines.append(
        f"pooled out-of-fold: AUC {pooled['auc']:.3f}   ECE {pooled['ece']:.3f} "
        f"(a perfectly calibrated model would show {pooled['ece_noise_floor']:.3f})"
    )
    lines.append("fold  AUC    ECE    ECE floor" + ("  chosen" if result.get("candidates") else ""))
    for fold in result["folds"]:
        lines.append(
            f"{fold['fold']:>4}  {fold['model_auc']:.3f}  {fold['model_ece']:.3f}  "
            f"{fold['model_ece_noise_floor']:.3f}"
            + (f"      {fold['chosen']}" if result.get("candidates") else "")
        )
    for miss in result["calibration"]["misses"]:
        lines.append(
            f"fold {miss['fold']}: ECE {miss['ece']:.3f} is beyond chance "
            f"(95% of calibrated draws stay under {miss['ece_noise_band']:.3f}); {miss['why']}"
        )
    if result.get("candidates"):
        lines.append("candidate  AUC (outer folds)  ECE    ECE floor  inner AUC  chosen in folds")
        for cname, c in result["candidates"].items():
            lines.append(
                f"{cname:<9}  {c['auc_mean']:.3f} ± {c['auc_std']:.3f}      "
                f"{c['ece_mean']:.3f}  {c['ece_noise_floor_mean']:.3f}      "
                f"{c['inner_auc_mean']:.3f}      {c['chosen_in_folds']}"
            )
        lines.append(
            f"final model: {result['chosen']['chosen']} (chosen on inner folds of all rows)"
        )
    if result.get("tuning"):
        final = result["tuning"]["searches"][FINAL_SCOPE]
        lines.append(
            f"tuned: {final['trials']} trials per search; final model: inner log loss "
            f"{final['best_inner_log_loss']:.4f} (configured parameters "
            f"{final['configured_inner_log_loss']:.4f}), "
            + ", ".join(f"{k} {v:.4g}" for k, v in final["best_params"].items())
        )
    lines.append(f"model saved to {result['model_path']}")
    if "mlflow" in result:
        ml = result["mlflow"]
        lines.append(
            f"MLflow run {ml['run_id']} ({ml['tracking_uri']}); registered "
            f"{ml['registered_model']} version {ml['version']} ({', '.join(ml['aliases'])})"
        )
    return "\n".join(lines)


def tune_settings(trials: int | None, minutes: float | None, searches: int) -> TuneParams | None:
    """The CLI flags as `TuneParams`: --tune N trials per search; --tune-minutes M for the whole
    command, shared evenly by the `searches` (one per outer fold plus the final one). Minutes
    alone means: as many trials as fit."""
    if trials is None and minutes is None:
        return None
    from models.tuning import TuneParams, require_optuna

    require_optuna()
    if trials is not None and trials < 1:
        raise ConfigError(f"--tune: give at least 1 trial, got {trials}")
    if minutes is not None and minutes <= 0:
        raise ConfigError(f"--tune-minutes: give a positive number of minutes, got {minutes}")
    settings: dict[str, Any] = {}
    if trials is not None:
        settings["trials"] = trials
    elif minutes is not None:
        settings["trials"] = UNBOUNDED_TRIALS
    if minutes is not None:
        settings["timeout_seconds"] = minutes * 60.0 / searches
    return TuneParams(**settings)


@contextmanager
def tuning_progress(tune: TuneParams, searches: int) -> Iterator[TrialCallback]:
    """A rich progress bar on stderr, one tick per trial, showing the search and its best so far.

    When stderr is not a terminal (cron, CI logs) rich draws no bar, so each finished search gets
    one plain line instead: a log shows where the time went without a line per trial."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console(stderr=True)
    total = None if tune.trials >= UNBOUNDED_TRIALS else tune.trials * searches
    best: dict[str, float] = {}
    count: dict[str, int] = {}
    reported: set[str] = set()

    def finished(scope: str) -> None:
        if scope in reported:
            return
        reported.add(scope)
        if not console.is_terminal:
            stamp = datetime.now(UTC).strftime("%H:%M:%S")
            print(
                f"{stamp} tuning {scope}: {count[scope]} trials, "
                f"best inner log loss {best[scope]:.4f}",
                file=sys.stderr,
                flush=True,
            )

    with Progress(
        TextColumn("tuning {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as progress:
        task = progress.add_task("", total=total)

        def on_trial(scope: str, trial: Trial) -> None:
            if best and scope not in best:
                finished(next(reversed(best)))
            best[scope] = min(best.get(scope, float("inf")), trial.log_loss)
            count[scope] = count.get(scope, 0) + 1
            progress.update(
                task,
                advance=1,
                description=f"{scope}: trial {trial.number}, best inner log loss {best[scope]:.4f}",
            )
            if count[scope] == tune.trials:  # else (time budget) when the next search starts
                finished(scope)

        yield on_trial
        if best:
            finished(next(reversed(best)))


def warn_leakage(result: dict[str, Any]) -> None:
    """Leakage warnings go to stderr, so `--json` output on stdout stays parseable."""
    flagged = result["leakage"]["flagged"]
    if flagged:
        print("leakage audit: columns that may give the outcome away:", file=sys.stderr)
        for line in flagged:
            print(f"  {line}", file=sys.stderr)
        if result["leakage"]["unreviewed"]:
            print(
                "  exclude them in the mapping if sales fills them in after contact, or list "
                "them under leakage.reviewed (`--strict` refuses to train until you do)",
                file=sys.stderr,
            )


def main(
    data: Path,
    mapping: Path,
    *,
    strict: bool = False,
    model_name: str | None = None,
    as_json: bool = False,
    artifacts: Path = ARTIFACTS,
    log: bool = True,
    tune_trials: int | None = None,
    tune_minutes: float | None = None,
) -> dict[str, Any]:
    """Run `train_table` and print the report (or the result as JSON); return the result.

    Tracking URI: env MLFLOW_TRACKING_URI, default sqlite:///mlflow.db in the current directory.
    `tune_trials` / `tune_minutes` switch tuning on; progress goes to stderr (rich), so `--json`
    on stdout stays parseable.
    """
    searches = load_mapping(mapping).evaluation.folds + 1  # one per outer fold, one final
    tune = tune_settings(tune_trials, tune_minutes, searches)
    if tune is None:
        result = train_table(
            data, mapping, strict=strict, model_name=model_name, artifacts=artifacts, log=log
        )
    else:
        with tuning_progress(tune, searches) as on_trial:
            result = train_table(
                data,
                mapping,
                strict=strict,
                model_name=model_name,
                artifacts=artifacts,
                log=log,
                tune=tune,
                on_trial=on_trial,
            )
    warn_leakage(result)
    print(json.dumps(result, default=str) if as_json else format_report(result))
    return result
