"""A new BottleCRM lead, scored and its score written back: read the record over BottleCRM's
REST API (the webhook carries no industry, job title or country), map it to the lead contract,
score it, write the rating and a note onto the record, then store the score (`live_scores`, as
a lead scored on arrival).

Runs after the webhook is answered (serve/routes_crm.py hands it to a background task), so
BottleCRM's delivery, which it makes while its own request waits, is not held up by scoring or
by our calls back into it. The score is stored only once it is on the record, so a BottleCRM
lead in the store without a score is one whose write-back did not finish (the service stopped,
or BottleCRM could not be reached): `unwritten` finds them, and the service writes them when it
starts (`catch_up`). Only `lead.created` is scored: our own write-back saves the lead, and
BottleCRM reports every save as `lead.updated`, so scoring on updates would answer our echo
with another write, forever.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from crm.bottlecrm import CRM, lead_profile
from crm.bottlecrm_api import client, get_lead, write_score
from crm.config import BottleCrmConfig
from crm.writeback import ScoreUpdate
from sales.words import plain_reasons
from store import Store, schema
from store.events import EventStore

log = logging.getLogger("leadscore.crm")
TOP_REASONS = 3

# (profile, now) -> the scorer's answer with reasons, plus model_name and model_version
ScoreLead = Callable[[dict[str, Any], datetime], dict[str, Any]]


@dataclass(frozen=True)
class Written:
    """What one lead's write-back did."""

    lead_id: str
    score: int
    tier: str | None
    rating: str | None  # None: the tier maps to no rating


def score_row(lead_id: str, result: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The `live_scores` row of one scored lead (the shape the real-time path writes)."""
    return {
        "lead_id": lead_id,
        "scored_at": now,
        "as_of": result.get("as_of") or now,
        "probability": float(result["probability"]),
        "score": int(result["score"]),
        "tier": result.get("tier"),
        "decision": str(result.get("decision")),
        "model_version": result.get("model_version"),
    }


def model_label(result: dict[str, Any]) -> str:
    """The model as a rep or an auditor finds it again: its registry name and version, or its
    file's name when it was served from a file (which has no version)."""
    name = result.get("model_name") or "model"
    version = result.get("model_version")
    return f"{name} v{version}" if version else f"{name} (a file, not a registry version)"


def score_update(record_id: str, result: dict[str, Any], now: datetime) -> ScoreUpdate:
    reasons, _ = plain_reasons(result)
    return ScoreUpdate(
        record_id=record_id,
        score=int(result["score"]),
        tier=result.get("tier"),
        reasons=tuple(reasons[:TOP_REASONS]),
        model_version=model_label(result),
        scored_at=now,
    )


def score_and_write_back(
    config: BottleCrmConfig,
    token: str,
    record_id: str,
    score_lead: ScoreLead,
    store: Store,
    now: datetime | None = None,
) -> Written:
    """Read, score, store, write back (see the module doc). Raises BottleCrmError when
    BottleCRM refuses or cannot be reached, DataError when the record cannot be mapped."""
    now = now or datetime.now(UTC)
    with client(config, token) as http:
        record = get_lead(http, config, record_id)
        profile = lead_profile(record, config)
        result = score_lead(profile, now)
        update = score_update(record_id, result, now)
        rating = write_score(http, config, update)
    # Last: a stored score means "on the record" (see `unwritten`).
    EventStore(store).record_step([], [score_row(profile["lead_id"], result, now)], [], [], now)
    return Written(profile["lead_id"], update.score, update.tier, rating)


def background_write_back(
    config: BottleCrmConfig,
    token: str,
    record_id: str,
    score_lead: ScoreLead,
    store: Callable[[], Store],
) -> None:
    """score_and_write_back for a background task: nothing to answer, so a failure is logged
    with its reason (the lead and its stage are stored already; the score is not written)."""
    try:
        done = score_and_write_back(config, token, record_id, score_lead, store())
    except Exception as exc:  # a background task has no caller: say why, in the log
        log.warning(
            "bottlecrm: lead %s not written back: %s: %s", record_id, type(exc).__name__, exc
        )
        return
    log.info(
        "bottlecrm: lead %s scored %d (tier %s), rating %s written back",
        done.lead_id,
        done.score,
        done.tier,
        done.rating,
    )


def unwritten(store: Store) -> list[str]:
    """Record ids of the BottleCRM leads in the store with no stored score: their write-back
    never finished (oldest first)."""
    leads, live = schema.crm_leads, schema.live_scores
    query = (
        sa.select(leads.c.record_id)
        .where(leads.c.crm == CRM, ~sa.exists().where(live.c.lead_id == leads.c.lead_id))
        .order_by(leads.c.changed_at)
    )
    with store.engine.connect() as conn:
        return [str(r) for r in conn.execute(query).scalars()]


def catch_up(
    config: BottleCrmConfig,
    token: str,
    record_ids: list[str],
    score_lead: ScoreLead,
    store: Callable[[], Store],
) -> None:
    """Write back the leads `unwritten` named, one after the other (each failure logged)."""
    log.info("bottlecrm: %d lead(s) without their score on the record: writing", len(record_ids))
    for record_id in record_ids:
        background_write_back(config, token, record_id, score_lead, store)
