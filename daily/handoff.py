"""Who is handed over today, who came back, who is still waiting for sales.

Definitions a user relies on (docs/sales-rep.md, "The daily hand-off", says the same):
- open lead at the cut-off T: created at or before T, not yet SQL or beyond (sla.report.open_at,
  the population the model is trained on) and not disqualified at or before T;
- hand-off: an open lead whose decision today is `mql` while the previous stored run did not call
  it `mql` (or did not score it), that no earlier run handed over and that the CRM does not show
  with sales already (an `mql` row or a sales touch by T): a lead goes to sales once;
- returning: a lead already handed over, or in nurture at the previous run, with an on-site event
  (features.behaviour.WEB_EVENT_TYPES) in (previous cut-off, T] after at least `quiet_days`
  without any, listed with what it looked at since it came back;
- overdue: a handed-over lead whose follow-up deadline is at or before T with no sales touch
  (sla.report.SALES_TOUCH_STAGES) in the stages table between the hand-off and T.
Every function takes the cut-off T explicitly; none reads a clock.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from features.behaviour import WEB_EVENT_TYPES
from foundation.timestamps import as_utc_timestamp
from sla.qualify import MQL, NURTURE
from sla.report import SALES_TOUCH_STAGES, open_at

SECONDS_PER_HOUR = 3600.0
SECONDS_PER_DAY = 86_400.0
DISQUALIFIED_STAGE = "disqualified"

# Whom to call (the leads export's own fields) and who calls (sla.yaml sales_desk: owner, team).
CONTACT_COLUMNS: tuple[str, ...] = ("company", "email_domain", "job_role", "country")
OWNER_COLUMNS: tuple[str, ...] = ("owner", "team")
HANDOFF_COLUMNS: tuple[str, ...] = (
    "lead_id",
    *CONTACT_COLUMNS,
    *OWNER_COLUMNS,
    "channel",
    "persona",
    "probability",
    "score",
    "tier",
    "grade",
    "expected_value_eur",
    "handed_at",
    "followup_deadline",
    "reasons",
    "activity",
)
RETURNING_COLUMNS: tuple[str, ...] = (
    "lead_id",
    "status",
    "handed_on",
    "decision",
    "score",
    "quiet_days",
    "last_seen_before",
    "back_at",
    "events_since",
    "looked_at",
    "owner",
)
OVERDUE_COLUMNS: tuple[str, ...] = (
    "lead_id",
    "handed_on",
    "followup_deadline",
    "hours_overdue",
    "channel",
    "persona",
    "score",
    "decision",
    "owner",
    "attempts",
)


def open_leads(leads: pd.DataFrame, stages: pd.DataFrame, as_of: object) -> pd.DataFrame:
    """The leads the run scores (see the module docstring), in input order."""
    as_of = as_utc_timestamp(as_of)
    created = pd.to_datetime(leads["created_at"], utc=True)
    present = leads[(created <= as_of).to_numpy()]
    known = stages[pd.to_datetime(stages["ts"], utc=True) <= as_of]
    dropped = set(known.loc[known["stage"] == DISQUALIFIED_STAGE, "lead_id"])
    still_open = (
        open_at(present["lead_id"], known, as_of).to_numpy()
        & ~present["lead_id"].isin(dropped).to_numpy()
    )
    return present[still_open].reset_index(drop=True)


def with_sales(stages: pd.DataFrame, as_of: object) -> set[str]:
    """Leads the CRM already shows as handed to sales at the cut-off (an `mql` row or a sales
    touch): they are sales' work already, whatever route they came by, and are not handed over
    again (their funnel-state features often score them high)."""
    as_of = as_utc_timestamp(as_of)
    ts = pd.to_datetime(stages["ts"], utc=True)
    mask = stages["stage"].isin((MQL, *SALES_TOUCH_STAGES)).to_numpy() & (ts <= as_of).to_numpy()
    return set(stages.loc[mask, "lead_id"].astype(str))


def handoff_diff(
    today: pd.DataFrame, previous: pd.DataFrame | None, handed_before: set[str] | pd.Series
) -> pd.DataFrame:
    """Today's scored rows (lead_id, decision, ...) that became `mql` since `previous`
    (the last stored run's scores; None for a first run) and were never handed over before."""
    is_mql = (today["decision"] == MQL).to_numpy()
    if previous is not None and len(previous):
        was_mql = set(previous.loc[previous["decision"] == MQL, "lead_id"].astype(str))
        is_mql = is_mql & ~today["lead_id"].astype(str).isin(was_mql).to_numpy()
    is_mql = is_mql & ~today["lead_id"].astype(str).isin(set(handed_before)).to_numpy()
    return today[is_mql].sort_values(["score", "lead_id"], ascending=[False, True])


def reason_words(reasons: Any, k: int = 3) -> list[str]:
    """The top reasons for, in the rep's words (sales/words.py: "meets 4 of the 4 criteria of
    its persona", not "fit with the agreed personas: 1"; "1 visit", not "1 visits")."""
    from sales.words import plain_reasons

    return plain_reasons(reasons)[0][:k]


def handoff_records(
    new_mqls: pd.DataFrame,
    activity: dict[str, dict[str, Any]],
    as_of: object,
    follow_up_hours: float,
) -> pd.DataFrame:
    """The hand-off as sent to the CRM: one row per lead (HANDOFF_COLUMNS); `handed_at` is the
    run's cut-off (so a re-run of the day is identical), the deadline that plus the agreed hours.
    `new_mqls` holds the scored columns plus `grade` and `reasons` (the scorer's dict), and the
    contact and owner columns when known (None otherwise)."""
    as_of = as_utc_timestamp(as_of)
    deadline = as_of + pd.Timedelta(hours=follow_up_hours)
    rows = [
        handoff_record(r, activity.get(str(r["lead_id"]), {}), as_of, deadline)
        for r in new_mqls.to_dict("records")
    ]
    return pd.DataFrame(rows, columns=list(HANDOFF_COLUMNS))


def handoff_record(
    r: dict[str, Any], activity: dict[str, Any], handed_at: pd.Timestamp, deadline: pd.Timestamp
) -> dict[str, Any]:
    """One lead's row of `handoff_records` from its scored row `r`, as a dict: the real-time
    path hands over a few leads at a time, where a frame costs more than the rows."""
    return {
        "lead_id": str(r["lead_id"]),
        **{c: _maybe_text(r.get(c)) for c in (*CONTACT_COLUMNS, *OWNER_COLUMNS)},
        "channel": r.get("channel"),
        "persona": r.get("persona"),
        "probability": float(r["probability"]),
        "score": int(r["score"]),
        "tier": r.get("tier"),
        "grade": r.get("grade"),
        "expected_value_eur": _number(r.get("expected_value_eur")),
        "handed_at": handed_at.isoformat(),
        "followup_deadline": deadline.isoformat(),
        "reasons": reason_words(r.get("reasons")),
        "activity": activity,
    }


def _maybe_text(value: Any) -> str | None:
    """Text or None (NaN, NA and None alike: a missing cell of the leads export)."""
    if value is None or (not isinstance(value, str) and bool(pd.isna(value))):
        return None
    return str(value)


def _number(value: Any) -> float | None:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    return float(value)


def returning_leads(
    candidates: pd.DataFrame,
    events: pd.DataFrame,
    since: object,
    as_of: object,
    quiet_days: float,
) -> pd.DataFrame:
    """Candidates (lead_id, status 'handed_over' | 'nurture', handed_on) back on the site in
    (since, as_of] after at least `quiet_days` without an on-site event (RETURNING_COLUMNS,
    without the score columns, which the caller joins)."""
    since, as_of = as_utc_timestamp(since), as_utc_timestamp(as_of)
    columns = [c for c in RETURNING_COLUMNS if c not in ("decision", "score")]
    if not len(candidates) or not len(events):
        return pd.DataFrame(columns=columns)
    ids = set(candidates["lead_id"].astype(str))
    ts = events["ts"]
    if not isinstance(ts.dtype, pd.DatetimeTZDtype):
        ts = pd.to_datetime(ts, utc=True)
    is_web = events["event_type"].isin(WEB_EVENT_TYPES).to_numpy()
    # The day's slice first (small), then the history of only the leads seen in it: millions of
    # events are scanned with two vectorised comparisons, never grouped.
    recent = ((ts > since) & (ts <= as_of)).to_numpy()
    seen = set(events.loc[recent & is_web, "lead_id"].astype(str)) & ids
    if not seen:
        return pd.DataFrame(columns=columns)
    mine = events["lead_id"].astype(str).isin(seen).to_numpy() & (ts <= as_of).to_numpy()
    ev = events.loc[mine, ["lead_id", "event_type", *_topic(events)]].assign(ts=ts[mine])
    ev["lead_id"] = ev["lead_id"].astype(str)
    web = ev[ev["event_type"].isin(WEB_EVENT_TYPES)]
    new = web[web["ts"] > since]
    back_at = new.groupby("lead_id")["ts"].min()
    old = web[web["ts"] <= since]
    last_before = old.groupby("lead_id")["ts"].max()
    gap_days = (back_at - last_before.reindex(back_at.index)).dt.total_seconds() / SECONDS_PER_DAY
    # A lead never seen on the site before has not "come back": it needs a visit to return from.
    back = gap_days[gap_days >= quiet_days].index
    if not len(back):
        return pd.DataFrame(columns=columns)
    since_back = ev[ev["lead_id"].isin(back) & (ev["ts"] > since)]
    info = candidates.assign(lead_id=candidates["lead_id"].astype(str)).set_index("lead_id")
    words = looked_at_by_lead(since_back)
    n_since = since_back["lead_id"].value_counts()
    rows = []
    for lead_id in sorted(back):
        rows.append(
            {
                "lead_id": lead_id,
                "status": info.at[lead_id, "status"],
                "handed_on": _text(info["handed_on"].get(lead_id) if "handed_on" in info else None),
                "quiet_days": round(float(gap_days[lead_id]), 1),
                "last_seen_before": last_before[lead_id].isoformat(),
                "back_at": back_at[lead_id].isoformat(),
                "events_since": int(n_since[lead_id]),
                "looked_at": words[lead_id],
            }
        )
    return pd.DataFrame(rows, columns=columns)


def _text(value: Any) -> str | None:
    return None if value is None or value != value else str(value)


def _topic(events: pd.DataFrame) -> list[str]:
    return ["content_topic"] if "content_topic" in events.columns else []


def looked_at(events: pd.DataFrame) -> str:
    """What the events show, in words: counts per event type (topics in brackets), most first."""
    return looked_at_by_lead(events.assign(lead_id="_")).get("_", "")


def looked_at_by_lead(events: pd.DataFrame) -> dict[str, str]:
    """`looked_at` for every lead in `events` at once: one pass over plain lists (a pandas
    filter per lead costs ~10 ms; a day at 100k open leads has thousands of returning leads)."""
    topics = (
        events["content_topic"].tolist()
        if "content_topic" in events.columns
        else [None] * len(events)
    )
    counts: dict[str, dict[str, int]] = {}
    seen: dict[str, dict[str, set[str]]] = {}
    for lead, kind, topic in zip(
        events["lead_id"].astype(str).tolist(), events["event_type"].tolist(), topics, strict=True
    ):
        per = counts.setdefault(lead, {})
        per[kind] = per.get(kind, 0) + 1
        if isinstance(topic, str):
            seen.setdefault(lead, {}).setdefault(kind, set()).add(topic)
    out = {}
    for lead, per in counts.items():
        parts = []
        for kind in sorted(per, key=lambda e: (-per[e], e)):
            text = f"{kind.replace('_', ' ')} x{per[kind]}"
            shown = seen.get(lead, {}).get(kind)
            if shown:
                text += " (" + ", ".join(sorted(shown)) + ")"
            parts.append(text)
        out[lead] = "; ".join(parts)
    return out


def returning_candidates(
    handed: pd.DataFrame, previous: pd.DataFrame | None, exclude: set[str]
) -> pd.DataFrame:
    """lead_id, status, handed_on: every lead handed over before (store.handed_over()), then the
    previous run's nurture leads; `exclude` (today's hand-off) left out."""
    parts = []
    if len(handed):
        parts.append(
            pd.DataFrame(
                {
                    "lead_id": handed["lead_id"].astype(str).to_numpy(),
                    "status": "handed_over",
                    "handed_on": [str(d) for d in handed["run_date"]],
                }
            )
        )
    if previous is not None and len(previous):
        nurture = previous.loc[previous["decision"] == NURTURE, "lead_id"].astype(str)
        parts.append(pd.DataFrame({"lead_id": nurture.to_numpy(), "status": NURTURE}))
    if not parts:
        return pd.DataFrame(columns=["lead_id", "status", "handed_on"])
    out = pd.concat(parts, ignore_index=True).drop_duplicates("lead_id", keep="first")
    return out[~out["lead_id"].isin(exclude)].reset_index(drop=True)


def overdue_followups(handed: pd.DataFrame, stages: pd.DataFrame, as_of: object) -> pd.DataFrame:
    """Handed-over leads (lead_id, run_date, handed_at, followup_deadline) whose deadline passed
    at or before `as_of` with no sales touch between the hand-off and `as_of`."""
    as_of = as_utc_timestamp(as_of)
    columns = ["lead_id", "handed_on", "followup_deadline", "hours_overdue"]
    if not len(handed):
        return pd.DataFrame(columns=columns)
    h = handed.assign(
        lead_id=handed["lead_id"].astype(str),
        deadline=pd.to_datetime(handed["followup_deadline"], utc=True),
        handed=pd.to_datetime(handed["handed_at"], utc=True),
    )
    due = h[h["deadline"] <= as_of]
    st = stages.assign(ts=pd.to_datetime(stages["ts"], utc=True))
    touches = st[st["stage"].isin(SALES_TOUCH_STAGES) & (st["ts"] <= as_of)]
    touches = touches.assign(lead_id=touches["lead_id"].astype(str))
    touches = touches.merge(due[["lead_id", "handed"]], on="lead_id")
    touched = set(touches.loc[touches["ts"] >= touches["handed"], "lead_id"])
    late = due[~due["lead_id"].isin(touched)].sort_values(["deadline", "lead_id"])
    hours = (as_of - late["deadline"]).dt.total_seconds() / SECONDS_PER_HOUR
    return pd.DataFrame(
        {
            "lead_id": late["lead_id"].to_numpy(),
            "handed_on": [str(d) for d in late["run_date"]],
            "followup_deadline": [d.isoformat() for d in late["deadline"]],
            "hours_overdue": np.round(hours.to_numpy(dtype=float), 1),
        },
        columns=columns,
    )
