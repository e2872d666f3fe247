"""The Model page's drift panels, from `leadscore drift`'s report (artifacts/drift/report.json):
the features that moved most since training, the score distribution now vs. the reference, and
the realised calibration of scores handed out one horizon ago."""

from __future__ import annotations

from typing import Any

from dashboard import charts
from dashboard.panels import Page, Panel, col, count, percent, table, three
from dashboard.sources import Missing, Sources

TOP_MOVERS = 12
LEVELS = ["ok", "warn", "alert"]
LEVEL_COLOURS = ["#9ca3af", "#f59e0b", "#dc2626"]


def moved_words(moved: list[dict[str, Any]]) -> str:
    return ", ".join(
        f"{m['bin']}: {m['reference_share']:.0%} -> {m['current_share']:.0%}" for m in moved
    )


def level_colours(spec: dict[str, Any]) -> dict[str, Any]:
    """PSI bars coloured by level (quiet grey, warn amber, alert red), one bar per feature."""
    encoding = spec["encoding"]
    encoding.pop("yOffset", None)
    encoding["color"]["scale"] = {"domain": LEVELS, "range": LEVEL_COLOURS}
    return spec


PSI_WORDS = (
    "PSI (population stability index) measures how far today's share of leads per band has "
    "moved from the share at training: 0 is no change, under 0.1 is quiet, 0.25 and above means "
    "the leads scored now differ from the ones the model learned on."
)


def latest_check(sources: Sources) -> tuple[dict[str, Any] | Missing, str]:
    """The latest daily run's drift check (artifacts/daily/<date>/drift/report.json), else the
    pipeline's `leadscore drift` report, with a sentence saying which one is shown."""
    try:
        run = sources.latest_run()
    except Exception:  # the store is optional here: the pipeline's report still shows
        run = None
    if run is not None:
        daily = sources.daily_json(run.run_date, "drift/report.json")
        if not isinstance(daily, Missing):
            return daily, f"the daily run of {run.run_date}"
    report = sources.json("drift/report.json")
    where = "`leadscore drift` (no drift check from the latest daily run)"
    if run is not None and not isinstance(report, Missing):
        where = (
            f"`leadscore drift` of {str(report.get('as_of', ''))[:10]}: the daily run of "
            f"{run.run_date} wrote no drift check"
        )
    return report, where


def add_drift_panels(page: Page, sources: Sources) -> None:
    report, where = latest_check(sources)
    if isinstance(report, Missing):
        page.problems.append(f"{report} (run `leadscore daily` or `leadscore drift`)")
        return
    page.facts["drift_source"] = where
    score = report["score"]
    page.facts["drift"] = {
        "as_of": report["as_of"][:10],
        "rows": report["rows"],
        "score_psi": score["psi"],
        "score_level": score["level"],
        "warnings": len(report["warnings"]),
        "version": report["model_version"],
    }
    movers = [
        {**f, "moved_words": moved_words(f["moved"])} for f in report["features"][:TOP_MOVERS]
    ]
    page.panels.append(
        Panel(
            "drift_features",
            f"Drift: the {TOP_MOVERS} features that moved most since training (PSI)",
            table(
                movers,
                [
                    col("feature", "Feature"),
                    col("psi", "PSI", three),
                    col("level", "Level"),
                    col("moved_words", "Bins that grew"),
                ],
            ),
            spec=level_colours(
                charts.horizontal_bars(
                    movers, "feature", "psi", value_title="PSI", value_format=".2f", color="level"
                )
            ),
            note=f"From {where}: {count(report['rows'])} open leads on "
            f"{report['as_of'][:10]} against the training reference of "
            f"v{report['model_version']}. {PSI_WORDS}",
        )
    )
    # Raw probability edges make unreadable axis labels: the chart names deciles, the table
    # keeps the edges.
    score_bins = [
        {**b, "band": "missing" if b["bin"] == "missing" else f"D{i + 1}"}
        for i, b in enumerate(score.get("bins", []))
    ]
    bins = [
        {"bin": b["band"], "when": when, "share": b[key]}
        for b in score_bins
        for when, key in (("at training", "reference_share"), ("now", "current_share"))
    ]
    page.panels.append(
        Panel(
            "drift_score",
            f"Score distribution now vs at training (PSI {score['psi']:.3f}, {score['level']})",
            table(
                score_bins,
                [
                    col("band", "Decile"),
                    col("bin", "Probability band"),
                    col("reference_share", "At training", percent),
                    col("current_share", "Now", percent),
                ],
            ),
            spec=charts.grouped_bars(
                bins,
                "bin",
                "share",
                "when",
                x_title="probability band (training deciles)",
                y_title="share of leads",
                y_format=".0%",
                x_sort=[b["band"] for b in score_bins],
            )
            if bins
            else None,
            note="Each training decile holds a tenth of the leads; a band that grows or shrinks "
            f"now shows how the scored population moved. From {where}.",
            wide=True,
        )
    )
    realised = report.get("realised_calibration") or {}
    bands = realised.get("bands") or []
    predicted_vs_actual = [
        {"band": f"band {b['band']}", "what": what, "sqls": b[key]}
        for b in bands
        for what, key in (("promised", "predicted"), ("happened", "actual"))
    ]
    page.panels.append(
        Panel(
            "drift_realised",
            "Realised calibration: promised vs happened, per probability band",
            table(
                bands,
                [
                    col("band", "Band"),
                    col("probability_from", "From", percent),
                    col("probability_to", "To", percent),
                    col("leads", "Leads", count),
                    col("predicted", "Promised SQLs", three),
                    col("low", "Interval low", count),
                    col("high", "Interval high", count),
                    col("actual", "Happened", count),
                    col("within", "Inside", lambda inside: "yes" if inside else "no"),
                ],
            ),
            spec=charts.grouped_bars(
                predicted_vs_actual,
                "band",
                "sqls",
                "what",
                x_title="probability band",
                y_title="SQLs",
            )
            if bands
            else None,
            note=(
                f"From {where}. Scores stored on {realised['run_date']}, "
                f"{realised['horizon_days']} days on: {realised['status']}. Promised: the sum of "
                "the chances the model gave; happened: the leads that became SQL. The interval "
                f"holds {realised['level']:.0%} for the whole check."
            )
            if bands
            else f"Not yet ({where}): {realised.get('status', 'no check run')}.",
            wide=True,
        )
    )
