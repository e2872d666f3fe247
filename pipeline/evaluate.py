"""DVC stage `evaluate`: the test snapshot scored by the model, both baselines and (for
simulated data) the ceiling; metrics JSON and plot data for DVC, PNG plots for MLflow.

Every model is judged on the same rows, the latest complete snapshot, which none of them saw.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd

from foundation.io import read_json, read_table, write_json, write_table
from foundation.params import Params
from models import metrics as m
from models.baselines import points_calibrator, points_score
from models.explain import shap_summary
from models.plots import bar_plot, curve_plot, reliability_plot
from models.split import time_split
from models.tracking import configure_mlflow, log_numeric_metrics
from pipeline.layout import (
    LOGISTIC_FILE,
    METRICS_FILE,
    MODEL_FILE,
    RUN_FILE,
    evaluate_dir,
    train_dir,
)
from pipeline.train import LABEL
from pipeline.training_rows import training_rows

MODELS = ("model", "logistic", "points")
TOP_FEATURES = 20
TRUTH_FILE = "truth.parquet"
EVALUATION_FILES = (
    "feature_importance.csv",
    "shap_summary.csv",
    "test_predictions.parquet",
    METRICS_FILE,
)


def attach_truth(test: pd.DataFrame, truth_dir: Path, params: Params) -> pd.Series | None:
    """The simulator's true probability for each test row, when it is comparable.

    The truth is P(reach sql within the simulator's horizon); it says nothing about another
    target stage or horizon, so the ceiling is then left out rather than misreported.
    """
    path = truth_dir / TRUTH_FILE
    same_question = (
        params.features.target_stage == "sql"
        and params.features.horizon_days == params.simulate.horizon_days
    )
    if not path.exists() or not same_question:
        return None
    truth = read_table(path)[["lead_id", "snapshot", "p_true"]]
    keys = test[["lead_id", "snapshot"]].assign(
        snapshot=lambda d: pd.to_datetime(d["snapshot"], utc=True)
    )
    truth = truth.assign(snapshot=pd.to_datetime(truth["snapshot"], utc=True))
    joined = keys.merge(truth, on=["lead_id", "snapshot"], how="left")
    return joined["p_true"]


def sla_selection(
    params: Params, test: pd.DataFrame, p_model: np.ndarray, model: Any = None
) -> tuple[float, np.ndarray] | None:
    """The agreement's MQL threshold (fixed, or `auto` resolved on the test snapshot against
    the SQL target and capacity) and which test leads the MQL rule would hand to sales.

    Precision and recall of that selection are what both teams signed up to, so they are
    measured with the rule itself (exclusions and fit minimum included), not a bare cut-off.
    """
    from models.horizon import month_probability
    from pipeline.sla_data import load_history, load_sla, targets_from_files
    from pipeline.sla_report import PROBABILITY_MONTH, lead_arrivals, resolve_threshold
    from sla.qualify import compile_rules, qualify_frame, scores_from_probabilities

    if not params.paths.sla.exists():
        return None
    agreement = load_sla(params)
    targets = targets_from_files(params)
    scored = test.assign(probability=p_model, score=scores_from_probabilities(p_model))
    # The same month forecast as the SLA report: month probabilities plus the month's arrivals.
    month = month_probability(model, test) if model is not None else None
    arrivals = 0.0
    if month is not None:
        scored[PROBABILITY_MONTH] = month
        history = load_history(params)
        as_of = pd.Timestamp(test["snapshot"].iloc[0])
        as_of = as_of.tz_localize("UTC") if as_of.tzinfo is None else as_of
        arrivals = lead_arrivals(agreement, history.leads, history.stages, as_of).expected_sqls
    threshold, _result, _curve = resolve_threshold(agreement, targets, scored, arrivals)
    decided = qualify_frame(scored, compile_rules(agreement, threshold))
    return threshold, (decided["decision"] == "mql").to_numpy()


def score_all(
    split_train: pd.DataFrame, test: pd.DataFrame, model: Any, logistic: Any, params: Params
) -> dict[str, np.ndarray]:
    points_train = points_score(split_train, params.train.points)
    calibrate_points = points_calibrator(points_train, split_train[LABEL].to_numpy())
    return {
        "model": model.predict_proba(test),
        "logistic": logistic.predict_proba(test)[:, 1],
        # Points ranked as marketing tools do, mapped to a probability only for LL/ECE.
        "points": calibrate_points(points_score(test, params.train.points)),
    }


def curves(
    y: np.ndarray, scores: dict[str, np.ndarray], n_bins: int
) -> dict[str, dict[str, pd.DataFrame]]:
    return {
        "roc": {k: m.roc_points(y, p) for k, p in scores.items()},
        "pr": {k: m.pr_points(y, p) for k, p in scores.items()},
        "calibration": {k: m.reliability_bins(y, p, n_bins) for k, p in scores.items()},
        "gains": {k: m.cumulative_gains(y, p) for k, p in scores.items()},
    }


def write_plots(
    out: Path,
    curve_data: dict[str, dict[str, pd.DataFrame]],
    importance: pd.DataFrame,
    shap: pd.DataFrame,
) -> list[Path]:
    for kind, per_model in curve_data.items():
        for name, frame in per_model.items():
            write_table(frame, out / "plots" / kind / f"{name}.csv")
    images = out / "images"
    top_gain = importance.head(TOP_FEATURES)
    top_shap = shap.head(TOP_FEATURES)
    return [
        curve_plot(curve_data["roc"], "fpr", "tpr", "ROC", images / "roc.png", diagonal=True),
        curve_plot(curve_data["pr"], "recall", "precision", "Precision-recall", images / "pr.png"),
        reliability_plot(curve_data["calibration"], images / "calibration.png"),
        curve_plot(
            curve_data["gains"],
            "fraction_contacted",
            "fraction_captured",
            "Cumulative gains",
            images / "gains.png",
            diagonal=True,
        ),
        bar_plot(top_gain, "feature", "gain", "Feature importance", images / "importance.png"),
        bar_plot(
            top_shap,
            "feature",
            "mean_abs_contribution",
            "SHAP summary (mean |contribution|, log-odds)",
            images / "shap_summary.png",
        ),
    ]


def per_test_snapshot(
    test: pd.DataFrame, y: np.ndarray, scores: dict[str, np.ndarray]
) -> dict[str, Any]:
    """Several test snapshots: their dates, and each one's rows, rate and AUC per scorer."""
    out: dict[str, Any] = {"test_snapshots": [], "by_test_snapshot": {}}
    for snapshot, rows in test.groupby("snapshot", sort=True).indices.items():
        day = pd.Timestamp(snapshot).date().isoformat()
        out["test_snapshots"].append(day)
        out["by_test_snapshot"][day] = {
            "rows": len(rows),
            "positive_rate": float(y[rows].mean()),
            **{f"{k}_auc": m.roc_auc(y[rows], p[rows]) for k, p in scores.items()},
        }
    return out


def main(params: Params) -> dict[str, Any]:
    # The rows train used (train.exclude_leads), so the baselines are judged on them too.
    table, _ = training_rows(params, read_json(train_dir(params) / RUN_FILE).get("data"))
    split = time_split(
        table,
        params.features.horizon_days,
        params.train.validation_snapshots,
        params.train.test_snapshots,
    )
    test = split.test
    model = joblib.load(train_dir(params) / MODEL_FILE)
    logistic = joblib.load(train_dir(params) / LOGISTIC_FILE)
    y = test[LABEL].to_numpy()
    scores = score_all(split.train, test, model, logistic, params)

    results: dict[str, Any] = {
        "test_snapshot": pd.Timestamp(test["snapshot"].max()).date().isoformat(),
        "rows": len(test),
        "positives": int(y.sum()),
    }
    for name, p in scores.items():
        results[name] = m.summary(y, p, params.evaluate.n_bins)
    # Next to the model's ECE: what a perfectly calibrated model would show on these rows.
    results["model"]["ece_noise_floor"] = m.ece_noise_floor(scores["model"], params.evaluate.n_bins)
    if test["snapshot"].nunique() > 1:
        results.update(per_test_snapshot(test, y, scores))
    # The agreement's MQL rule works on one day's leads: the latest test snapshot's.
    latest = (test["snapshot"] == test["snapshot"].max()).to_numpy()
    selection = sla_selection(params, test[latest], scores["model"][latest], model)
    if selection is not None:
        threshold, mql = selection
        results["sla_score_threshold"] = threshold
        results["sla_mqls"] = int(mql.sum())
        # The MQL rule as a 0/1 score: precision and recall of what sales would receive.
        y_latest = y[latest]
        results["model"]["precision_at_threshold"] = m.precision_at(
            y_latest, mql.astype(float), 1.0
        )
        results["model"]["recall_at_threshold"] = m.recall_at(y_latest, mql.astype(float), 1.0)
    p_true = attach_truth(test, params.paths.truth, params)
    if p_true is not None and p_true.notna().any():
        known = p_true.notna().to_numpy()
        results["ceiling"] = {
            "auc": m.ceiling_auc(y[known], p_true.to_numpy()[known]),
            "rows": int(known.sum()),
            "model_auc_same_rows": m.roc_auc(y[known], scores["model"][known]),
        }
        # How much of what is learnable the model gets: its AUC over the truth's on the same rows.
        results["ceiling"]["fraction"] = (
            results["ceiling"]["model_auc_same_rows"] / results["ceiling"]["auc"]
        )

    out = evaluate_dir(params)
    contributions = model.contributions(test)
    shap = shap_summary(contributions, model.feature_names)
    importance = model.feature_importance()
    images = write_plots(out, curves(y, scores, params.evaluate.n_bins), importance, shap)
    write_table(importance, out / "feature_importance.csv")
    write_table(shap, out / "shap_summary.csv")
    predictions = test[["lead_id", "snapshot", LABEL]].assign(
        **{f"p_{name}": p for name, p in scores.items()}
    )
    if p_true is not None:
        predictions["p_true"] = p_true.to_numpy()
    write_table(predictions, out / "test_predictions.parquet")
    write_json(results, out / METRICS_FILE)
    log_to_run(params, results, out, images)
    print_summary(results)
    return results


def log_to_run(params: Params, results: dict[str, Any], out: Path, images: list[Path]) -> None:
    """Extend the train stage's MLflow run: a reviewer finds model, metrics and plots together."""
    import mlflow

    run = read_json(train_dir(params) / RUN_FILE)
    configure_mlflow(params.registry.experiment)
    with mlflow.start_run(run_id=run["run_id"]):
        log_numeric_metrics({k: v for k, v in results.items() if isinstance(v, dict)}, "test.")
        # The run's description in the UI: the comparison a reviewer opens the run for.
        mlflow.set_tag("mlflow.note.content", review_note(results))
        for image in images:
            mlflow.log_artifact(str(image), artifact_path="plots")
        mlflow.log_artifacts(str(out / "plots"), artifact_path="plot_data")
        for name in EVALUATION_FILES:
            mlflow.log_artifact(str(out / name), artifact_path="evaluation")


def review_note(results: dict[str, Any]) -> str:
    """Markdown table of the headline metrics, model vs baselines vs ceiling."""
    columns = {"auc": "AUC", "pr_auc": "PR AUC", "ece": "ECE", "lift_top_decile": "lift@10%"}
    lines = [
        f"Test snapshot **{results['test_snapshot']}**: {results['rows']} leads, "
        f"{results['positives']} reached the target stage.",
        "",
        "| | " + " | ".join(columns.values()) + " |",
        "|---|" + "---:|" * len(columns),
    ]
    for name in (*MODELS, "ceiling"):
        if name in results:
            row = results[name]
            cells = " | ".join(f"{row.get(key, float('nan')):.4f}" for key in columns)
            lines.append(f"| {name} | {cells} |")
    if "fraction" in results.get("ceiling", {}):
        lines += [
            "",
            f"Ceiling fraction (model AUC / ceiling AUC): {results['ceiling']['fraction']:.3f}",
        ]
    return "\n".join(lines)


def print_summary(results: dict[str, Any]) -> None:
    print(
        f"evaluate: test snapshot {results['test_snapshot']}, "
        f"{results['rows']} rows, {results['positives']} positives"
    )
    columns = {"auc": "AUC", "pr_auc": "PR AUC", "ece": "ECE", "lift_top_decile": "lift@10%"}
    print("  " + " " * 10 + "".join(f"{title:>10}" for title in columns.values()))
    for name in (*MODELS, "ceiling"):
        if name in results:
            row = results[name]
            cells = "".join(f"{row.get(key, float('nan')):10.4f}" for key in columns)
            print(f"  {name:10}{cells}")
    if "fraction" in results.get("ceiling", {}):
        print(f"  ceiling fraction (model AUC / ceiling AUC): {results['ceiling']['fraction']:.3f}")
