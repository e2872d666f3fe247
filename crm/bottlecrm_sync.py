"""A new BottleCRM lead, scored and its score written back: read the record over BottleCRM's
REST API (the webhook carries no industry, job title or country), map it to the lead contract,
score it, store the score (`live_scores`, as a lead scored on arrival), then write the rating
and a note onto the record.

Runs after the webhook is answered (serve/routes_crm.py hands it to a background task), so
BottleCRM's delivery, which it makes while its own request waits, is not held up by scoring or
by our calls back into it. Only `lead.created` is scored: our own write-back saves the lead, and
BottleCRM reports every save as `lead.updated`, so scoring on updates would answer our echo with
another write, forever.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from crm.bottlecrm import lead_profile
from crm.bottlecrm_api import client, get_lead, write_score
from crm.config import BottleCrmConfig
from crm.writeback import ScoreUpdate
from sales.words import plain_reasons
from store import Store
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
        EventStore(store).record_step([], [score_row(profile["lead_id"], result, now)], [], [], now)
        update = score_update(record_id, result, now)
        rating = write_score(http, config, update)
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
