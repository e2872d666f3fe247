"""Where each handed-over lead stands at an instant: its owner, its contact attempts against the
cadence of sla.yaml, the next attempt due, and its state.

States (one per lead, first that applies):
- closed: a rep (or the desk, for a lead out of attempts) closed it with a reason;
- out_of_attempts: every attempt of its cadence was made and the last interval passed without
  an answer: back to nurture (the desk closes it with `recycled_to_nurture` at its next step);
- awaiting_reply: every attempt was made; the lead has the last interval to answer;
- snoozed: a rep snoozed it to a day still ahead; it comes back that day at 00:00 UTC;
- overdue: its next attempt was due at or before the instant (still owed);
- due: its next attempt is due within the next day;
- waiting: the next attempt is due later.

Attempts are the `contacted` actions since the hand-off: a rep's (dashboard, API) and the CRM's
sales touches (stage history, imported by the desk step) count the same.
Follow-up compliance (the agreement's, per lead): the first attempt made by the first deadline
(hand-off + the cadence's first interval). A lead is counted once that is decided: contacted,
or its deadline passed; a lead closed before its deadline without a contact is left out.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pandas as pd

from sales.actions import ASSIGNED, CLOSED, CONTACTED, REASSIGNED, SNOOZED
from sla.sales_desk import SalesDesk

SECONDS_PER_HOUR = 3600.0
DUE_WINDOW = pd.Timedelta(days=1)
OPEN_STATES = ("overdue", "due", "waiting", "snoozed", "awaiting_reply")
BOARD_COLUMNS = (
    "lead_id",
    "owner",
    "team",
    "band",
    "handed_at",
    "assigned_at",
    "reassigned",
    "attempts",
    "max_attempts",
    "first_deadline",
    "first_contact_at",
    "last_contact_at",
    "next_due",
    "snoozed_until",
    "closed_reason",
    "closed_at",
    "state",
    "hours_overdue",
    "compliance_counted",
    "on_time",
)


def _ts(value: Any) -> pd.Timestamp | None:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    ts = pd.Timestamp(value)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def lead_state(
    handed_at: pd.Timestamp,
    hours: tuple[float, ...],
    actions: list[dict[str, Any]],
    at: pd.Timestamp,
) -> dict[str, Any]:
    """One lead's row of the board (without lead_id and band) from its actions (dicts with
    kind, at, owner, team, until, reason; oldest first) up to `at`. Plain lists, not frames:
    a pandas filter per lead made the board of a month's hand-offs take seconds."""
    mine = [a for a in actions if a["at"] <= at]
    owners = [a for a in mine if a["kind"] in (ASSIGNED, REASSIGNED)]
    contacts = [a["at"] for a in mine if a["kind"] == CONTACTED and a["at"] >= handed_at]
    snoozes = [a for a in mine if a["kind"] == SNOOZED]
    closes = [a for a in mine if a["kind"] == CLOSED]
    attempts = len(contacts)
    first_deadline = handed_at + pd.Timedelta(hours=hours[0])
    first_contact = contacts[0] if attempts else None
    last_contact = contacts[-1] if attempts else None
    if attempts == 0:
        next_due: pd.Timestamp | None = first_deadline
    elif attempts < len(hours):
        next_due = last_contact + pd.Timedelta(hours=hours[attempts])
    else:
        next_due = None
    until = _ts(snoozes[-1]["until"]) if snoozes else None
    if until is not None and next_due is not None:
        next_due = max(next_due, until)
    closed_at = closes[0]["at"] if closes else None
    if closed_at is not None:
        state = "closed"
    elif attempts >= len(hours) and last_contact + pd.Timedelta(hours=hours[-1]) <= at:
        state = "out_of_attempts"
    elif attempts >= len(hours):
        state = "awaiting_reply"  # the last attempt made: it has the last interval to answer
    elif until is not None and at < until:
        state = "snoozed"
    elif next_due is not None and next_due <= at:
        state = "overdue"
    elif next_due is not None and next_due <= at + DUE_WINDOW:
        state = "due"
    else:
        state = "waiting"
    closed_early = closed_at is not None and first_contact is None and closed_at < first_deadline
    counted = not closed_early and (first_contact is not None or first_deadline <= at)
    on_time = first_contact is not None and first_contact <= first_deadline
    return {
        "owner": owners[-1]["owner"] if owners else None,
        "team": owners[-1]["team"] if owners else None,
        "assigned_at": owners[0]["at"] if owners else None,
        "reassigned": sum(a["kind"] == REASSIGNED for a in owners),
        "attempts": attempts,
        "max_attempts": len(hours),
        "first_deadline": first_deadline,
        "first_contact_at": first_contact,
        "last_contact_at": last_contact,
        "next_due": next_due if state in ("overdue", "due", "waiting", "snoozed") else None,
        "snoozed_until": until,
        "closed_reason": closes[-1]["reason"] if closes else None,  # a re-close corrects it
        "closed_at": closed_at,
        "state": state,
        "hours_overdue": round((at - next_due).total_seconds() / SECONDS_PER_HOUR, 1)
        if state == "overdue" and next_due is not None
        else None,
        "compliance_counted": counted,
        "on_time": bool(on_time) if counted else None,
    }


def board(
    handed: pd.DataFrame, actions: pd.DataFrame, desk: SalesDesk, at: datetime | pd.Timestamp
) -> pd.DataFrame:
    """The board at `at`: one row per handed-over lead (`handed`: lead_id, handed_at, band),
    BOARD_COLUMNS, in `handed`'s order. `actions`: store.actions.lead_actions() rows."""
    at_ts = _ts(at)
    assert at_ts is not None
    by_lead: dict[str, list[dict[str, Any]]] = {}
    columns = ["lead_id", "kind", "at", "owner", "team", "until", "reason"]
    for a in actions[columns].to_dict("records"):
        by_lead.setdefault(str(a["lead_id"]), []).append(a)
    rows = []
    for r in handed.to_dict("records"):
        lead = str(r["lead_id"])
        handed_at = _ts(r["handed_at"])
        if handed_at is None or handed_at > at_ts:
            continue  # handed over after the instant: not on the board yet
        hours = desk.cadence.hours_for(r.get("band"))
        state = lead_state(handed_at, hours, by_lead.get(lead, []), at_ts)
        rows.append({"lead_id": lead, "band": r.get("band"), "handed_at": handed_at, **state})
    return pd.DataFrame(rows, columns=list(BOARD_COLUMNS))


def overdue_list(board_frame: pd.DataFrame) -> pd.DataFrame:
    """What is still owed: the overdue leads, the longest overdue first (then by lead id)."""
    late = board_frame[board_frame["state"] == "overdue"]
    return late.sort_values(["next_due", "lead_id"], kind="stable").reset_index(drop=True)


def compliance(board_frame: pd.DataFrame) -> dict[str, Any]:
    """Follow-up compliance over the counted leads: on time, counted, share (None: none yet)."""
    counted = board_frame[board_frame["compliance_counted"].astype(bool)]
    on_time = int(counted["on_time"].astype(bool).sum())
    share = on_time / len(counted) if len(counted) else None
    return {"on_time": on_time, "counted": len(counted), "share": share}


def contacted_late(board_frame: pd.DataFrame, at: datetime | pd.Timestamp) -> pd.DataFrame:
    """The MQLs whose first attempt came after the first deadline, or has not come and the
    deadline passed; hours_late to the first attempt (or to `at`), most late first."""
    at_ts = _ts(at)
    counted = board_frame[board_frame["compliance_counted"].astype(bool)]
    late = counted[~counted["on_time"].astype(bool)].copy()
    reached = late["first_contact_at"].where(late["first_contact_at"].notna(), at_ts)
    late["hours_late"] = [
        round((pd.Timestamp(r) - pd.Timestamp(d)).total_seconds() / SECONDS_PER_HOUR, 1)
        for r, d in zip(reached, late["first_deadline"], strict=True)
    ]
    return late.sort_values(["hours_late", "lead_id"], ascending=[False, True]).reset_index(
        drop=True
    )
