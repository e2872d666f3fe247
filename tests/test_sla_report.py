"""The SLA report reconciles with the raw stages: exact numbers on a hand-made history, and an
independent plain-pandas recount of every month x channel x persona on simulated data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from features.persona import load_personas
from foundation.params import SimulateParams
from pipeline.simulator import simulate
from pipeline.sla_data import lead_personas
from sla.measure import DealValue, Rate, data_end
from sla.report import (
    LEVELS,
    REPORT_COLUMNS,
    TOTAL,
    backtest,
    follow_up_effect,
    lead_facts,
    monthly_report,
    report_months,
)
from sla.targets import CellInput, Funnel, split_targets

ROOT = Path(__file__).resolve().parents[1]
FOLLOW_UP_HOURS = 24.0
COMPLIANCE = 0.9


def ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def hand_history() -> tuple[pd.DataFrame, pd.DataFrame, pd.Series]:
    leads = pd.DataFrame(
        [
            ("a", "2026-02-03", "email", "p1"),
            ("b", "2026-02-10", "email", "p1"),
            ("c", "2026-02-15", "email", "p2"),
            ("d", "2026-03-01", "events", "p1"),
            ("e", "2026-03-20", "events", "p2"),
            ("f", "2026-03-05", "email", "p1"),
            ("g", "2025-06-01", "events", "p2"),
        ],
        columns=["lead_id", "created_at", "channel", "persona"],
    )
    leads["created_at"] = pd.to_datetime(leads["created_at"], utc=True)
    persona = leads.set_index("lead_id")["persona"]
    rows = [
        ("a", "mql", "2026-02-05 10:00", None),
        ("a", "contacted", "2026-02-05 12:00", None),  # 2 h: on time
        ("a", "sql", "2026-02-20", None),
        ("a", "customer", "2026-03-10", 10_000.0),
        ("b", "mql", "2026-02-12 00:00", None),
        ("b", "contacted", "2026-02-14 00:00", None),  # 48 h: late
        ("c", "contacted", "2026-02-10", None),  # before the MQL: not a follow-up
        ("c", "mql", "2026-02-16", None),  # never touched after: missed
        ("d", "mql", "2026-03-02", None),
        ("d", "opportunity", "2026-03-05", None),  # first touch without a contacted row: 72 h
        ("d", "customer", "2026-03-25", 5_000.0),  # no sql row: not counted as an SQL
        ("g", "mql", "2026-03-03 00:00", None),
        ("g", "contacted", "2026-03-03 01:00", None),  # 1 h: on time
        ("e", "mql", "2026-03-31 12:00", None),  # deadline after the data ends: pending
    ]
    stages = pd.DataFrame(rows, columns=["lead_id", "stage", "ts", "deal_value_eur"])
    stages["ts"] = pd.to_datetime(stages["ts"], utc=True, format="ISO8601")
    stages["deal_value_eur"] = stages["deal_value_eur"].astype(float)
    return leads.drop(columns="persona"), stages, persona


def hand_targets():
    # 4 equal cells, 5% lead -> customer at 10,000 EUR: 20 leads, 1 customer, 4 SQLs, 8 MQLs.
    cells = [
        CellInput(ch, p, 25, Rate(0.05, 0, "given"), DealValue(10_000.0, 0, "given"))
        for ch in ("email", "events")
        for p in ("p1", "p2")
    ]
    return split_targets(10_000, cells, Funnel(mql_to_sql=0.5, sql_to_customer=0.25))


@pytest.fixture(scope="module")
def hand_report() -> pd.DataFrame:
    leads, stages, persona = hand_history()
    end = data_end(leads, stages)
    facts = lead_facts(leads, stages, persona, FOLLOW_UP_HOURS, end)
    return monthly_report(facts, hand_targets(), report_months(end), COMPLIANCE)


def row(table: pd.DataFrame, month: str, channel: str = TOTAL, persona: str = TOTAL) -> pd.Series:
    hit = table[
        (table["month"] == month) & (table["channel"] == channel) & (table["persona"] == persona)
    ]
    assert len(hit) == 1, (month, channel, persona)
    return hit.iloc[0]


def test_report_months_are_the_latest_complete_month_and_six_before(hand_report) -> None:
    assert sorted(hand_report["month"].unique()) == [
        "2025-09", "2025-10", "2025-11", "2025-12", "2026-01", "2026-02", "2026-03",
    ]  # fmt: skip
    assert tuple(hand_report.columns) == REPORT_COLUMNS


def test_hand_made_month_totals(hand_report) -> None:
    feb, mar = row(hand_report, "2026-02"), row(hand_report, "2026-03")
    assert (feb.leads, feb.mqls, feb.sqls, feb.customers, feb.revenue_eur) == (3, 3, 1, 0, 0.0)
    assert (mar.leads, mar.mqls, mar.sqls, mar.customers, mar.revenue_eur) == (3, 3, 0, 2, 15_000.0)
    assert (feb.mqls_due, feb.mqls_on_time, feb.mqls_pending) == (3, 1, 0)
    assert (mar.mqls_due, mar.mqls_on_time, mar.mqls_pending) == (2, 1, 1)
    assert feb.follow_up_compliance == pytest.approx(1 / 3)
    assert feb.median_hours_to_contact == pytest.approx(25.0)  # median of 2 h and 48 h
    assert mar.median_hours_to_contact == pytest.approx(36.5)  # median of 72 h and 1 h
    assert mar.lead_value_eur == pytest.approx(5_000.0)  # 15,000 EUR / 3 leads
    assert (feb.mqls_target, feb.sqls_target, feb.leads_target) == (8, 4, 20)
    assert (feb.marketing, feb.sales) == ("behind", "behind")


def test_hand_made_cell_and_empty_month(hand_report) -> None:
    cell = row(hand_report, "2026-02", "email", "p1")
    assert (cell.leads, cell.mqls, cell.sqls, cell.mqls_on_time, cell.mqls_due) == (2, 2, 1, 1, 2)
    assert (cell.mqls_target, cell.marketing, cell.sales) == (2, "met", "behind")
    quiet = row(hand_report, "2025-09")
    assert (quiet.leads, quiet.mqls, quiet.marketing, quiet.sales) == (0, 0, "behind", "n/a")
    assert np.isnan(quiet.follow_up_compliance)


def test_speed_to_lead_buckets() -> None:
    leads, stages, persona = hand_history()
    end = data_end(leads, stages)
    facts = lead_facts(leads, stages, persona, FOLLOW_UP_HOURS, end)
    effect = follow_up_effect(facts, report_months(end)).set_index("hours_to_contact")
    # a: 2 h and became SQL; g: 1 h; b: 48 h; d: 72 h; c: never; e: pending (left out).
    assert effect["mqls"].to_dict() == {
        "<= 1 h": 1, "1-4 h": 1, "4-24 h": 0, "24-72 h": 2, "> 72 h": 0, "never": 1,
    }  # fmt: skip
    assert effect.loc["1-4 h", "sqls"] == 1


# ---- independent recount on simulated data ----------------------------------------------------


@pytest.fixture(scope="module")
def simulated() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.Series]:
    personas = load_personas(ROOT / "personas.yaml")
    params = SimulateParams(seed=11, n_leads=1_500, months=12)
    chunks = list(simulate(params, personas))

    def table(name: str) -> pd.DataFrame:
        return pa.concat_tables([getattr(c, name) for c in chunks]).to_pandas()

    leads, events, stages = table("leads"), table("events"), table("stages")
    return leads, events, stages, lead_personas(leads, personas, 0.5)


def recount(leads, stages, persona, month: str, end: pd.Timestamp) -> pd.DataFrame:
    """Plain pandas, one month at a time, without any sla.report helper."""
    cell = leads.assign(persona=leads["lead_id"].map(persona))[["lead_id", "channel", "persona"]]
    first = stages.sort_values("ts").drop_duplicates(["lead_id", "stage"]).merge(cell, on="lead_id")
    in_month = first["ts"].dt.strftime("%Y-%m") == month
    created = leads["created_at"].dt.strftime("%Y-%m") == month
    out = {"leads": cell[created.to_numpy()].groupby(["channel", "persona"]).size()}
    for name, stage in (("mqls", "mql"), ("sqls", "sql"), ("customers", "customer")):
        out[name] = (
            first[in_month & (first["stage"] == stage)].groupby(["channel", "persona"]).size()
        )
    won = first[in_month & (first["stage"] == "customer")]
    out["revenue_eur"] = won.groupby(["channel", "persona"])["deal_value_eur"].sum()
    on_time, due = {}, {}
    sales = stages[stages["stage"].isin(["contacted", "sql", "opportunity", "customer"])]
    touch_times = sales.groupby("lead_id")["ts"].apply(list).to_dict()
    for mql in first[in_month & (first["stage"] == "mql")].itertuples():
        touches = pd.Series([t for t in touch_times.get(mql.lead_id, []) if t >= mql.ts])
        key = (mql.channel, mql.persona)
        deadline = mql.ts + pd.Timedelta(hours=FOLLOW_UP_HOURS)
        if touches.empty and deadline > end:
            continue  # pending
        due[key] = due.get(key, 0) + 1
        if not touches.empty and touches.min() <= deadline:
            on_time[key] = on_time.get(key, 0) + 1
    out["mqls_due"] = pd.Series(due, dtype=float)
    out["mqls_on_time"] = pd.Series(on_time, dtype=float)
    return pd.DataFrame(out).fillna(0)


def test_report_reconciles_with_the_raw_stages(simulated) -> None:
    leads, _, stages, persona = simulated
    end = data_end(leads, stages)
    months = report_months(end)
    facts = lead_facts(leads, stages, persona, FOLLOW_UP_HOURS, end)
    table = monthly_report(facts, hand_targets(), months, COMPLIANCE)
    counted = ["leads", "mqls", "sqls", "customers", "revenue_eur", "mqls_due", "mqls_on_time"]
    assert table.loc[table["level"] == "total", "mqls"].sum() > 0
    for month in (f"{m:%Y-%m}" for m in months):
        expected = recount(leads, stages, persona, month, end)
        cells = table[(table["level"] == "cell") & (table["month"] == month)]
        got = cells.set_index(["channel", "persona"])[counted]
        got = got[(got != 0).any(axis=1)].sort_index()
        expected = expected[(expected != 0).any(axis=1)].sort_index()[counted]
        pd.testing.assert_frame_equal(got.astype(float), expected.astype(float), check_names=False)
        # Each aggregate level is the sum of the cells.
        for level in LEVELS:
            part = table[(table["level"] == level) & (table["month"] == month)]
            assert part[counted].sum().to_dict() == pytest.approx(cells[counted].sum().to_dict())


# ---- backtest ---------------------------------------------------------------------------------


def test_backtest_counts_what_the_threshold_selected() -> None:
    as_of, end = ts("2026-03-01"), ts("2026-03-31 12:00")
    scored = pd.DataFrame(
        {
            "lead_id": ["s1", "s2", "s3", "s4"],
            "probability": [0.5, 0.3, 0.1, 0.4],
            "decision": ["mql", "mql", "nurture", "disqualified"],
            "rule": [
                "score_at_or_above_threshold",
                "score_at_or_above_threshold",
                "score_below_threshold",
                "excluded:unsubscribed",
            ],
        }
    )
    stages = pd.DataFrame(
        [
            ("s1", "mql", "2026-03-02"),
            ("s1", "sql", "2026-03-10"),  # selected, became SQL
            ("s2", "sql", "2026-04-15"),  # selected, SQL after the data ends
            ("s3", "mql", "2026-03-01 05:00"),
            ("s3", "customer", "2026-03-05"),  # missed by the threshold; a customer counts as SQL
        ],
        columns=["lead_id", "stage", "ts"],
    ).assign(
        ts=lambda d: pd.to_datetime(d["ts"], utc=True, format="ISO8601"), deal_value_eur=np.nan
    )
    bt = backtest(scored, stages, as_of, end, horizon_days=60, threshold=7)
    assert (bt.selected, bt.became_sql, bt.sqls_in_population) == (2, 1, 2)
    assert bt.expected_sqls == pytest.approx(0.8)
    assert (bt.precision, bt.captured_share) == (0.5, 0.5)
    assert (bt.crm_mqls, bt.crm_mqls_became_sql) == (2, 2)
    assert bt.observed_days == 30
    assert bt.decisions["score_at_or_above_threshold"] == 2
