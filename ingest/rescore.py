"""Re-scoring one lead on arrival, and what follows from its new score: a hand-off when it
crossed the MQL threshold, a returning-prospect alert when a handed-over or nurtured lead is back
on the site after the quiet period. Pure: the store reads and writes are the worker's.

The rules are the daily run's (daily/handoff.py), applied to one lead at the moment its event
arrives: a lead is handed over once (never when a daily run or an earlier event did already),
`handed_at` is now and the follow-up deadline counts from now; "returning" is an on-site event
(features.behaviour.WEB_EVENT_TYPES) at least `quiet_days` after the lead's previous one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any

import pandas as pd

from daily.activity import activity_dicts
from daily.handoff import handoff_records, looked_at
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
    creation): the service's single-lead feature code (scoring/features_fast.py)."""
    lead = LeadProfile.model_validate(state.profile)
    events = [(e["ts"], e["event_type"], e["content_topic"]) for e in state.events]
    as_of = max([lead.created_at, *(e["ts"] for e in state.events)])
    return scorer.lead_features.features(lead, events, as_of), as_of


def rescore_many(
    scorer: Any,
    states: list[LeadState],
    new_ids: dict[str, list[str]],
    rules: Rules,
    now: datetime,
) -> list[Outcome]:
    """Every lead of a worker step scored as ONE matrix (one predict call, as a batch), then the
    alerts each one's newest events (`new_ids[lead]`) call for."""
    if not states:
        return []
    built = [features_of(scorer, s) for s in states]
    results = scorer.score_rows(
        [v for v, _ in built], [a for _, a in built], [s.lead_id for s in states], explain=False
    )
    return [
        outcome_of(scorer, state, values, as_of, result, set(new_ids[state.lead_id]), rules, now)
        for state, (values, as_of), result in zip(states, built, results, strict=True)
    ]


def rescore(
    scorer: Any, state: LeadState, new_ids: set[str], rules: Rules, now: datetime
) -> Outcome:
    """One lead (see rescore_many)."""
    return rescore_many(scorer, [state], {state.lead_id: list(new_ids)}, rules, now)[0]


def outcome_of(
    scorer: Any,
    state: LeadState,
    values: dict[str, Any],
    as_of: datetime,
    result: dict[str, Any],
    new_ids: set[str],
    rules: Rules,
    now: datetime,
) -> Outcome:
    """The new score row, and a hand-off (crossed the threshold, never handed over) or a
    returning alert (handed over or nurtured, back after the quiet period)."""
    outcome = Outcome(
        score={
            "lead_id": state.lead_id,
            "scored_at": now,
            "as_of": as_of,
            "probability": float(result["probability"]),
            "score": int(result["score"]),
            "tier": result.get("tier"),
            "decision": str(result["decision"]),
            "model_version": scorer.model_ref.get("version"),
        }
    )
    crossed = result["decision"] == MQL and state.previous_decision != MQL and not state.handed_over
    if crossed:
        why = scorer.score_rows([values], [as_of], [state.lead_id], explain=True)[0]
        _add_handoff(outcome, scorer, state, values, result | why, now, rules)
    elif state.handed_over or state.previous_decision == NURTURE:
        _add_returning(outcome, state, new_ids, rules, now)
    return outcome


def _add_handoff(
    outcome: Outcome,
    scorer: Any,
    state: LeadState,
    values: dict[str, Any],
    result: dict[str, Any],
    now: datetime,
    rules: Rules,
) -> None:
    """The daily run's hand-off record (daily.handoff.handoff_records), handed at `now`, with
    the activity read off the same feature values the daily run reads it from."""
    as_of = pd.Timestamp(outcome.score["as_of"])
    features = pd.DataFrame([{**values, "lead_id": state.lead_id}])
    params = scorer.context.feature_params
    activity = activity_dicts(features, as_of, with_text=True, params=params)[state.lead_id]
    row = {
        **result,
        "channel": state.profile.get("channel"),
        "grade": _grade(result),
        "reasons": {"reasons_for": result.get("reasons_for") or []},
    }
    record = handoff_records(
        pd.DataFrame([row]), {state.lead_id: activity}, pd.Timestamp(now), rules.follow_up_hours
    ).to_dict("records")[0]
    key = handoff_key(state.lead_id)
    deadline = now + timedelta(hours=rules.follow_up_hours)
    outcome.alerts.append(
        {
            "key": key,
            "lead_id": state.lead_id,
            "kind": HANDOFF,
            "at": now,
            "followup_deadline": deadline,
            "payload_json": record,
        }
    )
    outcome.outbox.append(_item(key, state.lead_id, record, now))


def _add_returning(
    outcome: Outcome, state: LeadState, new_ids: set[str], rules: Rules, now: datetime
) -> None:
    """An alert for the first new on-site event that ends a quiet period of `quiet_days`."""
    web = [e for e in state.events if e["event_type"] in WEB_EVENT_TYPES]
    for before, event in pairwise(web):
        if event["message_id"] not in new_ids:
            continue
        gap_days = (event["ts"] - before["ts"]).total_seconds() / SECONDS_PER_DAY
        if gap_days < rules.quiet_days:
            continue
        since = [e for e in state.events if e["ts"] >= event["ts"]]
        record = {
            "lead_id": state.lead_id,
            "status": "handed_over" if state.handed_over else NURTURE,
            "decision": outcome.score["decision"],
            "score": outcome.score["score"],
            "quiet_days": round(gap_days, 1),
            "last_seen_before": before["ts"].isoformat(),
            "back_at": event["ts"].isoformat(),
            "events_since": len(since),
            "looked_at": looked_at(pd.DataFrame(since)),
            "alerted_at": now.isoformat(),
        }
        key = returning_key(state.lead_id, event["ts"])
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
        return


def _item(key: str, lead_id: str, payload: dict[str, Any], now: datetime) -> OutboxItem:
    return OutboxItem(
        key=key, run_date=now.date(), lead_id=lead_id, payload=payload, created_at=now
    )


def _grade(result: dict[str, Any]) -> str | None:
    fit, engagement = result.get("fit_grade"), result.get("engagement_grade")
    return None if fit is None or engagement is None else f"{fit}{engagement}"
