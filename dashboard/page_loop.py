"""Closed-loop page: what happened to the leads of past months, from lead to revenue.

Counts come from the SLA report (artifacts/sla/report.json, the same numbers the monthly report
shows) and from the validated history for the opportunity stage the report does not count; the
history's stages include those CRMs sent to the store, as the report's do (sla/crm_stages.py). The
score's honesty on real outcomes uses the store: each month's first daily run, its scores by
tier, against whether the lead became SQL within the model's horizon since that run.
"""

from __future__ import annotations

import pandas as pd

from dashboard import charts
from dashboard.panels import Page, Panel, col, count, eur, percent, records, table
from dashboard.sources import Missing, Sources

STAGES = ("mql", "sql", "opportunity", "customer")
STEP_NAMES = {
    "lead -> MQL": ("leads", "mql"),
    "MQL -> SQL": ("mql", "sql"),
    "SQL -> opportunity": ("sql", "opportunity"),
    "opportunity -> customer": ("opportunity", "customer"),
}


def step_rates(counts: pd.DataFrame, by: str) -> pd.DataFrame:
    """Long table: per `by` value and funnel step, the share that went on to the next stage."""
    rows = []
    for rec in counts.to_dict("records"):
        for step, (src, dst) in STEP_NAMES.items():
            if rec[src] > 0:
                rows.append({by: rec[by], "step": step, "rate": rec[dst] / rec[src]})
    return pd.DataFrame(rows, columns=[by, "step", "rate"])


def funnel(
    leads: pd.DataFrame, stages: pd.DataFrame, persona: pd.Series, months: list[str]
) -> pd.DataFrame:
    """Leads created in `months` per channel x persona and how many reached each later stage
    (cohort counts: a lead that skipped a CRM row still counts for the stages it passed)."""
    from sla import measure

    outcomes = measure.lead_outcomes(leads, stages, persona)
    month = outcomes["created_at"].dt.tz_convert("UTC").dt.strftime("%Y-%m")
    cohort = outcomes[month.isin(months)]
    out = cohort.groupby(["channel", "persona"]).size().rename("leads").to_frame()
    for stage in STAGES:
        out[stage] = cohort[measure.reached(cohort, stage)].groupby(["channel", "persona"]).size()
    return out.fillna(0).astype(int).reset_index()


def band_outcomes(
    sources: Sources, end_of_data: pd.Timestamp, stages: pd.DataFrame
) -> pd.DataFrame:
    """Per tier: leads scored at each month's first run, mean predicted chance, actual SQL rate."""
    from sla.report import first_sql_at

    runs = sources.runs()
    if not len(runs):
        return pd.DataFrame()
    dates = pd.to_datetime(pd.Series(runs["run_date"]))
    finished = dict(zip(dates, runs["finished_at"], strict=True))
    firsts = dates.groupby(dates.dt.strftime("%Y-%m")).min()
    horizon = pd.Timedelta(days=sources.params().features.horizon_days)
    sql_at = first_sql_at(stages)
    parts = []
    for run_day in firsts:
        scored = sources.score_columns(
            run_day.date(), finished[run_day], ("lead_id", "tier", "probability")
        )
        if not len(scored):
            continue
        as_of = pd.Timestamp(run_day, tz="UTC") + pd.Timedelta(days=1)
        until = min(as_of + horizon, end_of_data)
        became = scored["lead_id"].astype(str).map(sql_at)
        became = became.notna() & (became > as_of - pd.Timedelta(days=1)) & (became <= until)
        parts.append(
            pd.DataFrame(
                {
                    "tier": scored["tier"].astype(str),
                    "probability": scored["probability"].astype(float),
                    "became_sql": became.to_numpy(),
                    "observed_days": (until - as_of).days,
                }
            )
        )
    if not parts:
        return pd.DataFrame()
    allrows = pd.concat(parts, ignore_index=True)
    out = allrows.groupby("tier").agg(
        leads=("probability", "size"),
        predicted=("probability", "mean"),
        actual=("became_sql", "mean"),
        observed_days=("observed_days", "min"),
    )
    return out.reset_index()


def build(sources: Sources) -> Page:
    page = Page("Closed loop")
    report = sources.json("sla/report.json")
    history = sources.history()
    if isinstance(report, Missing):
        page.problems.append(str(report))
        return page
    months = report.get("months") or []
    page.facts["subtitle"] = (
        f"Leads created {months[0]} to {months[-1]}, followed to revenue (data to "
        f"{str(report.get('data_end', ''))[:10]})"
        if months
        else ""
    )
    monthly = pd.DataFrame(report.get("monthly") or [])

    if isinstance(history, Missing):
        page.problems.append(str(history))
    else:
        leads, stages, persona = history
        # Derived tables change only with the history (or the store's runs): kept until then.
        cells = sources.by_file(
            ("funnel",),
            sources.history_files(),
            lambda: funnel(leads, stages, persona, months),
            version=(*months, *sources.crm_stages_version(sources.crm_stages())),
        )
        for by, title in (("channel", "channel"), ("persona", "persona")):
            grouped = cells.groupby(by, as_index=False)[["leads", *STAGES]].sum()
            grouped = grouped.assign(
                lead_to_mql=grouped["mql"] / grouped["leads"].where(grouped["leads"] > 0),
                lead_to_customer=grouped["customer"] / grouped["leads"].where(grouped["leads"] > 0),
            )
            steps = step_rates(grouped, by)
            page.panels.append(
                Panel(
                    f"funnel_{by}",
                    f"Funnel by {title}: lead -> MQL -> SQL -> opportunity -> customer",
                    table(
                        grouped,
                        [
                            col(by, title.capitalize()),
                            col("leads", "Leads", count),
                            col("mql", "MQL", count),
                            col("sql", "SQL", count),
                            col("opportunity", "Opportunity", count),
                            col("customer", "Customer", count),
                            col("lead_to_mql", "Lead -> MQL", percent),
                            col("lead_to_customer", "Lead -> customer", percent),
                        ],
                    ),
                    spec=charts.grouped_bars(
                        records(steps),
                        "step",
                        "rate",
                        by,
                        x_title=None,
                        y_title="share reaching the next stage",
                        y_format=".0%",
                        x_sort=list(STEP_NAMES),
                    ),
                    note="Leads created in the report months, counted at the furthest stage "
                    "they reached; the chart shows each step's conversion.",
                )
            )
        end = pd.Timestamp(report.get("data_end")) if report.get("data_end") else stages["ts"].max()
        try:
            runs = sources.runs()
            stamp = (
                str(end),
                *runs["run_date"].astype(str),
                *runs["finished_at"].astype(str),
                *sources.crm_stages_version(sources.crm_stages()),
            )
            bands = sources.by_file(
                ("bands",),
                sources.history_files(),
                lambda: band_outcomes(sources, end, stages),
                version=stamp,
            )
        except Exception as exc:  # the store is optional for the rest of this page
            bands = pd.DataFrame()
            page.problems.append(f"Store not readable for the score check: {exc}")
        if len(bands):
            long = bands.melt(
                id_vars=["tier"],
                value_vars=["predicted", "actual"],
                var_name="which",
                value_name="rate",
            )
            page.panels.append(
                Panel(
                    "bands",
                    "Is the score still honest? Predicted vs actual SQL rate by tier",
                    table(
                        bands,
                        [
                            col("tier", "Tier"),
                            col("leads", "Leads scored", count),
                            col("predicted", "Predicted SQL rate", percent),
                            col("actual", "Actual SQL rate", percent),
                            col("observed_days", "Days observed", count),
                        ],
                    ),
                    spec=charts.grouped_bars(
                        records(long),
                        "tier",
                        "rate",
                        "which",
                        x_title="tier",
                        y_title="SQL rate",
                        y_format=".0%",
                    ),
                    note="Scores of each month's first daily run (store), outcomes from the CRM "
                    "history; a young month has had fewer days to convert than the horizon.",
                )
            )
        else:
            page.problems.append(
                "No stored daily runs to check the score on real outcomes yet (`leadscore daily`)."
            )

    speed = pd.DataFrame(report.get("speed_to_lead") or [])
    if len(speed):
        page.panels.append(
            Panel(
                "speed",
                "Speed to lead: SQL rate by hours to first contact",
                table(
                    speed,
                    [
                        col("hours_to_contact", "First contact"),
                        col("mqls", "MQLs", count),
                        col("sqls", "Became SQL", count),
                        col("sql_rate", "SQL rate", percent),
                    ],
                ),
                spec=charts.grouped_bars(
                    records(speed.assign(series="SQL rate")),
                    "hours_to_contact",
                    "sql_rate",
                    "series",
                    x_title="hours from MQL to first sales contact",
                    y_title="SQL rate",
                    y_format=".0%",
                ),
                note="MQLs of the report months. The agreement's follow-up time is where this "
                "curve says it should be.",
            )
        )
    if len(monthly):
        persona_rows = monthly[monthly["level"] == "persona"]
        value = persona_rows.groupby("persona", as_index=False).agg(
            revenue_eur=("revenue_eur", "sum"),
            leads=("leads", "sum"),
            target=("lead_value_target_eur", "first"),
        )
        value = value.assign(actual=value["revenue_eur"] / value["leads"].where(value["leads"] > 0))
        long = value.rename(columns={"actual": "measured", "target": "agreed"}).melt(
            id_vars=["persona"],
            value_vars=["measured", "agreed"],
            var_name="which",
            value_name="eur",
        )
        page.panels.append(
            Panel(
                "lead_value",
                "Lead value in EUR per persona",
                table(
                    value,
                    [
                        col("persona", "Persona"),
                        col("leads", "Leads", count),
                        col("revenue_eur", "Revenue EUR", eur),
                        col("actual", "Lead value EUR", eur),
                        col("target", "Agreed lead value EUR", eur),
                    ],
                ),
                spec=charts.horizontal_bars(
                    records(long),
                    "persona",
                    "eur",
                    value_title="EUR per lead",
                    value_format=",.0f",
                    color="which",
                ),
                note="Revenue closed in the report months / leads created in them, next to "
                "deal value x conversion rate from the agreement.",
            )
        )
        totals = past_months_with_frozen_targets(sources, monthly, page)
        trend = totals.rename(
            columns={
                "mqls": "MQLs",
                "mqls_target": "MQL target",
                "sqls": "SQLs",
                "customers": "customers",
            }
        ).melt(
            id_vars=["month"],
            value_vars=["MQL target", "MQLs", "SQLs", "customers"],
            var_name="series",
            value_name="count",
        )
        page.panels.append(
            Panel(
                "months",
                "Month by month: MQLs by the CRM against the month's frozen target, SQLs and "
                "customers",
                table(
                    totals,
                    [
                        col("month", "Month"),
                        col("leads", "Leads", count),
                        col("mqls", "MQLs by the CRM", count),
                        col("mqls_target", "MQL target (frozen)", count),
                        col("sqls", "SQLs", count),
                        col("customers", "Customers", count),
                        col("revenue_eur", "Revenue EUR", eur),
                        col("follow_up_compliance", "Follow-up in time", percent),
                        col("marketing", "Marketing"),
                        col("sales", "Sales"),
                    ],
                ),
                spec=charts.lines(
                    records(trend),
                    "month",
                    "count",
                    "series",
                    x_title=None,
                    y_title="per month",
                    x_type="ordinal",
                    label_angle=0,
                    y_format=",.0f",
                ),
                note="Complete months only (the month in progress is on Today). A month's "
                "target is the one its first daily run froze; a month before any daily run "
                "has none.",
            )
        )
    return page


def past_months_with_frozen_targets(
    sources: Sources, monthly: pd.DataFrame, page: Page
) -> pd.DataFrame:
    """The SLA report's month totals before the summary's month, each with the MQL target its
    own first daily run froze (not today's target applied to the past), and the marketing
    verdict against that target."""
    totals = monthly[monthly["level"] == "total"].copy()
    summary = sources.summary()
    if not isinstance(summary, Missing):
        totals = totals[totals["month"] < summary["month"]]
    targets = []
    for month in totals["month"]:
        frozen = sources.frozen_targets(str(month))
        targets.append(None if frozen is None else frozen.targets.get("mqls_needed"))
    totals["mqls_target"] = pd.array(targets, dtype="Float64")
    totals["marketing"] = [
        "" if pd.isna(t) else ("met" if m >= t else "behind")
        for m, t in zip(totals["mqls"], totals["mqls_target"], strict=True)
    ]
    return totals
