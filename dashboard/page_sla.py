"""Agreement page: sla.yaml as both teams signed it, in words, with this month's targets."""

from __future__ import annotations

from typing import Any

from dashboard import charts
from dashboard.panels import Page, Panel, col, count, eur, percent, records, table, text
from dashboard.sources import Missing, Sources
from sla.seed_arithmetic import rate_sources, seed_steps, threshold_verdict


def _bands(bands: Any, scale: str = "") -> list[dict[str, Any]]:
    return [
        {"band": name, "from": f"{lo:g}{scale}", "to": "" if hi is None else f"{hi:g}{scale}"}
        for name, (lo, hi) in bands.ranges().items()
    ]


def build(sources: Sources) -> Page:
    page = Page("Agreement")
    agreement = sources.agreement()
    personas = sources.personas()
    threshold = sources.json("sla/threshold.json")
    summary = sources.summary()
    page.facts["summary"] = summary
    targets = None
    if isinstance(summary, Missing):
        page.problems.append(f"No month targets to show: {summary}")
    else:
        frozen = sources.frozen_targets(summary["month"])
        if frozen is None:
            page.problems.append(f"No targets are frozen for {summary['month']} in the store.")
        else:
            targets = frozen.targets
            page.facts["frozen"] = {
                "month": frozen.month,
                "version": frozen.agreement_version,
                "at": frozen.frozen_at.strftime("%Y-%m-%d %H:%M UTC"),
            }

    rule = agreement.mql_rule
    resolved = None if isinstance(threshold, Missing) else threshold.get("threshold")
    if rule.score_threshold == "auto":
        threshold_words = (
            "derived each month: the strictest score whose expected SQLs meet the SQL target "
            "within sales capacity, or, when none does, the one that fills capacity; currently "
            f"{resolved:g} (whether it meets the target: the box above)"
            if resolved is not None
            else "derived each month (auto), not resolved yet: run `leadscore sla report`"
        )
    else:
        threshold_words = f"fixed at {float(rule.score_threshold):g}"
    exclusions = [f"{k.replace('_', ' ')} is {', '.join(v)}" for k, v in rule.exclude.items()]
    capacity = agreement.sales_capacity
    page.facts["words"] = {
        "revenue": f"Sales closes {agreement.revenue_goal_eur:,.0f} EUR of new revenue a month.",
        "marketing": "Marketing hands over a monthly volume of MQLs: leads whose score reaches the "
        f"threshold ({threshold_words}), with a persona fit of at least "
        f"{rule.min_fit_score:g}"
        + ("; a lead that unsubscribed is never an MQL" if rule.exclude_unsubscribed else "")
        + (f"; never when {'; or '.join(exclusions)}" if exclusions else "")
        + ".",
        "sales": f"Sales contacts every MQL within {agreement.follow_up_hours:g} hours, "
        "for at least "
        f"{agreement.follow_up_compliance:.0%} of them; capacity {capacity.reps} reps x "
        f"{capacity.leads_per_rep_per_month} leads = {capacity.mqls_per_month} MQLs a month.",
        "measured": "Figures marked measured are read from the last "
        f"{agreement.history.months} complete months of CRM history (leads at least "
        f"{agreement.history.maturity_days} days old).",
    }

    if not isinstance(threshold, Missing) and targets:
        curve = sources.csv("sla/threshold_curve.csv")
        rows = [] if isinstance(curve, Missing) else curve.to_dict("records")
        verdict = threshold_verdict(threshold, rows, capacity.leads_per_rep_per_month)
        if threshold.get("sql_target") != targets.get("sqls_needed"):
            verdict["options"].append(
                f"Note: the threshold was derived against an SQL target of "
                f"{threshold.get('sql_target')} (`leadscore sla report` of "
                f"{str(threshold.get('as_of', ''))[:10]}); this month's frozen target is "
                f"{targets.get('sqls_needed')}."
            )
        page.facts["threshold"] = verdict

    if targets:
        page.panels.append(
            Panel(
                "arithmetic",
                f"How {page.facts['frozen']['month']}'s targets are computed",
                table(
                    seed_steps(targets),
                    [col("step", "Step"), col("formula", "Arithmetic"), col("result", "Result")],
                ),
                note="Each count is rounded up to a whole number (left: the exact figure). "
                "Rates come from the figures below; the SQL and MQL steps start from the exact "
                "number of customers, not the rounded one.",
                wide=True,
            )
        )
        monthly = [
            {"what": "Revenue (EUR)", "target": targets.get("revenue_goal_eur")},
            {"what": "Customers", "target": targets.get("customers_needed")},
            {"what": "SQLs", "target": targets.get("sqls_needed")},
            {"what": "MQLs", "target": targets.get("mqls_needed")},
            {"what": "Leads", "target": targets.get("leads_needed")},
            {"what": "Lead value (EUR)", "target": targets.get("lead_value_eur")},
        ]
        page.panels.append(
            Panel(
                "targets",
                f"Targets of {page.facts['frozen']['month']} (frozen)",
                table(monthly, [col("what", "Target"), col("target", "Per month", eur)]),
                note=f"Frozen on {page.facts['frozen']['at']} by the month's first daily run, "
                f"from agreement version {page.facts['frozen']['version']}: the same targets "
                "on every page, in the recap and in /v1/summary all month.",
            )
        )
        sources_of = targets.get("sources") or {}
        figures = [
            {
                "figure": "Average deal value (EUR)",
                "value": eur(targets.get("avg_deal_value_eur")),
                "source": sources_of.get("avg_deal_value_eur", ""),
            },
            {
                "figure": "Lead -> customer",
                "value": percent(targets.get("conversion_rate")),
                "source": sources_of.get("conversion_rate", ""),
            },
            {
                "figure": "MQL -> SQL",
                "value": percent(targets.get("mql_to_sql")),
                "source": sources_of.get("mql_to_sql", ""),
            },
            {
                "figure": "SQL -> customer",
                "value": percent(targets.get("sql_to_customer")),
                "source": sources_of.get("sql_to_customer", ""),
            },
            {
                "figure": "Lead mix per channel x persona",
                "value": "",
                "source": sources_of.get("lead_mix", ""),
            },
        ]
        page.panels.append(
            Panel(
                "figures",
                "Figures the targets rest on",
                table(
                    figures,
                    [
                        col("figure", "Figure"),
                        col("value", "In force"),
                        col("source", "Where it comes from"),
                    ],
                ),
                note="Measured figures are read from the CRM history when the month's targets "
                "are frozen.",
            )
        )
        cells = targets.get("cells") or []
        if cells:
            rates = rate_sources(cells)
            fallbacks = sum(r["kind"] == "fallback" for r in rates)
            page.panels.append(
                Panel(
                    "rates",
                    f"Conversion rates: {len(rates) - fallbacks} measured, {fallbacks} fallback",
                    table(
                        rates,
                        [
                            col("channel", "Channel"),
                            col("persona", "Persona"),
                            col("conversion_rate", "Lead -> customer", percent),
                            col("kind", "Measured or fallback"),
                            col("source", "Where the rate comes from"),
                            col("lead_value_eur", "Lead value EUR", eur),
                        ],
                    ),
                    note="A cell with too few leads of its own borrows its channel's rate, or "
                    "the overall one: its lead value is then an estimate, not a measurement.",
                    wide=True,
                )
            )
            page.panels.append(
                Panel(
                    "cells",
                    "Leads needed per channel and persona",
                    table(
                        cells,
                        [
                            col("channel", "Channel"),
                            col("persona", "Persona"),
                            col("leads_needed", "Leads", count),
                            col("mqls_needed", "MQLs", count),
                            col("customers_needed", "Customers", count),
                            col("conversion_rate", "Lead -> customer", percent),
                            col("lead_value_eur", "Lead value EUR", eur),
                        ],
                    ),
                    spec=_stacked(cells),
                    wide=True,
                )
            )

    deal_sources = {}
    if targets:
        for c in targets.get("cells") or []:
            deal_sources.setdefault(c.get("persona"), c.get("avg_deal_value_eur"))
    persona_rows = [
        {
            "persona": p.name,
            "description": p.description,
            "size": f"{p.company_size.min or 0:,}-{p.company_size.max:,}"
            if p.company_size.max
            else f"{p.company_size.min or 0:,}+",
            "industries": ", ".join(p.industries),
            "roles": ", ".join(p.job_roles),
            "countries": ", ".join(p.countries),
            "agreed": p.avg_deal_value_eur,
            "measured": deal_sources.get(p.name),
        }
        for p in personas.personas
    ]
    page.panels.append(
        Panel(
            "personas",
            "Personas and their deal values",
            table(
                persona_rows,
                [
                    col("persona", "Persona"),
                    col("description", "Who"),
                    col("size", "Employees"),
                    col("industries", "Industries"),
                    col("roles", "Roles"),
                    col("countries", "Countries"),
                    col("agreed", "Deal EUR (personas.yaml)", eur),
                    col("measured", "Deal EUR (in force)", eur),
                ],
            ),
            wide=True,
        )
    )
    page.panels.append(
        Panel(
            "tiers",
            "Score tiers",
            table(
                _bands(agreement.tiers),
                [col("band", "Tier"), col("from", "From"), col("to", "Below")],
            ),
            note="The score is the calibrated chance in % that a lead becomes SQL within "
            "the horizon.",
        )
    )
    page.panels.append(
        Panel(
            "grades",
            "Fit and engagement grades",
            table(
                [{"kind": "fit", **b} for b in _bands(agreement.fit_grades)]
                + [{"kind": "engagement", **b} for b in _bands(agreement.engagement_grades)],
                [
                    col("kind", "Grade of"),
                    col("band", "Grade"),
                    col("from", "From", text),
                    col("to", "Below", text),
                ],
            ),
        )
    )
    return page


def _stacked(cells: list[dict[str, Any]]) -> dict[str, Any]:
    return charts._spec(
        records_of(cells),
        {
            "mark": {"type": "bar", "tooltip": True},
            "encoding": {
                "x": {
                    "field": "channel",
                    "type": "nominal",
                    "title": None,
                    "axis": {"labelAngle": 0},
                },
                "y": {
                    "field": "leads_needed",
                    "type": "quantitative",
                    "title": "leads needed / month",
                },
                "color": {"field": "persona", "type": "nominal", "title": None},
            },
        },
    )


def records_of(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    import pandas as pd

    return records(pd.DataFrame(rows))
