"""Re-scoring one lead on arrival, and what follows from its new score: a hand-off when it
crossed the MQL threshold, a returning-prospect alert when a handed-over or nurtured lead is back
on the site after the quiet period. Pure: the store reads and writes are the worker's.

The rules are the daily run's (daily/handoff.py), applied to one lead at the moment its event
arrives: a lead is handed over once (never when a daily run or an earlier event did already),
`handed_at` is now and the follow-up deadline counts from now; "returning" is an on-site event
(features.behaviour.WEB_EVENT_TYPES) at least `quiet_days` after the lead's previous one.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from daily.activity import activity_dicts
from daily.handoff import CONTACT_COLUMNS, handoff_record, looked_at_by_lead
from features.behaviour import WEB_EVENT_TYPES
from scoring.inputs import LeadProfile
from sla.qualify import MQL, NURTURE
from store.events import LeadState
from store.records import OutboxItem

HANDOFF = "handoff"
RETURNING = "returning"
SECONDS_PER_DAY = 86_400.0


@dataclass(frozen=True)
class Rules:
    """What the agreement and params.yaml say about real-time alerts."""

    follow_up_hours: float
    quiet_days: float


@dataclass
class Outcome:
    """One lead re-scored: its new score row, and the alerts (with their outbox items)."""

    score: dict[str, Any]
    alerts: list[dict[str, Any]] = field(default_factory=list)
    outbox: list[OutboxItem] = field(default_factory=list)


def handoff_key(lead_id: str) -> str:
    """A lead is handed over in real time at most once: its key says so."""
    return f"live-handoff:{lead_id}"


def returning_key(lead_id: str, back_at: datetime) -> str:
    return f"live-returning:{lead_id}:{back_at.isoformat()}"


def features_of(scorer: Any, state: LeadState) -> tuple[dict[str, Any], datetime]:
    """The lead's feature values from its whole stored history, as of its newest event (or its
    creation): the service's single-lead feature code (scoring/features_fast.py), which is
    pinned bit for bit to the batch features the daily run scores with."""
    lead = LeadProfile.model_validate(state.profile)
    as_of = lead.created_at
    if state.events and state.events[-1][0] > as_of:  # oldest first: the last is the newest
        as_of = state.events[-1][0]
    return scorer.lead_features.features(lead, state.events, as_of), as_of


@dataclass
class Scored:
    """The leads of a worker step scored: each one's feature values and time, the scorer's
    answer, and its outcome (the new score row; alerts added by `add_alerts`)."""

    states: list[LeadState]
    values: list[dict[str, Any]]
    as_ofs: list[datetime]
    results: list[dict[str, Any]]
    outcomes: list[Outcome]


def score_leads(scorer: Any, states: list[LeadState], now: datetime) -> Scored:
    """Every lead of a worker step scored as ONE matrix (one predict call)."""
    built = [features_of(scorer, s) for s in states]
    values, as_ofs = [v for v, _ in built], [a for _, a in built]
    ids = [s.lead_id for s in states]
    results = scorer.score_rows(values, as_ofs, ids, explain=False) if states else []
    outcomes = [
        Outcome(score=score_row(scorer, lead_id, as_of, result, now))
        for lead_id, as_of, result in zip(ids, as_ofs, results, strict=True)
    ]
    return Scored(states, values, as_ofs, results, outcomes)


def add_alerts(
    scorer: Any, scored: Scored, new_ids: dict[str, list[str]], rules: Rules, now: datetime
) -> None:
    """The alerts the new scores call for: the hand-offs of the leads that crossed the
    threshold explained and written up together (one SHAP call, one activity pass), the
    returning alerts from each lead's newest events (`new_ids[lead]`) with their words in one
    pass."""
    crossed, back = [], []
    for i, (state, result) in enumerate(zip(scored.states, scored.results, strict=True)):
        if crossed_threshold(state, result):
            crossed.append(i)
        elif state.handed_over or state.previous_decision == NURTURE:
            found = quiet_period_end(state, set(new_ids[state.lead_id]), rules.quiet_days)
            if found is not None:
                back.append((i, *found))
    if crossed:
        _add_handoffs(scorer, scored, crossed, now, rules)
    if back:
        _add_returning(scored.outcomes, scored.states, back, now)


def rescore_many(
    scorer: Any,
    states: list[LeadState],
    new_ids: dict[str, list[str]],
    rules: Rules,
    now: datetime,
) -> list[Outcome]:
    """`score_leads` then `add_alerts`: each lead's new score and its alerts."""
    scored = score_leads(scorer, states, now)
    add_alerts(scorer, scored, new_ids, rules, now)
    return scored.outcomes


def rescore(
    scorer: Any, state: LeadState, new_ids: set[str], rules: Rules, now: datetime
) -> Outcome:
    """One lead (see rescore_many)."""
    return rescore_many(scorer, [state], {state.lead_id: list(new_ids)}, rules, now)[0]


def score_row(
    scorer: Any, lead_id: str, as_of: datetime, result: dict[str, Any], now: datetime
) -> dict[str, Any]:
    """The lead's new row of the store's live scores."""
    return {
        "lead_id": lead_id,
        "scored_at": now,
        "as_of": as_of,
        "probability": float(result["probability"]),
        "score": int(result["score"]),
        "tier": result.get("tier"),
        "decision": str(result["decision"]),
        "model_version": scorer.model_ref.get("version"),
    }


def crossed_threshold(state: LeadState, result: dict[str, Any]) -> bool:
    """An MQL now, not one before, and never handed over (by a daily run or live)."""
    return result["decision"] == MQL and state.previous_decision != MQL and not state.handed_over


def quiet_period_end(
    state: LeadState, new_ids: set[str], quiet_days: float
) -> tuple[int, int, float] | None:
    """The first new on-site event that ends a quiet period of at least `quiet_days`: (its
    index in the history, the index of the on-site event before it, the gap in days); None
    when no new event does. One pass over the history, which is oldest first."""
    before = None
    for index, (ts, event_type, _) in enumerate(state.events):
        if event_type not in WEB_EVENT_TYPES:
            continue
        if before is not None and state.message_ids[index] in new_ids:
            gap_days = (ts - state.events[before][0]).total_seconds() / SECONDS_PER_DAY
            if gap_days >= quiet_days:
                return index, before, gap_days
        before = index
    return None


def _add_handoffs(
    scorer: Any, scored: Scored, crossed: list[int], now: datetime, rules: Rules
) -> None:
    """The daily run's hand-off records (daily.handoff.handoff_record) of the leads that
    crossed (`crossed`: their places in the step), handed at `now`, with their reasons and the
    activity read off the same feature values the daily run reads it from
    (daily.activity.activity_dicts), each as of its own newest event."""
    states = [scored.states[i] for i in crossed]
    values = [scored.values[i] for i in crossed]
    as_ofs = [scored.as_ofs[i] for i in crossed]
    results = [scored.results[i] for i in crossed]
    ids = [s.lead_id for s in states]
    why = scorer.score_rows(values, as_ofs, ids, explain=True)
    # activity_dicts reads numeric features only: one float block is far cheaper to build
    # than a frame of every feature column.
    numeric = scorer.lead_features.spec.numeric
    features = pd.DataFrame(
        np.array([[v[c] for c in numeric] for v in values], dtype=np.float64), columns=numeric
    ).assign(lead_id=ids)
    params = scorer.context.feature_params
    activity = activity_dicts(features, as_ofs, with_text=True, params=params)
    handed_at = pd.Timestamp(now)
    deadline = handed_at + pd.Timedelta(hours=rules.follow_up_hours)
    records = [
        handoff_record(
            {
                **{c: state.profile.get(c) for c in CONTACT_COLUMNS},
                **result,
                **explained,
                "channel": state.profile.get("channel"),
                "grade": _grade(result),
                "reasons": {"reasons_for": explained.get("reasons_for") or []},
            },
            activity[state.lead_id],
            handed_at,
            deadline,
        )
        for state, result, explained in zip(states, results, why, strict=True)
    ]
    due = now + timedelta(hours=rules.follow_up_hours)
    for i, record in zip(crossed, records, strict=True):
        outcome, lead_id = scored.outcomes[i], record["lead_id"]
        key = handoff_key(lead_id)
        outcome.alerts.append(
            {
                "key": key,
                "lead_id": lead_id,
                "kind": HANDOFF,
                "at": now,
                "followup_deadline": due,
                "payload_json": record,
            }
        )
        outcome.outbox.append(_item(key, lead_id, record, now))


def _add_returning(
    outcomes: list[Outcome],
    states: list[LeadState],
    back: list[tuple[int, int, int, float]],
    now: datetime,
) -> None:
    """A returning alert per lead of `back` (its place in the step, the new on-site event that
    ended the quiet period, the one before it, the gap), with what it did since in words
    (daily.handoff.looked_at_by_lead, one pass for all of them)."""
    firsts = [
        bisect_left(states[i].events, states[i].events[at][0], key=_ts) for i, at, _, _ in back
    ]
    since = [
        (states[i].lead_id, event_type, topic)
        for (i, _, _, _), first in zip(back, firsts, strict=True)
        for _, event_type, topic in states[i].events[first:]
    ]
    words = looked_at_by_lead(
        pd.DataFrame(since, columns=["lead_id", "event_type", "content_topic"])
    )
    for (i, at, before, gap_days), first in zip(back, firsts, strict=True):
        state, outcome = states[i], outcomes[i]
        back_at = state.events[at][0]
        record = {
            "lead_id": state.lead_id,
            "status": "handed_over" if state.handed_over else NURTURE,
            "decision": outcome.score["decision"],
            "score": outcome.score["score"],
            "quiet_days": round(gap_days, 1),
            "last_seen_before": state.events[before][0].isoformat(),
            "back_at": back_at.isoformat(),
            "events_since": len(state.events) - first,  # from its moment on, ties included
            "looked_at": words.get(state.lead_id, ""),
            "alerted_at": now.isoformat(),
        }
        key = returning_key(state.lead_id, back_at)
        outcome.alerts.append(
            {
                "key": key,
                "lead_id": state.lead_id,
                "kind": RETURNING,
                "at": now,
                "followup_deadline": None,
                "payload_json": record,
            }
        )
        outcome.outbox.append(_item(key, state.lead_id, record, now))


def _ts(event: tuple[datetime, str, str | None]) -> datetime:
    return event[0]


def _item(key: str, lead_id: str, payload: dict[str, Any], now: datetime) -> OutboxItem:
    return OutboxItem(
        key=key, run_date=now.date(), lead_id=lead_id, payload=payload, created_at=now
    )


def _grade(result: dict[str, Any]) -> str | None:
    fit, engagement = result.get("fit_grade"), result.get("engagement_grade")
    return None if fit is None or engagement is None else f"{fit}{engagement}"
