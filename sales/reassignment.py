"""The reassignment rule: a lead nobody touched (no contact, snooze or close) for
`reassign_after_hours` after it was first assigned moves to the next rep of its team, once.
Once, so a lead nobody can reach does not circle the team; the history keeps both owners."""

from __future__ import annotations

from datetime import datetime

import pandas as pd

from sales.actions import CLOSED, CONTACTED, SNOOZED
from sla.sales_desk import SalesDesk

TOUCHES = (CONTACTED, SNOOZED, CLOSED)


def reassignments(
    board_frame: pd.DataFrame, actions: pd.DataFrame, desk: SalesDesk, at: datetime
) -> pd.DataFrame:
    """lead_id, team, owner (the new one), previous, assigned_at: the leads to move at `at`."""
    at_ts = (
        pd.Timestamp(at).tz_convert("UTC")
        if pd.Timestamp(at).tzinfo
        else pd.Timestamp(at, tz="UTC")
    )
    wait = pd.Timedelta(hours=desk.reassign_after_hours)
    touched = set(actions.loc[actions["kind"].isin(TOUCHES) & (actions["at"] <= at_ts), "lead_id"])
    rows = []
    for r in board_frame.to_dict("records"):
        if r["state"] in ("closed", "out_of_attempts") or r["lead_id"] in touched:
            continue
        if r["reassigned"] or r["owner"] is None or r["assigned_at"] is None:
            continue
        if at_ts - pd.Timestamp(r["assigned_at"]) < wait:
            continue
        reps = desk.teams.get(r["team"]) or ()
        if r["owner"] not in reps or len(reps) < 2:
            continue  # a one-rep team (or a rep since moved): nobody to move it to
        nxt = reps[(reps.index(r["owner"]) + 1) % len(reps)]
        rows.append(
            {
                "lead_id": r["lead_id"],
                "team": r["team"],
                "owner": nxt,
                "previous": r["owner"],
                "assigned_at": r["assigned_at"],
            }
        )
    return pd.DataFrame(rows, columns=["lead_id", "team", "owner", "previous", "assigned_at"])
