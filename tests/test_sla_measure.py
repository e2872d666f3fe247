"""Measured figures from a hand-made history: windows, thin-cell fallback, funnel, deals."""

from __future__ import annotations

import pandas as pd
import pytest

from sla import measure
from sla.agreement import parse_agreement
from sla.errors import SLAError
from sla.targets import History, targets_from_agreement

UTC = "UTC"
CREATED = pd.Timestamp("2026-01-15", tz=UTC)
WINDOW = measure.Window(pd.Timestamp("2026-01-01", tz=UTC), pd.Timestamp("2026-04-01", tz=UTC))


def make_history(cells: list[tuple[str, str, int, int]], created: pd.Timestamp = CREATED):
    """Leads per (channel, persona, n leads, n customers); customers reach the funnel in full."""
    leads, stages, persona = [], [], {}
    for channel, name, n, won in cells:
        for i in range(n):
            lead_id = f"{channel}-{name}-{i}"
            leads.append({"lead_id": lead_id, "created_at": created, "channel": channel})
            persona[lead_id] = None if name == measure.NO_PERSONA else name
            if i < won:
                for k, stage in enumerate(["mql", "sql", "customer"]):
                    stages.append(
                        {
                            "lead_id": lead_id,
                            "stage": stage,
                            "ts": created + pd.Timedelta(days=10 * (k + 1)),
                            "deal_value_eur": 10_000.0 if stage == "customer" else None,
                        }
                    )
    return (
        pd.DataFrame(leads),
        pd.DataFrame(stages, columns=["lead_id", "stage", "ts", "deal_value_eur"]),
        pd.Series(persona),
    )


def test_recent_window_is_whole_complete_months() -> None:
    end = pd.Timestamp("2026-10-31 23:00", tz=UTC)  # October is complete
    w = measure.recent_window(end, months=6)
    assert (w.start, w.end) == (
        pd.Timestamp("2026-05-01", tz=UTC),
        pd.Timestamp("2026-11-01", tz=UTC),
    )
    mid = measure.recent_window(pd.Timestamp("2026-10-15", tz=UTC), months=6)
    assert mid.end == pd.Timestamp("2026-10-01", tz=UTC)  # October is not complete yet
    mature = measure.recent_window(end, months=6, maturity_days=90)
    assert mature.end == pd.Timestamp("2026-08-01", tz=UTC)


def test_thin_cells_fall_back_to_channel_then_overall() -> None:
    leads, stages, persona = make_history(
        [
            ("paid_search", "enterprise_it", 50, 5),  # 50 leads: its own rate 0.1
            ("paid_search", "smb_founder", 10, 0),  # thin: paid_search rate 5/60
            ("events", "enterprise_it", 5, 1),  # thin, and events is thin: overall 6/65
        ]
    )
    outcomes = measure.lead_outcomes(leads, stages, persona)
    table = measure.measured_conversion(outcomes, WINDOW, min_leads=40)
    cell = table.rate_for("paid_search", "enterprise_it")
    assert (cell.value, cell.leads, cell.source) == (0.1, 50, "cell")
    thin = table.rate_for("paid_search", "smb_founder")
    assert (thin.value, thin.leads, thin.source) == (5 / 60, 60, "channel")
    thinner = table.rate_for("events", "enterprise_it")
    assert (thinner.value, thinner.leads, thinner.source) == (6 / 65, 65, "overall")
    unseen = table.rate_for("partner", "marketing_leader")  # a cell with no history at all
    assert unseen.source == "overall"


def test_leads_outside_the_window_are_not_counted() -> None:
    leads, stages, persona = make_history([("email", "enterprise_it", 10, 10)])
    old, old_stages, old_persona = make_history(
        [("email", "smb_founder", 30, 0)], created=pd.Timestamp("2025-06-01", tz=UTC)
    )
    outcomes = measure.lead_outcomes(
        pd.concat([leads, old]), pd.concat([stages, old_stages]), pd.concat([persona, old_persona])
    )
    table = measure.measured_conversion(outcomes, WINDOW, min_leads=1)
    assert (table.overall.value, table.overall.leads) == (1.0, 10)


def test_no_conversion_is_a_clear_error() -> None:
    leads, stages, persona = make_history([("email", "enterprise_it", 10, 0)])
    outcomes = measure.lead_outcomes(leads, stages, persona)
    with pytest.raises(SLAError, match="conversion_rate: none of the 10 leads"):
        measure.measured_conversion(outcomes, WINDOW, min_leads=1)
    with pytest.raises(SLAError, match=r"funnel\.mql_to_sql: no lead"):
        measure.measured_funnel_rate(outcomes, WINDOW, "mql", "sql")


def test_a_later_stage_counts_as_passing_the_earlier_ones() -> None:
    leads = pd.DataFrame(
        {"lead_id": ["a", "b", "c"], "created_at": [CREATED] * 3, "channel": ["email"] * 3}
    )
    stages = pd.DataFrame(
        {
            "lead_id": ["a", "b", "b", "c", "c"],
            "stage": ["customer", "mql", "contacted", "mql", "disqualified"],
            "ts": [CREATED + pd.Timedelta(days=5)] * 5,
            "deal_value_eur": [9_000.0, None, None, None, None],
        }
    )
    outcomes = measure.lead_outcomes(leads, stages, pd.Series({"a": "x", "b": "x", "c": "x"}))
    rate = measure.measured_funnel_rate(outcomes, WINDOW, "mql", "sql")
    assert (rate.value, rate.leads) == (1 / 3, 3)  # a skipped the mql and sql rows, still counts


def test_deal_values_measured_then_personas_then_overall() -> None:
    deals = pd.DataFrame(
        {
            "lead_id": [f"l{i}" for i in range(7)],
            "persona": ["enterprise_it"] * 5 + ["smb_founder"] * 2,
            "deal_value_eur": [40_000.0, 50_000, 60_000, 50_000, 50_000, 5_000, 7_000],
        }
    )
    values = measure.measured_deal_values(
        deals,
        {"enterprise_it": 48_000, "smb_founder": 5_500},
        min_won=5,
        needed=["enterprise_it", "smb_founder", "none"],
    )
    assert (values["enterprise_it"].eur, values["enterprise_it"].source) == (50_000.0, "measured")
    assert (values["smb_founder"].eur, values["smb_founder"].source) == (5_500.0, "personas.yaml")
    assert values["none"].eur == pytest.approx(262_000 / 7)
    assert values["none"].source == "overall"


def test_given_deal_values_use_personas_then_other() -> None:
    values = measure.given_deal_values(
        {"other": 3_000.0}, {"smb_founder": 5_500}, ["smb_founder", "none"]
    )
    assert (values["smb_founder"].eur, values["none"].eur) == (5_500.0, 3_000.0)
    with pytest.raises(SLAError, match="no deal value for persona 'none'"):
        measure.given_deal_values({"smb_founder": 1.0}, {}, ["none"])


AGREEMENT = {
    "revenue_goal_eur": 64_000,
    "history": {"months": 3, "maturity_days": 0, "min_leads_per_cell": 1, "min_won_deals": 1},
    "avg_deal_value_eur": {"enterprise_it": 20_000, "smb_founder": 5_000},
    "conversion_rate": {
        "overall": 0.01,
        "cells": {"events": {"enterprise_it": 0.05}},
        "channels": {"social": 0.02},
    },
    "funnel": {"mql_to_sql": 0.5, "sql_to_customer": 0.25},
    "mql_rule": {"score_threshold": 50},
    "tiers": {"A": [50, 100], "B": [0, 50]},
    "fit_grades": {"A": [0.5, 1], "B": [0, 0.5]},
    "engagement_grades": {"1": [0.5, 1], "2": [0, 0.5]},
    "follow_up_hours": 24,
    "sales_capacity": {"reps": 2, "leads_per_rep_per_month": 50},
}


def test_targets_from_agreement_split_by_the_history_mix() -> None:
    # Same figures as test_split_by_recent_mix, with the 60 / 40 mix read from the history.
    leads, stages, persona = make_history(
        [("events", "enterprise_it", 60, 0), ("social", "smb_founder", 40, 0)],
        created=pd.Timestamp("2026-02-10", tz=UTC),
    )
    stages = pd.DataFrame(
        [
            {
                "lead_id": "x",
                "stage": "mql",
                "ts": pd.Timestamp("2026-03-31", tz=UTC),
                "deal_value_eur": None,
            }
        ]
    )
    t = targets_from_agreement(parse_agreement(AGREEMENT), History(leads, stages, persona), {})
    assert (t.leads_needed, t.customers_needed, t.sqls_needed, t.mqls_needed) == (100, 4, 16, 31)
    sources = {(c.channel, c.persona): c.conversion_source for c in t.cells}
    assert sources == {("events", "enterprise_it"): "given", ("social", "smb_founder"): "given"}
    assert "2026-01..2026-03" in t.sources["lead_mix"]
