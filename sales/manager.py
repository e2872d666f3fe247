"""The sales manager's view of the desk: per rep, the leads owned, the attempts due and overdue,
follow-up compliance and SQLs; and the MQLs contacted late. Pure: read off the board
(sales/worklist.py)."""

from __future__ import annotations

import pandas as pd

from sales.worklist import OPEN_STATES
from sla.sales_desk import SalesDesk

ACCEPTED = "accepted_sql"  # sales/service.py: the CRM shows the lead as SQL or beyond
REP_COLUMNS = (
    "rep",
    "team",
    "owned",
    "due",
    "overdue",
    "counted",
    "on_time",
    "compliance",
    "sqls",
    "closed",
)


def rep_table(board: pd.DataFrame, desk: SalesDesk) -> pd.DataFrame:
    """One row per rep of sla.yaml (reps without a lead included, with zeros): `owned` the open
    leads it owns now, `due` / `overdue` their next attempts, `counted` / `on_time` /
    `compliance` the follow-up compliance over every lead it owns or owned last, `sqls` those
    the CRM shows accepted (SQL or beyond), `closed` those closed for another reason."""
    rows = []
    for team, reps in desk.teams.items():
        for rep in reps:
            mine = board[board["owner"] == rep]
            open_ = mine[mine["state"].isin(OPEN_STATES)]
            counted = mine[mine["compliance_counted"].astype(bool)]
            on_time = int(counted["on_time"].astype(bool).sum())
            accepted = mine["closed_reason"] == ACCEPTED
            rows.append(
                {
                    "rep": rep,
                    "team": team,
                    "owned": len(open_),
                    "due": int((open_["state"] == "due").sum()),
                    "overdue": int((open_["state"] == "overdue").sum()),
                    "counted": len(counted),
                    "on_time": on_time,
                    "compliance": on_time / len(counted) if len(counted) else None,
                    "sqls": int(accepted.sum()),
                    "closed": int(((mine["state"] == "closed") & ~accepted).sum()),
                }
            )
    return pd.DataFrame(rows, columns=list(REP_COLUMNS))


def closed_reasons(board: pd.DataFrame) -> pd.DataFrame:
    """reason, leads: the closed leads per reason, most first (the closed loop's count)."""
    closed = board[board["state"] == "closed"]
    counts = closed["closed_reason"].fillna("unknown").value_counts()
    return pd.DataFrame({"reason": counts.index.astype(str), "leads": counts.to_numpy()})
