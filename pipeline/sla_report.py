"""DVC stage `sla_report`: the monthly SLA report from the agreement, the history and the model.

Reads sla.yaml, the validated history (data/interim, with the stages CRMs sent to the store:
pipeline/sla_data.py `read_history`) and the serving model (the registered
champion; the freshly trained artifacts/train/model.joblib before anything is registered);
writes artifacts/sla/{report.json, report.csv, threshold.json,
speed_to_lead.csv, *.png}; logs them to the training run in MLflow when artifacts/train/run.json
names one; prints a summary. The numbers come from sla/report.py (pure functions).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.persona import load_personas
from foundation.csv_safe import write_frame_csv
from foundation.io import find_table, read_json, read_table, write_json
from foundation.params import Params
from pipeline.sla_data import deal_values_by_persona, load_sla, personas_path, read_history
from sla import measure, plots
from sla.agreement import AUTO, SCORE_MAX, Agreement
from sla.forecast import (
    Arrivals,
    MonthForecast,
    arrivals_forecast,
    backtest_summary,
    month_forecast,
    with_realised,
)
from sla.qualify import compile_rules, eligible_rules, qualify_frame, scores_from_probabilities
from sla.report import (
    backtest,
    first_sql_at,
    follow_up_effect,
    lead_facts,
    monthly_report,
    open_at,
    report_months,
    summary_lines,
)
from sla.targets import Targets, targets_from_agreement
from sla.threshold import (
    Curve,
    ThresholdResult,
    fixed_threshold,
    pick_threshold,
    threshold_curve,
)

REPORT_DIR = "sla"
MODEL_FILE = Path("train") / "model.joblib"
RUN_FILE = Path("train") / "run.json"
MLFLOW_ARTIFACT_PATH = "sla"


def sla_dir(params: Params) -> Path:
    return Path(params.paths.artifacts) / REPORT_DIR


def value_per_sql(scored: pd.DataFrame, targets: Targets) -> np.ndarray:
    """Revenue an SQL of each lead's persona brings on average: SQL -> customer x deal value."""
    deal = {c.persona: c.avg_deal_value_eur for c in targets.cells}
    per_lead = scored["persona"].map(deal).fillna(targets.avg_deal_value_eur)
    return per_lead.to_numpy(dtype=float) * (targets.sql_to_customer or 0.0)


def serving_model(params: Params) -> tuple[Any, str]:
    """The champion, which the service scores with, so the threshold fits the scores it gives;
    the freshly trained model only when nothing is registered yet (a first run)."""
    import joblib

    from models.registry import CHAMPION, ModelLoadError, load_lead_model

    uri = f"models:/{params.registry.model_name}@{CHAMPION}"
    try:
        return load_lead_model(uri).model, uri
    except ModelLoadError:
        path = Path(params.paths.artifacts) / MODEL_FILE
        return (joblib.load(path), str(path)) if path.exists() else (None, f"{uri} or {path}")


PROBABILITY_MONTH = "probability_month"


def resolve_threshold(
    agreement: Agreement, targets: Targets, scored: pd.DataFrame, arrivals_sqls: float = 0.0
) -> tuple[float, ThresholdResult, Curve]:
    """The MQL threshold in force on these scored leads (features + probability + score):
    the agreed number, or `auto` resolved against the month's SQL target and sales capacity.

    Expected SQLs are counted as the agreement counts them, per calendar month: the selected
    leads' month probabilities (`probability_month`, models/horizon.py; the model-horizon
    `probability` only for a model without it) plus `arrivals_sqls`, the SQLs expected from
    leads created during the month (sla/forecast.py `arrivals_forecast`)."""
    rule = agreement.mql_rule.score_threshold
    column = PROBABILITY_MONTH if PROBABILITY_MONTH in scored.columns else "probability"
    probability = scored[column].to_numpy(dtype=float)
    # Exclusions and the fit minimum do not depend on the threshold: any value will do here.
    eligible = eligible_rules(scored, compile_rules(agreement, threshold=SCORE_MAX)) == ""
    curve = threshold_curve(
        scored["score"].to_numpy(), probability, eligible, value_per_sql(scored, targets)
    )
    if arrivals_sqls:
        curve = replace(curve, sqls=curve.sqls + arrivals_sqls)
    capacity = agreement.sales_capacity
    sql_target = targets.sqls_needed or 0
    if rule == AUTO:
        result = pick_threshold(
            curve, sql_target, capacity.mqls_per_month, capacity.leads_per_rep_per_month
        )
        return result.threshold, result, curve
    result = fixed_threshold(
        curve, float(rule), sql_target, capacity.mqls_per_month, capacity.leads_per_rep_per_month
    )
    return float(rule), result, curve


def scored_open_leads(
    model: Any,
    personas: Any,
    params: Params,
    leads: pd.DataFrame,
    events: pd.DataFrame,
    stages: pd.DataFrame,
    as_of: pd.Timestamp,
) -> pd.DataFrame:
    """The leads open at `as_of` (not yet SQL) with their features as of then, the model's
    probability and score, and the month probability when the model carries one."""
    from features.build import build_features
    from models.horizon import month_probability

    features = build_features(leads, events, stages, as_of, personas, params.features)
    features = features[open_at(features["lead_id"], stages, as_of).to_numpy()]
    features = features.reset_index(drop=True)
    # LeadModel.predict_proba, with the booster's scores kept for the month calibration
    raw = model.raw_score(features)
    probability = np.asarray(model.calibrator(raw), dtype=float)
    scored = features.assign(probability=probability, score=scores_from_probabilities(probability))
    month = month_probability(model, features, raw)
    if month is not None:
        scored[PROBABILITY_MONTH] = month
    return scored


def lead_arrivals(
    agreement: Agreement, leads: pd.DataFrame, stages: pd.DataFrame, month: pd.Timestamp
) -> Arrivals:
    created = pd.Series(pd.to_datetime(leads["created_at"], utc=True).to_numpy(), leads["lead_id"])
    settings = agreement.forecast
    return arrivals_forecast(
        created, first_sql_at(stages), month, settings.run_rate_months, settings.conversion_months
    )


def forecast_month(
    model: Any,
    personas: Any,
    params: Params,
    agreement: Agreement,
    targets: Targets,
    history: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame],
    month: pd.Timestamp,
    end_of_data: pd.Timestamp,
) -> tuple[ThresholdResult, Curve, pd.DataFrame, MonthForecast]:
    """At the start of `month`: score the open leads, resolve the threshold against the month's
    SQL forecast, decide with the agreement's rules, and forecast the month's SQL count with its
    interval; the realised count too when the data covers the whole month."""
    leads, events, stages = history
    scored = scored_open_leads(model, personas, params, leads, events, stages, month)
    arrivals = lead_arrivals(agreement, leads, stages, month)
    threshold, result, curve = resolve_threshold(agreement, targets, scored, arrivals.expected_sqls)
    decided = qualify_frame(scored, compile_rules(agreement, threshold), scored_at=month)
    keep = ["lead_id", "probability", "score"] + (
        [PROBABILITY_MONTH] if PROBABILITY_MONTH in scored.columns else []
    )
    scored = pd.concat([scored[keep], decided], axis=1)
    chosen = (scored["decision"] == "mql").to_numpy()
    column = PROBABILITY_MONTH if PROBABILITY_MONTH in scored.columns else "probability"
    forecast = month_forecast(
        month,
        threshold,
        scored.loc[chosen, column].to_numpy(),
        arrivals,
        agreement.forecast.interval_level,
    )
    if month + pd.DateOffset(months=1) <= end_of_data + measure.COMPLETE_MONTH_GRACE:
        created = pd.Series(
            pd.to_datetime(leads["created_at"], utc=True).to_numpy(), leads["lead_id"]
        )
        forecast = with_realised(
            forecast, scored.loc[chosen, "lead_id"], created, first_sql_at(stages), month
        )
    return result, curve, scored, forecast


def score_month(
    params: Params,
    agreement: Agreement,
    targets: Targets,
    history_events: pd.DataFrame,
    leads: pd.DataFrame,
    stages: pd.DataFrame,
    months: list[pd.Timestamp],
    end_of_data: pd.Timestamp,
) -> tuple[dict[str, Any], dict[str, Any] | None, pd.DataFrame | None, list[MonthForecast]]:
    """Score the open leads at the latest month start with the serving model; resolve the
    threshold (auto or fixed) on them and backtest it; re-forecast the last
    `forecast.backtest_months` months the same way. Without a model: only a fixed threshold."""
    rule = agreement.mql_rule.score_threshold
    model, model_ref = serving_model(params)
    if model is None:
        reason = f"no model: {model_ref} (run `leadscore train` and `leadscore register`)"
        if rule == AUTO:
            return {"threshold": None, "source": AUTO, "reason": reason}, None, None, []
        return {"threshold": float(rule), "source": "fixed", "reason": reason}, None, None, []

    personas = load_personas(personas_path(params))
    history = (leads, history_events, stages)
    forecasts = []
    for month in months[-agreement.forecast.backtest_months :]:
        result, curve, scored, forecast = forecast_month(
            model, personas, params, agreement, targets, history, month, end_of_data
        )
        forecasts.append(forecast)
    as_of = months[-1]
    test = backtest(
        scored, stages, as_of, end_of_data, params.features.horizon_days, result.threshold
    ).to_dict()
    latest = forecasts[-1]
    info = {
        "threshold": result.threshold,
        "source": "fixed" if rule != AUTO else AUTO,
        "as_of": as_of.isoformat(),
        "model": model_ref,
        **{k: v for k, v in result.to_dict().items() if k != "threshold"},
        # What the expected SQLs count: the month's SQLs, as the agreement measures them.
        "forecast_horizon": "month" if PROBABILITY_MONTH in scored.columns else "model horizon",
        "expected_sqls_selected": latest.selected_expected,
        "expected_sqls_arrivals": latest.arrivals_expected,
        "sqls_interval": [latest.low, latest.high],
        "interval_level": latest.level,
    }
    return info, test, curve.frame(), forecasts


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows for JSON: NaN -> null, numpy scalars -> Python."""
    clean = df.astype(object).where(df.notna(), None)
    return [
        {k: (v.item() if isinstance(v, np.generic) else v) for k, v in row.items()}
        for row in clean.to_dict("records")
    ]


def log_to_run(
    params: Params, out: Path, latest: dict[str, Any], backtest: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Attach the report to the training run in MLflow (the run id is in artifacts/train)."""
    run_file = Path(params.paths.artifacts) / RUN_FILE
    if not run_file.exists():
        return {"logged": False, "reason": f"no {run_file}: train has not run"}
    import mlflow

    from models.tracking import configure_mlflow, log_numeric_metrics

    run_id = read_json(run_file)["run_id"]
    configure_mlflow(params.registry.experiment)
    with mlflow.start_run(run_id=run_id):
        mlflow.log_artifacts(str(out), artifact_path=MLFLOW_ARTIFACT_PATH)
        log_numeric_metrics(latest, "sla.latest.")
        # The SQL forecast's record: months inside the interval, pooled realised / forecast.
        log_numeric_metrics(backtest or {}, "sla.forecast_backtest.")
    return {"logged": True, "run_id": run_id}


def main(params: Params, sla_path: Path | None = None) -> dict[str, Any]:
    agreement = load_sla(params, sla_path)
    history, crm = read_history(params)  # the CRMs' stages count with the exports'
    personas = load_personas(personas_path(params))
    targets = targets_from_agreement(agreement, history, deal_values_by_persona(personas))
    leads, stages = history.leads, history.stages
    end = measure.data_end(leads, stages)
    months = report_months(end)

    facts = lead_facts(leads, stages, history.persona, agreement.follow_up_hours, end)
    table = monthly_report(facts, targets, months, agreement.follow_up_compliance)
    effect = follow_up_effect(facts, months)
    events = read_table(find_table(Path(params.paths.interim), "events"))
    threshold, test, curve, forecasts = score_month(
        params, agreement, targets, events, leads, stages, months, end
    )

    out = sla_dir(params)
    out.mkdir(parents=True, exist_ok=True)
    write_frame_csv(table, out / "report.csv")
    forecast_rows = pd.DataFrame([f.to_dict() for f in forecasts])
    write_frame_csv(forecast_rows, out / "forecast_backtest.csv")
    write_frame_csv(effect, out / "speed_to_lead.csv")
    write_json(threshold, out / "threshold.json")
    plots.mqls_vs_target(table, out / "mqls_vs_target.png")
    plots.follow_up(
        table, agreement.follow_up_compliance, agreement.follow_up_hours, out / "follow_up.png"
    )
    plots.speed_to_lead(effect, out / "speed_to_lead.png")
    plots.personas_latest(table, out / "personas_latest.png")
    if curve is not None:
        write_frame_csv(curve, out / "threshold_curve.csv")
        plots.threshold_tradeoff(
            curve,
            targets.sqls_needed or 0,
            agreement.sales_capacity.mqls_per_month,
            threshold["threshold"],
            out / "threshold.png",
        )

    latest_rows = table[(table["level"] == "total") & (table["month"] == f"{months[-1]:%Y-%m}")]
    latest = _records(latest_rows)[0]
    report = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "data_end": end.isoformat(),
        "months": [f"{m:%Y-%m}" for m in months],
        "follow_up_hours": agreement.follow_up_hours,
        "follow_up_compliance": agreement.follow_up_compliance,
        "agreement": agreement.model_dump(mode="json"),
        "targets": targets.to_dict(),
        "latest": latest,
        "threshold": threshold,
        "backtest": test,
        "forecast_backtest": {
            "months": _records(forecast_rows),
            "summary": backtest_summary(forecasts),
        },
        "speed_to_lead": _records(effect),
        "monthly": _records(table),
        "crm_stages": {"added": crm.added, "earlier": crm.earlier},
    }
    write_json(report, out / "report.json")
    numbers = {k: v for k, v in latest.items() if isinstance(v, int | float)}
    report["mlflow"] = log_to_run(params, out, numbers, report["forecast_backtest"]["summary"])
    for line in summary_lines(report):
        print(line)
    if crm.note() is not None:
        print(f"  {crm.note()}")
    if not report["mlflow"]["logged"]:
        print(f"  mlflow: not logged ({report['mlflow']['reason']})")
    return report
