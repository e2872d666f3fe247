"""Month-to-date against the agreement, and where the month is heading.

The counts are the SLA report's own (sla.report.lead_facts / monthly_report): a lead counts in
the month it was created, an MQL / SQL / customer in the month of its first such stage, revenue
on the first `customer` row; follow-up compliance is on-time MQLs / MQLs whose deadline passed.
The history is cut at the run's cut-off T first, so the recap of a past day can be replayed.

Projected month end (docs/managers.md, "How the projection is computed", says the same), per total:
- SQLs = SQLs so far + the SQLs the open leads bring before the month ends. Each open lead
  becomes SQL independently with its calibrated probability p of doing so within the model's
  horizon (H days); with a constant hazard over the horizon, its chance within the d days left is
  1 - (1 - p)^(d / H). The count is Poisson-binomial: its exact distribution (sla.forecast)
  gives the equal-tailed `level` interval.
- leads, MQLs, customers = so far + the month's run rate (count so far / days elapsed) x days
  left; the rest of the month is a Poisson count with that mean, its interval exact too.
- revenue = revenue so far + the projected customers still to come x the average deal value
  (the agreement's, else this month's); its interval is the customers' interval times that value.
Leads that arrive later in the month and turn SQL within it are not in the SQL figure (they are
rare within a month); the interval says how uncertain the rest is, not how wrong the model is.
"""

from __future__ import annotations

import calendar
import math
from typing import Any

import numpy as np
import pandas as pd

from foundation.timestamps import as_utc_timestamp
from sla import measure
from sla.agreement import Agreement
from sla.forecast import sql_forecast_interval
from sla.report import TOTAL, lead_facts, monthly_actuals, monthly_report
from sla.targets import Targets

SECONDS_PER_DAY = 86_400.0
METRICS: dict[str, str] = {  # recap metric -> (report column); target column is <col>_target
    "leads": "leads",
    "mqls": "mqls",
    "sqls": "sqls",
    "customers": "customers",
    "revenue_eur": "revenue_eur",
}
TARGET_COLUMN = {
    "leads": "leads_target",
    "mqls": "mqls_target",
    "sqls": "sqls_target",
    "customers": "customers_target",
    "revenue_eur": "revenue_target_eur",
}
CELL_COLUMNS = (
    "channel",
    "persona",
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
    "follow_up_compliance",
)


def report_month(as_of: pd.Timestamp) -> pd.Timestamp:
    """The month the run reports on: the one holding the last instant before the cut-off (a run
    cut at midnight on the 1st reports the month that just ended)."""
    return measure.month_start(as_of - pd.Timedelta(microseconds=1))


def month_days(month: pd.Timestamp) -> int:
    return calendar.monthrange(month.year, month.month)[1]


def cut_history(
    leads: pd.DataFrame, stages: pd.DataFrame, as_of: object
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The leads and stages known at the cut-off: nothing after it may count."""
    as_of = as_utc_timestamp(as_of)
    created = pd.to_datetime(leads["created_at"], utc=True)
    ts = pd.to_datetime(stages["ts"], utc=True)
    return (
        leads[(created <= as_of).to_numpy()].reset_index(drop=True),
        stages[(ts <= as_of).to_numpy()].reset_index(drop=True),
    )


def remaining_probability(
    probability: np.ndarray, days_left: float, horizon_days: float
) -> np.ndarray:
    """P(SQL within `days_left`) from P(SQL within the horizon), constant hazard."""
    p = np.clip(np.asarray(probability, dtype=np.float64), 0.0, 1.0)
    share = min(max(days_left / horizon_days, 0.0), 1.0)
    return 1.0 - np.power(1.0 - p, share)


def _interval(so_far: float, forecast: Any, scale: float = 1.0) -> dict[str, float]:
    return {
        "projected": so_far + forecast.expected * scale,
        "low": so_far + forecast.low * scale,
        "high": so_far + forecast.high * scale,
    }


def projection(
    totals: dict[str, float],
    open_probabilities: np.ndarray,
    days_elapsed: float,
    days_left: float,
    horizon_days: float,
    level: float,
    deal_value_eur: float | None,
) -> dict[str, dict[str, float]]:
    """Projected month end with its `level` interval per metric (see the module docstring)."""
    out: dict[str, dict[str, float]] = {}
    for name in ("leads", "mqls", "customers"):
        rest = totals[name] / days_elapsed * days_left if days_elapsed > 0 else 0.0
        out[name] = _interval(totals[name], sql_forecast_interval([], level, rest))
    p_left = remaining_probability(open_probabilities, days_left, horizon_days)
    out["sqls"] = _interval(totals["sqls"], sql_forecast_interval(p_left, level))
    value = deal_value_eur
    if value is None or not math.isfinite(value):
        value = totals["revenue_eur"] / totals["customers"] if totals["customers"] else 0.0
    customers_rest = totals["customers"] / days_elapsed * days_left if days_elapsed > 0 else 0.0
    out["revenue_eur"] = _interval(
        totals["revenue_eur"], sql_forecast_interval([], level, customers_rest), scale=value
    )
    for v in out.values():
        for k in v:
            v[k] = round(float(v[k]), 2)
    return out


def _clean(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def month_table(
    leads: pd.DataFrame,
    stages: pd.DataFrame,
    persona: pd.Series,
    agreement: Agreement,
    targets: Targets | None,
    as_of: pd.Timestamp,
) -> pd.DataFrame:
    """The SLA report's table for the run's month, cut at T (targets NaN when none)."""
    month = report_month(as_of)
    facts = lead_facts(leads, stages, persona, agreement.follow_up_hours, as_of)
    if targets is not None:
        return monthly_report(facts, targets, [month], agreement.follow_up_compliance)
    table = monthly_actuals(facts, [month])
    for column in TARGET_COLUMN.values():
        table[column] = np.nan
    table["follow_up_compliance"] = table["mqls_on_time"] / table["mqls_due"].where(
        table["mqls_due"] > 0
    )
    return table


def month_recap(
    leads: pd.DataFrame,
    stages: pd.DataFrame,
    persona: pd.Series,
    agreement: Agreement,
    targets: Targets | None,
    open_probabilities: np.ndarray,
    as_of: object,
    horizon_days: float,
    level: float,
) -> dict[str, Any]:
    """The recap as a JSON-ready dict: totals with targets and projection, cells, follow-up."""
    as_of = as_utc_timestamp(as_of)
    leads, stages = cut_history(leads, stages, as_of)
    month = report_month(as_of)
    n_days = month_days(month)
    elapsed = (as_of - month).total_seconds() / SECONDS_PER_DAY
    left = max(n_days - elapsed, 0.0)
    table = month_table(leads, stages, persona, agreement, targets, as_of)

    total_rows = table[(table["level"] == "total")]
    total = total_rows.iloc[0].to_dict() if len(total_rows) else {}
    totals = {m: float(_clean(total.get(c)) or 0.0) for m, c in METRICS.items()}
    deal_value = targets.avg_deal_value_eur if targets is not None else None
    projected = projection(
        totals, open_probabilities, elapsed, left, horizon_days, level, deal_value
    )
    metrics = {}
    for name in METRICS:
        target = _clean(total.get(TARGET_COLUMN[name]))
        actual = totals[name]
        metrics[name] = {
            "actual": actual,
            "target": target,
            "share_of_target": round(actual / target, 3) if target else None,
            # Where the month should be by now at an even pace: the target x share of days gone.
            "pace_target": round(target * elapsed / n_days, 1) if target else None,
            **projected[name],
        }
    cells = table[table["level"] == "cell"]
    cells = cells[[c for c in CELL_COLUMNS if c in cells.columns]]
    cells = cells.sort_values(["channel", "persona"]).reset_index(drop=True)
    due = int(_clean(total.get("mqls_due")) or 0)
    on_time = int(_clean(total.get("mqls_on_time")) or 0)
    return {
        "as_of": as_of.isoformat(),
        "month": f"{month:%Y-%m}",
        "days_elapsed": round(elapsed, 2),
        "days_in_month": n_days,
        "interval_level": level,
        "metrics": metrics,
        "follow_up": {
            "hours": agreement.follow_up_hours,
            "agreed_compliance": agreement.follow_up_compliance,
            "mqls_due": due,
            "mqls_on_time": on_time,
            "mqls_pending": int(_clean(total.get("mqls_pending")) or 0),
            "compliance": round(on_time / due, 3) if due else None,
        },
        "cells": [{k: _clean(v) for k, v in row.items()} for row in cells.to_dict("records")],
        "open_leads": len(open_probabilities),
        "total_label": TOTAL,
    }
