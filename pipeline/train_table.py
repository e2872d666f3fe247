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
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import joblib

from features.table_mapping import load_mapping, prepare_table
from foundation.errors import ConfigError
from foundation.io import read_table, write_json
from models import metrics
from models.leakage import audit_leakage, describe_flags, refuse_if_leaky, unreviewed_flags
from pipeline.train_table_cv import (
    TrialCallback,
    candidates_summary,
    cross_validate,
    ece_noise_floor,
    fit_candidates_on,
    fit_model,
    fold_calibration,
    summarise,
)
from pipeline.train_table_mlflow import log_and_register, model_name_for

if TYPE_CHECKING:
    from models.candidates import Candidates
    from models.tuning import SearchResult, Trial, TuneParams

FINAL_SCOPE = "final"
# `--tune-minutes` without `--tune`: trials are bounded by the time budget alone.
UNBOUNDED_TRIALS = 1_000_000

ARTIFACTS = Path("artifacts/train_table")
MODEL_FILE = "model.joblib"
RESULT_FILE = "result.json"


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
