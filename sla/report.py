"""The SLA report: who kept their side of the agreement, month by month. DataFrames in, tables out.

Counting rules (the reconciliation test recounts them from the stages table with plain pandas):
- a lead counts in the month it was created; an MQL, SQL or customer in the month of the lead's
  first row with that stage; revenue is the deal value on that first `customer` row. The rates of
  a month are flow ratios of those counts (MQLs / leads, SQLs / MQLs, ...), not cohort rates:
  cohorts of the last months are not finished, flows are.
- follow-up: the first sales touch (contacted, sql, opportunity or customer) at or after the MQL
  time. On time when within the agreed hours; an MQL never touched counts as missed once its
  deadline has passed, and as pending (left out) while the deadline is still ahead.
- targets are this agreement's monthly targets applied to every month shown.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import numpy as np
import pandas as pd

from sla import measure
from sla.targets import Targets

REPORT_MONTHS = 7  # the latest complete month and the six before it
TOTAL = "all"  # channel / persona label of an aggregate row
LEVELS = ("total", "channel", "persona", "cell")
SALES_TOUCH_STAGES = ("contacted", "sql", "opportunity", "customer")
FUNNEL_COUNTS = {"mqls": "mql", "sqls": "sql", "customers": "customer"}
ON_TIME, LATE, MISSED, PENDING = "on_time", "late", "missed", "pending"
# Hours-to-first-contact buckets for the speed-to-lead table (the HBR finding: the first hour
# matters most, a day is already late).
CONTACT_BUCKET_EDGES_H = (1.0, 4.0, 24.0, 72.0)
NEVER_CONTACTED = "never"
MET, BEHIND, NOT_APPLICABLE = "met", "behind", "n/a"
SECONDS_PER_HOUR = 3600.0
KEYS = ["level", "month", "channel", "persona"]


REPORT_COLUMNS = (
    *KEYS,
    "leads",
    "leads_target",
    "mqls",
    "mqls_target",
    "sqls",
    "sqls_target",
    "customers",
    "customers_target",
    "revenue_eur",
    "revenue_target_eur",
    "lead_to_mql",
    "mql_to_sql",
    "sql_to_customer",
    "lead_to_customer",
    "lead_value_eur",
    "lead_value_target_eur",
    "mqls_due",
    "mqls_on_time",
    "mqls_pending",
    "follow_up_compliance",
    "median_hours_to_contact",
    "marketing",
    "sales",
)


def report_months(end_of_data: pd.Timestamp, n: int = REPORT_MONTHS) -> list[pd.Timestamp]:
    """Month starts of the last `n` complete months, oldest first."""
    window = measure.recent_window(end_of_data, n)
    return [window.start + pd.DateOffset(months=k) for k in range(n)]


def month_label(ts: pd.Series) -> pd.Series:
    return ts.dt.tz_convert("UTC").dt.strftime("%Y-%m")


def first_stage_times(stages: pd.DataFrame) -> pd.DataFrame:
    """lead_id x stage -> the first time the lead reached it."""
    return stages.groupby(["lead_id", "stage"])["ts"].min().unstack()


def follow_up_status(
    mql_at: pd.Series, touch_at: pd.Series, follow_up_hours: float, end_of_data: pd.Timestamp
) -> tuple[pd.Series, pd.Series]:
    """Hours from MQL to first touch, and on_time / late / missed / pending (NaN: not an MQL)."""
    hours = (touch_at - mql_at).dt.total_seconds() / SECONDS_PER_HOUR
    deadline_passed = mql_at + pd.Timedelta(hours=follow_up_hours) <= end_of_data
    status = np.select(
        [
            mql_at.isna(),
            hours.notna() & (hours <= follow_up_hours),
            hours.notna(),
            deadline_passed,
        ],
        [None, ON_TIME, LATE, MISSED],
        default=PENDING,
    )
    return hours, pd.Series(status, index=mql_at.index, dtype=object)


def lead_facts(
    leads: pd.DataFrame,
    stages: pd.DataFrame,
    persona: pd.Series,
    follow_up_hours: float,
    end_of_data: pd.Timestamp,
) -> pd.DataFrame:
    """One row per lead: cell, creation, first MQL/SQL/customer time, deal value, follow-up."""
    facts = measure.lead_outcomes(leads, stages, persona).drop(columns="rank")
    first = first_stage_times(stages)
    for stage in FUNNEL_COUNTS.values():
        if stage in first.columns:
            facts[f"{stage}_at"] = facts["lead_id"].map(first[stage])
        else:
            facts[f"{stage}_at"] = pd.Series(pd.NaT, index=facts.index, dtype="datetime64[us, UTC]")
    won = stages[stages["stage"] == "customer"].sort_values("ts", kind="stable")
    deal = won.drop_duplicates("lead_id").set_index("lead_id")["deal_value_eur"]
    facts["deal_value_eur"] = facts["lead_id"].map(deal).astype(float)

    touches = stages[stages["stage"].isin(SALES_TOUCH_STAGES)][["lead_id", "ts"]]
    mql_at = facts.set_index("lead_id")["mql_at"].dropna()
    if mql_at.empty:  # a log without MQL stages (your own log may have none): no follow-up
        facts["first_touch_at"] = pd.Series(pd.NaT, index=facts.index, dtype=touches["ts"].dtype)
    else:
        touches = touches.assign(mql_at=touches["lead_id"].map(mql_at))
        after = touches[touches["ts"] >= touches["mql_at"]]
        facts["first_touch_at"] = facts["lead_id"].map(after.groupby("lead_id")["ts"].min())
    facts["hours_to_contact"], facts["follow_up"] = follow_up_status(
        facts["mql_at"], facts["first_touch_at"], follow_up_hours, end_of_data
    )
    return facts


def _with_levels(facts: pd.DataFrame) -> pd.DataFrame:
    """The facts four times: per cell, per channel, per persona and in total (labels `all`)."""
    copies = []
    for level in LEVELS:
        part = facts.assign(level=level)
        if level in ("total", "persona"):
            part["channel"] = TOTAL
        if level in ("total", "channel"):
            part["persona"] = TOTAL
        copies.append(part)
    return pd.concat(copies, ignore_index=True)


def _count_by_month(levelled: pd.DataFrame, ts_column: str, months: list[str]) -> pd.Series:
    rows = levelled[levelled[ts_column].notna()]
    rows = rows.assign(month=month_label(rows[ts_column]))
    rows = rows[rows["month"].isin(months)]
    return rows.groupby(KEYS).size()


def monthly_actuals(facts: pd.DataFrame, months: list[pd.Timestamp]) -> pd.DataFrame:
    """Counts per level x month x channel x persona (see the module docstring for the rules)."""
    labels = [f"{m:%Y-%m}" for m in months]
    levelled = _with_levels(facts)
    parts = {"leads": _count_by_month(levelled, "created_at", labels)}
    for name, stage in FUNNEL_COUNTS.items():
        parts[name] = _count_by_month(levelled, f"{stage}_at", labels)

    won = levelled[levelled["customer_at"].notna()]
    won = won.assign(month=month_label(won["customer_at"]))
    won = won[won["month"].isin(labels)]
    parts["revenue_eur"] = won.groupby(KEYS)["deal_value_eur"].sum()

    mqls = levelled[levelled["mql_at"].notna()]
    mqls = mqls.assign(month=month_label(mqls["mql_at"]))
    mqls = mqls[mqls["month"].isin(labels)]
    due = mqls[mqls["follow_up"] != PENDING]
    parts["mqls_due"] = due.groupby(KEYS).size()
    parts["mqls_on_time"] = due[due["follow_up"] == ON_TIME].groupby(KEYS).size()
    parts["mqls_pending"] = mqls[mqls["follow_up"] == PENDING].groupby(KEYS).size()
    parts["median_hours_to_contact"] = mqls.groupby(KEYS)["hours_to_contact"].median()

    table = pd.DataFrame(parts)
    counts = [c for c in table.columns if c != "median_hours_to_contact"]
    table[counts] = table[counts].fillna(0)
    table = table.astype({c: "int64" for c in counts if c != "revenue_eur"})
    return table.reset_index()


def target_rows(targets: Targets) -> pd.DataFrame:
    """Monthly targets per level x channel x persona (aggregates sum the cells)."""
    columns = {
        "leads_needed": "leads_target",
        "mqls_needed": "mqls_target",
        "sqls_needed": "sqls_target",
        "customers_needed": "customers_target",
        "revenue_eur": "revenue_target_eur",
    }
    total = {
        "level": "total",
        "channel": TOTAL,
        "persona": TOTAL,
        "leads_target": targets.leads_needed,
        "mqls_target": targets.mqls_needed,
        "sqls_target": targets.sqls_needed,
        "customers_target": targets.customers_needed,
        "revenue_target_eur": targets.revenue_goal_eur,
    }
    total["lead_value_target_eur"] = targets.lead_value_eur
    cells = targets.cells_frame()
    if cells.empty:
        return pd.DataFrame([total])
    # Lead value of an aggregate: its cells' lead values weighted by their share of the leads.
    cells = cells.assign(
        lead_value_target_eur=cells["lead_value_eur"],
        weighted=cells["share"] * cells["lead_value_eur"],
    )
    cells = cells.rename(columns=columns)
    summed = [*columns.values(), "share", "weighted"]

    def aggregate(by: str) -> pd.DataFrame:
        out = cells.groupby(by, as_index=False)[summed].sum()
        return out.assign(lead_value_target_eur=_ratio(out["weighted"], out["share"]))

    keep = ["channel", "persona", *columns.values(), "lead_value_target_eur"]
    by_channel = aggregate("channel").assign(persona=TOTAL)[keep]
    by_persona = aggregate("persona").assign(channel=TOTAL)[keep]
    cells = cells[keep]
    return pd.concat(
        [
            pd.DataFrame([total]),
            by_channel.assign(level="channel"),
            by_persona.assign(level="persona"),
            cells.assign(level="cell"),
        ],
        ignore_index=True,
    )


def _ratio(numerator: pd.Series, denominator: pd.Series) -> pd.Series:
    return (numerator / denominator.where(denominator > 0)).astype(float)


def _status(actual: pd.Series, target: pd.Series, applicable: pd.Series) -> pd.Series:
    met = np.where(actual >= target, MET, BEHIND)
    return pd.Series(np.where(applicable, met, NOT_APPLICABLE), index=actual.index, dtype=object)


def monthly_report(
    facts: pd.DataFrame,
    targets: Targets,
    months: list[pd.Timestamp],
    follow_up_compliance: float,
) -> pd.DataFrame:
    """Actuals next to targets with rates, lead value, follow-up compliance and met / behind.

    Marketing has met its side when the month's MQLs reach the MQL target; sales when the share
    of due MQLs touched within the agreed hours reaches the agreed compliance.
    """
    actual = monthly_actuals(facts, months)
    labels = [f"{m:%Y-%m}" for m in months]
    # Every month for every row key, so a month with no activity shows as zeros, not as absent.
    keys = pd.concat(
        [
            actual[["level", "channel", "persona"]],
            target_rows(targets)[["level", "channel", "persona"]],
        ]
    )
    keys = keys.drop_duplicates()
    grid = keys.merge(pd.DataFrame({"month": labels}), how="cross")
    table = grid.merge(actual, on=KEYS, how="left").merge(
        target_rows(targets), on=["level", "channel", "persona"], how="left"
    )
    counts = [c for c in actual.columns if c not in KEYS and c != "median_hours_to_contact"]
    table[counts] = table[counts].fillna(0)
    table = table.astype({c: "int64" for c in counts if c != "revenue_eur"})

    table["lead_to_mql"] = _ratio(table["mqls"], table["leads"])
    table["mql_to_sql"] = _ratio(table["sqls"], table["mqls"])
    table["sql_to_customer"] = _ratio(table["customers"], table["sqls"])
    table["lead_to_customer"] = _ratio(table["customers"], table["leads"])
    table["lead_value_eur"] = _ratio(table["revenue_eur"], table["leads"])
    table["follow_up_compliance"] = _ratio(table["mqls_on_time"], table["mqls_due"])
    table["marketing"] = _status(table["mqls"], table["mqls_target"], table["mqls_target"].notna())
    table["sales"] = _status(
        table["follow_up_compliance"],
        pd.Series(follow_up_compliance, index=table.index),
        table["mqls_due"] > 0,
    )
    table = table[list(REPORT_COLUMNS)]
    order = {level: i for i, level in enumerate(LEVELS)}
    table = table.sort_values(
        ["level", "channel", "persona", "month"],
        key=lambda s: s.map(order) if s.name == "level" else s,
    )
    return table.reset_index(drop=True)


def follow_up_effect(facts: pd.DataFrame, months: list[pd.Timestamp]) -> pd.DataFrame:
    """SQL rate of the report months' MQLs by hours to first contact: does speed pay?"""
    labels = [f"{m:%Y-%m}" for m in months]
    mqls = facts[facts["mql_at"].notna() & (facts["follow_up"] != PENDING)]
    mqls = mqls[month_label(mqls["mql_at"]).isin(labels)]
    inner = CONTACT_BUCKET_EDGES_H
    edges = (0.0, *inner, np.inf)
    names = [
        f"<= {inner[0]:g} h",
        *(f"{lo:g}-{hi:g} h" for lo, hi in pairwise(inner)),
        f"> {inner[-1]:g} h",
    ]
    bucket = pd.cut(mqls["hours_to_contact"], bins=list(edges), labels=names, include_lowest=True)
    bucket = bucket.astype(object).where(bucket.notna(), NEVER_CONTACTED)
    became_sql = mqls["sql_at"].notna() & (mqls["sql_at"] >= mqls["mql_at"])
    out = (
        pd.DataFrame({"hours_to_contact": bucket, "sql": became_sql})
        .groupby("hours_to_contact", sort=False)["sql"]
        .agg(mqls="size", sqls="sum")
        .reindex([*names, NEVER_CONTACTED], fill_value=0)
        .reset_index()
    )
    out["sql_rate"] = _ratio(out["sqls"], out["mqls"])
    return out


@dataclass(frozen=True)
class Backtest:
    month: str
    as_of: str
    threshold: float
    leads_scored: int
    selected: int
    expected_sqls: float
    became_sql: int
    precision: float | None
    sqls_in_population: int
    captured_share: float | None
    crm_mqls: int
    crm_mqls_became_sql: int
    observed_days: int
    decisions: Mapping[str, int]

    def to_dict(self) -> dict[str, Any]:
        return {k: (dict(v) if isinstance(v, Mapping) else v) for k, v in self.__dict__.items()}


def open_at(lead_ids: pd.Series, stages: pd.DataFrame, as_of: pd.Timestamp) -> pd.Series:
    """True for leads not yet SQL (or beyond) at `as_of`: the population the model scores."""
    ranks = stages["stage"].map(measure.FUNNEL_RANK)
    done = stages.loc[(ranks >= measure.FUNNEL_RANK["sql"]) & (stages["ts"] <= as_of), "lead_id"]
    return ~lead_ids.isin(set(done))


def first_sql_at(stages: pd.DataFrame) -> pd.Series:
    """First time each lead reached SQL or a later stage (a skipped `sql` row still counts)."""
    ranks = stages["stage"].map(measure.FUNNEL_RANK)
    return stages[ranks >= measure.FUNNEL_RANK["sql"]].groupby("lead_id")["ts"].min()


def backtest(
    scored: pd.DataFrame,
    stages: pd.DataFrame,
    as_of: pd.Timestamp,
    end_of_data: pd.Timestamp,
    horizon_days: int,
    threshold: float,
) -> Backtest:
    """What the threshold would have handed sales at `as_of`, and how many became SQL since.

    `scored` holds the open leads at `as_of` with `lead_id`, `probability` and the qualification
    columns (`decision`, `rule`). Outcomes are looked for in (as_of, as_of + horizon], cut at the
    end of the data; the CRM's own MQLs of that month are counted the same way for comparison.
    """
    until = min(as_of + pd.Timedelta(days=horizon_days), end_of_data)
    sql_at = first_sql_at(stages)
    became = scored["lead_id"].map(sql_at)
    became = became.notna() & (became > as_of) & (became <= until)
    chosen = (scored["decision"] == "mql").to_numpy()
    month_end = as_of + pd.DateOffset(months=1)
    first_mql = first_stage_times(stages).get("mql", pd.Series(dtype="datetime64[ns, UTC]"))
    crm = first_mql[(first_mql >= as_of) & (first_mql < month_end)].index
    crm_sql = pd.Series(crm).map(sql_at)
    crm_became = int((crm_sql.notna() & (crm_sql <= until)).sum())
    n_selected = int(chosen.sum())
    n_sql = int(became.sum())
    return Backtest(
        month=f"{as_of:%Y-%m}",
        as_of=as_of.isoformat(),
        threshold=float(threshold),
        leads_scored=len(scored),
        selected=n_selected,
        expected_sqls=float(scored.loc[chosen, "probability"].sum()),
        became_sql=int(became[chosen].sum()),
        precision=float(became[chosen].mean()) if n_selected else None,
        sqls_in_population=n_sql,
        captured_share=float(became[chosen].sum() / n_sql) if n_sql else None,
        crm_mqls=len(crm),
        crm_mqls_became_sql=crm_became,
        observed_days=int((until - as_of) / pd.Timedelta(days=1)),
        decisions=scored["rule"].value_counts().to_dict(),
    )


def summary_lines(report: Mapping[str, Any]) -> list[str]:
    """The terminal summary: the latest month's verdict for each side, then the backtest."""
    latest = report["latest"]
    t = report["targets"]
    lines = [
        f"SLA report {report['months'][0]}..{report['months'][-1]} (data to {report['data_end']})",
        f"  targets/month: {t['leads_needed']} leads, {t['mqls_needed']} MQLs, "
        f"{t['sqls_needed']} SQLs, {t['customers_needed']} customers, "
        f"{t['revenue_goal_eur']:,.0f} EUR (lead value {t['lead_value_eur']:,.2f} EUR)",
        f"  {latest['month']}: {latest['leads']} leads, {latest['mqls']} MQLs (target "
        f"{latest['mqls_target']}), {latest['sqls']} SQLs, {latest['customers']} customers, "
        f"{latest['revenue_eur']:,.0f} EUR",
        f"  marketing: {latest['marketing']} (MQLs {latest['mqls']} / {latest['mqls_target']})",
        f"  sales: {latest['sales']} (follow-up within {report['follow_up_hours']:g} h: "
        f"{_pct(latest['follow_up_compliance'])} vs {_pct(report['follow_up_compliance'])} agreed, "
        f"median {_hours(latest['median_hours_to_contact'])})",
    ]
    threshold = report.get("threshold") or {}
    if threshold.get("threshold") is not None:
        lines.append(
            f"  MQL threshold {threshold['threshold']:g} ({threshold['source']}): "
            f"{threshold.get('expected_mqls')} MQLs, {threshold.get('expected_sqls', 0):.1f} "
            f"expected SQLs, met={threshold.get('met')}"
        )
    else:
        lines.append(f"  MQL threshold: not resolved ({threshold.get('reason', 'no model')})")
    bt = report.get("backtest")
    if bt:
        lines.append(
            f"  backtest {bt['month']}: {bt['selected']} selected, {bt['became_sql']} became SQL "
            f"within {bt['observed_days']} days (expected {bt['expected_sqls']:.1f}); the CRM's "
            f"{bt['crm_mqls']} MQLs gave {bt['crm_mqls_became_sql']}"
        )
    lines.extend(forecast_lines(report.get("forecast_backtest") or {}))
    return lines


def forecast_lines(backtest: Mapping[str, Any]) -> list[str]:
    """The monthly SQL forecast against what happened: one line per month, then the pooled."""
    rows = backtest.get("months") or []
    if not rows:
        return []
    level = rows[0]["level"]
    lines = [f"  SQL forecast at each month start ({level:.0%} interval) vs realised:"]
    for row in rows:
        realised = "-" if row.get("realised") is None else str(row["realised"])
        ratio = row.get("ratio")
        lines.append(
            f"    {row['month']}: threshold {row['threshold']:g}, {row['selected']} selected, "
            f"forecast {row['expected_sqls']:.1f} [{row['low']}, {row['high']}], realised "
            f"{realised}" + ("" if ratio is None else f" (x{ratio:.2f})")
        )
    summary = backtest.get("summary") or {}
    if summary.get("months"):
        pooled = summary.get("pooled_ratio")
        lines.append(
            f"    inside the interval {summary['inside']}/{summary['months']} months; pooled "
            f"realised/forecast {'-' if pooled is None else f'{pooled:.2f}'}"
        )
    return lines


def _pct(x: float | None) -> str:
    return "-" if x is None or x != x else f"{x:.0%}"


def _hours(x: float | None) -> str:
    return "-" if x is None or x != x else f"{x:.1f} h"
