"""Model page: champion and challenger from the registry, their test metrics next to the two
baselines (points and logistic) on the same rows, the promotion decision, feature importance."""

from __future__ import annotations

from typing import Any

import pandas as pd

from serve.dashboard import charts
from serve.dashboard.panel_drift import add_drift_panels
from serve.dashboard.panels import Page, Panel, col, count, number, percent, records, table, three
from serve.dashboard.sources import Missing, Sources

METRICS = (
    ("auc", "AUC", "higher is better"),
    ("pr_auc", "PR AUC", "higher is better"),
    ("ece", "ECE", "calibration error, lower is better"),
    ("lift_top_decile", "Lift (top 10%)", "higher is better"),
)
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
    page.panels.append(
        Panel(
            "versions",
            "Registered versions",
            table(
                versions,
                [
                    col("alias", "Alias"),
                    col("version", "Version"),
                    col("trained", "Trained"),
                    col("registered", "Registered"),
                    col("auc", "AUC", three),
                    col("pr_auc", "PR AUC", three),
                    col("ece", "ECE", three),
                    col("lift_top_decile", "Lift top 10%", number),
                    col("run_id", "MLflow run"),
                ],
            ),
            note="Metrics of each version's own training run, on its own test snapshot.",
            wide=True,
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
                f"{count(metrics.get('positives'))} became SQL. ECE: lower is better.",
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
