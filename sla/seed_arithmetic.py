"""The month's targets written out step by step, and what the MQL threshold does against them,
in the words a manager reads on the Agreement page (dashboard/page_sla.py).

Pure functions over the frozen targets (sla.targets.Targets.to_dict) and the threshold result
(artifacts/sla/threshold.json, sla.threshold.ThresholdResult): no file, no store.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any


def _n(x: float, digits: int = 1) -> str:
    return f"{x:,.{digits}f}"


def seed_steps(targets: dict[str, Any]) -> list[dict[str, str]]:
    """Revenue goal -> customers -> SQLs -> MQLs, and customers -> leads, each step as
    `what = formula = exact (whole, rounded up)`: the figures the month's targets rest on."""
    goal = float(targets["revenue_goal_eur"])
    deal = float(targets["avg_deal_value_eur"])
    rate = float(targets["conversion_rate"])
    customers = goal / deal
    steps = [
        {
            "step": "Customers needed",
            "formula": f"revenue goal {_n(goal, 0)} EUR / average deal {_n(deal, 0)} EUR",
            "result": f"{_n(customers, 2)} -> {targets['customers_needed']}",
        }
    ]
    to_customer, to_sql = targets.get("sql_to_customer"), targets.get("mql_to_sql")
    if to_customer:
        sqls = customers / float(to_customer)
        steps.append(
            {
                "step": "SQLs needed",
                "formula": f"{_n(customers, 2)} customers / SQL -> customer "
                f"{float(to_customer):.1%}",
                "result": f"{_n(sqls)} -> {targets['sqls_needed']}",
            }
        )
        if to_sql:
            steps.append(
                {
                    "step": "MQLs needed",
                    "formula": f"{_n(sqls)} SQLs / MQL -> SQL {float(to_sql):.1%}",
                    "result": f"{_n(sqls / float(to_sql))} -> {targets['mqls_needed']}",
                }
            )
    steps.append(
        {
            "step": "Leads needed",
            "formula": f"{_n(customers, 2)} customers / lead -> customer {rate:.2%}",
            "result": f"{_n(customers / rate)} -> {targets['leads_needed']}",
        }
    )
    steps.append(
        {
            "step": "Lead value",
            "formula": f"average deal {_n(deal, 0)} EUR x lead -> customer {rate:.2%}",
            "result": f"{_n(deal * rate)} EUR",
        }
    )
    return steps


def threshold_verdict(
    threshold: dict[str, Any], curve: Sequence[dict[str, Any]], per_rep: int
) -> dict[str, Any]:
    """Whether the threshold in force meets the SQL target within sales capacity, by how much it
    falls short, and what would meet it: the highest threshold whose expected SQLs reach the
    target (and the calls it costs), or the capacity and reps that would."""
    t, target = float(threshold["threshold"]), int(threshold["sql_target"])
    expected, capacity = float(threshold["expected_sqls"]), int(threshold["capacity"])
    mqls = int(threshold["expected_mqls"])
    if threshold.get("met"):
        return {
            "met": True,
            "text": f"Threshold {t:g} meets the SQL target: {_n(expected)} expected SQLs "
            f"against {target}, from {mqls:,} MQLs within a capacity of {capacity:,}.",
            "options": [],
        }
    short = float(threshold.get("sqls_short") or target - expected)
    options = []
    reaching = [r for r in curve if float(r["expected_sqls"]) + 1e-9 >= target]
    if reaching:
        best = max(reaching, key=lambda r: float(r["threshold"]))
        calls = int(best["mqls"])
        extra_reps = max(math.ceil(calls / per_rep) - math.ceil(capacity / per_rep), 0)
        options.append(
            f"Lower the threshold to {float(best['threshold']):g}: {calls:,} MQLs a month to "
            f"call ({calls - mqls:+,} against today's {mqls:,}), "
            f"{_n(float(best['expected_sqls']))} expected SQLs; sales can work {capacity:,}, "
            f"so about {extra_reps} more reps at "
            f"{per_rep} leads each."
        )
    else:
        options.append(
            "No threshold reaches the target with this month's leads: even every eligible lead "
            "brings fewer SQLs; marketing needs about "
            f"{threshold.get('extra_leads_needed') or '?'} more leads."
        )
    if threshold.get("capacity_needed"):
        options.append(
            f"Or keep the rules and raise sales capacity to {int(threshold['capacity_needed']):,} "
            f"MQLs a month ({threshold.get('reps_needed')} reps)."
        )
    return {
        "met": False,
        "text": f"Threshold {t:g} does not meet the SQL target: {_n(expected)} expected SQLs "
        f"against {target}, {_n(short)} short (from {mqls:,} MQLs; capacity {capacity:,}).",
        "options": options,
    }


RATE_SOURCES = {  # sla.measure.Rate.source -> what it means for the figure
    "cell": "measured on this channel and persona",
    "given": "given in sla.yaml",
    "channel": "fallback: the channel's rate (too few leads in this cell)",
    "overall": "fallback: the overall rate (too few leads in this channel)",
}


def rate_sources(cells: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per channel x persona: the conversion rate in force, whether it is measured on the cell
    itself or a fallback (its channel's, or the overall rate), and the lead value it gives."""
    out = []
    for c in cells:
        source = str(c.get("conversion_source") or "")
        fallback = source in ("channel", "overall")
        out.append(
            {
                "channel": c.get("channel"),
                "persona": c.get("persona"),
                "conversion_rate": c.get("conversion_rate"),
                "kind": "fallback" if fallback else "measured" if source == "cell" else source,
                "source": RATE_SOURCES.get(source, source),
                "lead_value_eur": c.get("lead_value_eur"),
                "deal_value_source": c.get("deal_value_source"),
            }
        )
    return out
