"""Model page: champion and challenger from the registry, their test metrics next to the two
baselines (points and logistic) on the same rows, the promotion decision, feature importance."""

from __future__ import annotations

from typing import Any

import pandas as pd

from dashboard import charts
from dashboard.panel_drift import add_drift_panels
from dashboard.panels import (
    Page,
    Panel,
    col,
    count,
    eur,
    number,
    percent,
    records,
    table,
    three,
)
from dashboard.sources import Missing, Sources

METRICS = (
    ("auc", "AUC", "higher is better"),
    ("pr_auc", "PR AUC", "higher is better"),
    ("ece", "ECE", "calibration error, lower is better"),
    ("lift_top_decile", "Lift (top 10%)", "higher is better"),
)
# The words beside the metrics: a manager reads these, not the acronyms.
METRIC_WORDS = (
    "AUC: the chance that a lead who became SQL scored above one who did not (0.5 is a coin, "
    "1 is perfect). PR AUC: how precise the top of the list stays as more of it is called. "
    "ECE (expected calibration error): how far, on average, the promised chance is from what "
    "happened; 0.01 means a score of 12 comes true for 11 to 13 in 100. Lift (top 10%): how "
    "many times more SQLs the best-scored tenth of leads brings than a random tenth."
)
DECISIONS = {"champion": "promoted", "challenger-only": "not promoted"}
LABELS = {"model": "LightGBM (this model)", "logistic": "Logistic baseline", "points": "Points"}
TOP_FEATURES = 15


def build(sources: Sources) -> Page:
    page = Page("Model")
    registry = sources.registry()
    metrics = sources.json("evaluate/metrics.json")
    decision = sources.json("register/decision.json")
    ui = sources.settings.mlflow_ui_url.rstrip("/")

    versions = []
    if isinstance(registry, Missing):
        page.problems.append(str(registry))
    else:
        for alias in ("champion", "challenger"):
            v = registry.get(alias)
            if v is None:
                continue
            m = v["metrics"]
            link = (
                f"{ui}/#/experiments/{v['experiment_id']}/runs/{v['run_id']}"
                if ui and v["run_id"]
                else ""
            )
            versions.append(
                {
                    "alias": alias,
                    "version": v["version"],
                    "registered": v["created"].strftime("%Y-%m-%d %H:%M UTC"),
                    # The training run's start: when this version was trained.
                    "trained": v["start_time"].strftime("%Y-%m-%d %H:%M UTC")
                    if v.get("start_time") is not None
                    else "",
                    "run_id": v["run_id"] or "",
                    "link": link,
                    **{f"{k}": m.get(f"test.model.{k}") for k, _, _ in METRICS},
                }
            )
    page.facts["versions"] = versions
    page.facts["mlflow_ui"] = ui
    page.facts["decision"] = decision if not isinstance(decision, Missing) else None
    if isinstance(decision, Missing):
        page.problems.append(str(decision))
    every = sources.versions()
    rows = [] if isinstance(every, Missing) else every
    page.panels.append(
        Panel(
            "versions",
            f"Every registered version ({len(rows)}) and its promotion decision",
            table(
                [
                    {
                        "version": v["version"],
                        "aliases": v["aliases"],
                        "registered": v["created"].strftime("%Y-%m-%d %H:%M UTC"),
                        "decision": DECISIONS.get(v["decision"], v["decision"]),
                        "reason": v["reason"],
                        **{k: v["metrics"].get(f"test.model.{k}") for k, _, _ in METRICS},
                    }
                    for v in rows
                ],
                [
                    col("version", "Version"),
                    col("aliases", "Alias now"),
                    col("registered", "Registered"),
                    col("auc", "AUC", three),
                    col("pr_auc", "PR AUC", three),
                    col("ece", "ECE", three),
                    col("lift_top_decile", "Lift top 10%", number),
                    col("decision", "Decision"),
                    col("reason", "Why"),
                ],
            ),
            note="Newest first. Metrics of each version's own training run, on its own test "
            f"snapshot. {METRIC_WORDS}",
            wide=True,
            table_open=True,
        )
    )

    if isinstance(metrics, Missing):
        page.problems.append(str(metrics))
    else:
        rows = []
        for key, label, _ in METRICS:
            for who, name in LABELS.items():
                value = (metrics.get(who) or {}).get(key)
                if value is not None:
                    rows.append({"metric": label, "model": name, "value": value})
        wide = pd.DataFrame(
            [
                {"metric": label, **{who: (metrics.get(who) or {}).get(key) for who in LABELS}}
                for key, label, _ in METRICS
            ]
        )
        snapshot = metrics.get("test_snapshot", "?")
        page.facts["test"] = {
            "snapshot": snapshot,
            "rows": metrics.get("rows"),
            "positives": metrics.get("positives"),
        }
        page.panels.append(
            Panel(
                "baselines",
                "The model next to the baselines, same test rows",
                table(
                    wide,
                    [col("metric", "Metric")]
                    + [col(who, name, three) for who, name in LABELS.items()],
                ),
                spec=_metric_facets(rows),
                note=f"Test snapshot {snapshot}: {count(metrics.get('rows'))} leads, "
                f"{count(metrics.get('positives'))} became SQL. ECE: lower is better. "
                f"{METRIC_WORDS}",
            )
        )
        calib = []
        for who, name in LABELS.items():
            frame = sources.csv(f"evaluate/plots/calibration/{who}.csv")
            if not isinstance(frame, Missing):
                calib.append(frame.assign(model=name))
        if calib:
            both = pd.concat(calib, ignore_index=True)
            page.panels.append(
                Panel(
                    "calibration",
                    "Calibration: predicted vs observed SQL rate",
                    table(
                        both,
                        [
                            col("model", "Model"),
                            col("bin", "Bin"),
                            col("count", "Leads", count),
                            col("mean_predicted", "Predicted", percent),
                            col("observed_rate", "Observed", percent),
                        ],
                    ),
                    spec=charts.lines(
                        records(both),
                        "mean_predicted",
                        "observed_rate",
                        "model",
                        x_title="predicted chance of SQL",
                        y_title="observed SQL rate",
                        x_format=".0%",
                        diagonal=float(
                            max(both["mean_predicted"].max(), both["observed_rate"].max())
                        ),
                    ),
                    note="On the dashed diagonal a score of 12 means 12 in 100 such leads "
                    "become SQL.",
                )
            )

    if not isinstance(metrics, Missing):
        add_threshold_panels(page, sources, metrics)
    importance = sources.csv("evaluate/feature_importance.csv")
    if isinstance(importance, Missing):
        page.problems.append(str(importance))
    else:
        top = importance.sort_values("gain", ascending=False).head(TOP_FEATURES)
        top = top.assign(share=top["gain"] / importance["gain"].sum())
        page.panels.append(
            Panel(
                "importance",
                f"What the model looks at (top {TOP_FEATURES} features by gain)",
                table(
                    top,
                    [
                        col("feature", "Feature"),
                        col("gain", "Gain", number),
                        col("share", "Share", percent),
                    ],
                ),
                spec=charts.horizontal_bars(
                    records(top),
                    "feature",
                    "share",
                    value_title="share of total gain",
                    value_format=".0%",
                ),
            )
        )
    add_drift_panels(page, sources)
    return page


def add_threshold_panels(page: Page, sources: Sources, metrics: dict[str, Any]) -> None:
    """Precision and recall at the MQL threshold, the threshold curve and the SQL forecast's
    backtest: what the threshold buys, and whether the month's SQL forecast held before."""
    model = metrics.get("model") or {}
    at = metrics.get("sla_score_threshold")
    if model.get("precision_at_threshold") is not None:
        page.panels.append(
            Panel(
                "at_threshold",
                f"At the MQL threshold ({at if at is not None else '?'})",
                table(
                    [
                        {
                            "what": "Precision: MQLs that became SQL",
                            "value": model.get("precision_at_threshold"),
                        },
                        {
                            "what": "Recall: SQLs that were MQLs",
                            "value": model.get("recall_at_threshold"),
                        },
                    ],
                    [col("what", "On the test snapshot"), col("value", "Share", percent)],
                ),
                note="Precision: of the leads at or above the threshold, the share that became "
                "SQL. Recall: of the leads that became SQL, the share the threshold had caught.",
            )
        )
    curve = sources.csv("sla/threshold_curve.csv")
    if not isinstance(curve, Missing) and len(curve):
        shown = curve[curve["mqls"] > 0]
        long = shown.melt(
            id_vars=["threshold"],
            value_vars=["mqls", "expected_sqls"],
            var_name="series",
            value_name="count",
        ).replace({"series": {"mqls": "MQLs", "expected_sqls": "expected SQLs"}})
        page.panels.append(
            Panel(
                "threshold_curve",
                "Threshold curve: MQLs and expected SQLs at each threshold",
                table(
                    shown,
                    [
                        col("threshold", "Threshold", number),
                        col("mqls", "MQLs", count),
                        col("expected_sqls", "Expected SQLs", number),
                        col("expected_revenue_eur", "Expected revenue EUR", eur),
                    ],
                ),
                spec=charts.lines(
                    records(long),
                    "threshold",
                    "count",
                    "series",
                    x_title="score threshold",
                    y_title="per month",
                    y_format=",.0f",
                ),
                note="Lowering the threshold hands sales more MQLs and more expected SQLs; "
                "expected SQLs are the sum of the MQLs' calibrated chances.",
            )
        )
    backtest = sources.csv("sla/forecast_backtest.csv")
    if not isinstance(backtest, Missing) and len(backtest):
        long = backtest.melt(
            id_vars=["month"],
            value_vars=["expected_sqls", "realised"],
            var_name="series",
            value_name="sqls",
        ).replace({"series": {"expected_sqls": "forecast", "realised": "happened"}})
        page.panels.append(
            Panel(
                "backtest",
                "SQL forecast backtest: forecast vs what happened, past months",
                table(
                    backtest,
                    [
                        col("month", "Month"),
                        col("threshold", "Threshold", number),
                        col("expected_sqls", "Forecast SQLs", number),
                        col("low", "Low", count),
                        col("high", "High", count),
                        col("realised", "Happened", count),
                        col("inside", "Inside the interval"),
                    ],
                ),
                spec=charts.grouped_bars(
                    records(long),
                    "month",
                    "sqls",
                    "series",
                    x_title=None,
                    y_title="SQLs",
                ),
                note="Each past month re-forecast as if it were starting: the interval should "
                "hold the month's real SQL count most months.",
            )
        )


def _metric_facets(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """One small bar chart per metric (their scales differ: AUC ~0.7, lift ~4, ECE ~0.01)."""
    spec = charts._spec(rows, {}, height=110)
    spec.pop("width")
    spec.pop("height")
    spec.pop("autosize")
    spec.update(
        {
            "facet": {"field": "metric", "type": "nominal", "title": None, "sort": None},
            "columns": 2,
            "resolve": {"scale": {"x": "independent"}},
            "spec": {
                "width": 190,
                "height": 70,
                "mark": {"type": "bar", "tooltip": True},
                "encoding": {
                    "y": {"field": "model", "type": "nominal", "title": None, "sort": None},
                    "x": {"field": "value", "type": "quantitative", "title": None},
                    "color": {"field": "model", "type": "nominal", "legend": None},
                },
            },
        }
    )
    return spec
