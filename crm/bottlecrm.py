"""BottleCRM (django-crm) webhook deliveries as leads and stages, and its lead records as
leadscore's lead contract. Pure functions; the REST calls are crm/bottlecrm_api.py's.

A delivery as BottleCRM sends it (webhooks/emit.py `envelope`, webhooks/events.py `lead_data`):

    {"id": "<uuid, one per event>", "event": "lead.created", "created_at": "<ISO time>",
     "org_id": "<uuid>", "data": {"id": "<lead uuid>", "email": ..., "status": "assigned",
     "source": ..., "company_name": ..., "created_at": ..., "updated_at": ..., ...}}

- `lead.created`: the record becomes the lead `bottlecrm-<id>` (and is scored: see
  crm/bottlecrm_sync.py);
- `lead.updated`: the lead's newest state, and the stage crm.yaml maps its `status` to (BottleCRM
  sends no separate status-change event: every save of a lead is a `lead.updated`, so a status
  that maps to a stage is recorded on each, and the store keeps its earliest time);
- anything else (`lead.deleted`, contacts, deals ...): counted as ignored.

The envelope's `id` is the event's: BottleCRM repeats it when it redelivers, so it is the
message id the store deduplicates on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from crm.config import BottleCrmConfig
from foundation.errors import DataError
from foundation.text_limits import EMAIL_DOMAIN_MAX, LEAD_ID_MAX
from store.crm_inbox import CrmLead, CrmMessage, CrmStage

CRM = "bottlecrm"
PREFIX = f"{CRM}-"
MESSAGE_ID_MAX = 250  # crm_messages.message_id (BottleCRM's are UUIDs: 36)
CREATED = "lead.created"
UPDATED = "lead.updated"
_REQUIRED = ("id", "event", "created_at")


@dataclass
class ParsedDelivery:
    """One webhook delivery: its message for the store (None: ignored), the record to score."""

    message: CrmMessage | None = None
    record_id: str | None = None  # the lead to score and write back (lead.created only)
    unmapped: list[str] = field(default_factory=list)
    ignored: int = 0


def lead_id_for(record_id: str) -> str:
    return PREFIX + record_id


def _bounded(value: Any, limit: int, where: str) -> str:
    """A value for a bounded store column; too long is a DataError naming the field (it would
    otherwise fail in the database, on PostgreSQL as a server error)."""
    text = str(value)
    if len(text) > limit:
        raise DataError(f"bottlecrm: {where} is {len(text)} characters; at most {limit}")
    return text


def _time(value: Any, where: str) -> datetime:
    try:
        at = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
    except (ValueError, OverflowError):
        raise DataError(f"bottlecrm: {where} {str(value)[:40]!r} is not an ISO 8601 time") from None


def parse_delivery(body: bytes, config: BottleCrmConfig) -> ParsedDelivery:
    """The delivery in `body`. DataError naming the field for anything that is not BottleCRM's
    envelope: nothing of it is stored."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise DataError(f"bottlecrm: the body is not JSON ({exc})") from None
    if not isinstance(doc, dict):
        raise DataError("bottlecrm: expected a JSON object (BottleCRM's event envelope)")
    missing = [k for k in _REQUIRED if doc.get(k) in (None, "")]
    if missing:
        raise DataError(f"bottlecrm: {', '.join(missing)} missing")
    event = str(doc["event"])
    if event not in (CREATED, UPDATED):
        return ParsedDelivery(ignored=1)
    data = doc.get("data")
    if not isinstance(data, dict) or data.get("id") in (None, ""):
        raise DataError(f"bottlecrm: {event}: data.id missing (the lead's id)")
    record_id = _bounded(data["id"], LEAD_ID_MAX - len(PREFIX), "data.id")
    message_id = _bounded(doc["id"], MESSAGE_ID_MAX, "id")
    if data.get("updated_at"):
        at = _time(data["updated_at"], "data.updated_at")
    else:
        at = _time(doc["created_at"], "created_at")
    email = data.get("email")
    lead = CrmLead(
        CRM,
        record_id,
        lead_id_for(record_id),
        at,
        email=_bounded(email, EMAIL_DOMAIN_MAX, "data.email") if email else None,
        properties={k: v for k, v in data.items() if k != "assigned_to"},
    )
    out = ParsedDelivery(record_id=record_id if event == CREATED else None)
    stages: tuple[CrmStage, ...] = ()
    status = data.get("status")
    if status not in (None, ""):
        stage = config.stages.get(str(status))
        if stage is None:
            out.unmapped.append(f"status {status!r} has no stage in crm.yaml")
        else:
            stages = (CrmStage(lead.lead_id, stage, at, str(status)),)
    out.message = CrmMessage(CRM, message_id, event, leads=(lead,), stages=stages)
    return out


def lead_profile(record: dict[str, Any], config: BottleCrmConfig) -> dict[str, Any]:
    """A BottleCRM lead record (GET /api/leads/<id>/ `lead_obj`) as leadscore's lead contract
    (data contract `leads`), through crm.yaml's `bottlecrm.fields`. DataError when the record
    has no id or no created_at."""
    for key in ("id", "created_at"):
        if record.get(key) in (None, ""):
            raise DataError(f"bottlecrm: the lead record has no {key}")
    names = config.fields

    def value(name: str | None) -> str | None:
        raw = record.get(name) if name else None
        return str(raw).strip() or None if raw not in (None, "") else None

    email = value(names.email)
    domain = email.rpartition("@")[2].lower() if email and "@" in email else None
    return {
        "lead_id": lead_id_for(str(record["id"])),
        "created_at": _time(record["created_at"], "created_at").isoformat(),
        "channel": value(names.channel),
        "industry": _lower(value(names.industry)),
        "job_role": _lower(value(names.job_role)),
        "country": value(names.country),
        "email_domain": domain,
    }


def _lower(text: str | None) -> str | None:
    """BottleCRM's choices are labels ("SOFTWARE", "VP of Sales"); the model's categories are
    lower snake case."""
    return text.strip().lower().replace(" ", "_") if text else None
