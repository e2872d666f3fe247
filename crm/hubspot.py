"""HubSpot webhook events (Webhooks API: a JSON array of events) as leads and stages.

An event as documented (developers.hubspot.com, "Webhooks API"):

    {"eventId": 100, "subscriptionId": 4240, "portalId": 62515, "appId": 54321,
     "occurredAt": 1564113600000, "subscriptionType": "contact.propertyChange",
     "attemptNumber": 0, "objectId": 123, "changeSource": "CRM",
     "propertyName": "hs_lead_status", "propertyValue": "CONNECTED"}

- `contact.creation`: the contact becomes a lead, `hubspot-<objectId>`;
- `contact.propertyChange` of `status_property`: the stage crm.yaml maps that status to (a
  status it does not map is counted as unmapped, not guessed);
- `contact.propertyChange` of `email`: the lead's e-mail;
- anything else: counted as ignored.

HubSpot's eventId is documented as not unique, so one event's id for deduplication is its
subscription, object, property, value and time together (a retry repeats all of them).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from crm.config import HubSpotConfig
from foundation.errors import DataError
from store.crm_inbox import CrmLead, CrmMessage, CrmStage

CRM = "hubspot"
_REQUIRED = ("subscriptionType", "objectId", "occurredAt")


@dataclass
class ParsedEvents:
    messages: list[CrmMessage] = field(default_factory=list)
    unmapped: list[str] = field(default_factory=list)  # "event 2: status 'X' has no stage"
    ignored: int = 0


def lead_id_for(object_id: str) -> str:
    return f"{CRM}-{object_id}"


def parse_events(body: bytes, config: HubSpotConfig) -> ParsedEvents:
    """The events in a webhook body. DataError naming the event (by position) and the field for
    anything that is not the documented shape: nothing of a bad batch is stored."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise DataError(f"hubspot: the body is not JSON ({exc})") from None
    if isinstance(doc, dict):
        doc = [doc]  # a workflow's single event
    if not isinstance(doc, list):
        raise DataError("hubspot: expected a JSON array of events")
    out = ParsedEvents()
    for n, event in enumerate(doc):
        if not isinstance(event, dict):
            raise DataError(f"hubspot: event {n}: expected an object, got {type(event).__name__}")
        message = _event_message(n, event, config, out)
        if message is not None:
            out.messages.append(message)
    return out


def _event_message(
    n: int, event: dict[str, Any], config: HubSpotConfig, out: ParsedEvents
) -> CrmMessage | None:
    missing = [k for k in _REQUIRED if event.get(k) in (None, "")]
    if missing:
        raise DataError(f"hubspot: event {n}: {', '.join(missing)} missing")
    kind = str(event["subscriptionType"])
    object_id = str(event["objectId"])
    try:
        at = datetime.fromtimestamp(int(event["occurredAt"]) / 1000, tz=UTC)
    except (TypeError, ValueError, OverflowError):
        raise DataError(
            f"hubspot: event {n}: occurredAt {event['occurredAt']!r} is not Unix milliseconds"
        ) from None
    message_id = _event_id(event)
    lead = CrmLead(CRM, object_id, lead_id_for(object_id), at)
    if kind == "contact.creation":
        return CrmMessage(CRM, message_id, kind, leads=(lead,))
    if kind != "contact.propertyChange":
        out.ignored += 1
        return None
    name, value = event.get("propertyName"), event.get("propertyValue")
    if not name:
        raise DataError(f"hubspot: event {n}: propertyName missing (contact.propertyChange)")
    value = "" if value is None else str(value)
    if name == config.status_property:
        stage = config.stages.get(value)
        if stage is None:
            out.unmapped.append(f"event {n}: {name} {value!r} has no stage in crm.yaml")
            return CrmMessage(CRM, message_id, kind, leads=(lead,))
        return CrmMessage(
            CRM, message_id, kind, leads=(lead,), stages=(CrmStage(lead.lead_id, stage, at, value),)
        )
    if name == "email":
        return CrmMessage(CRM, message_id, kind, leads=(_with(lead, email=value),))
    out.ignored += 1
    return None


def _with(lead: CrmLead, **changes: Any) -> CrmLead:
    from dataclasses import replace

    return replace(lead, **changes)


def _event_id(event: dict[str, Any]) -> str:
    parts = [
        event.get(k)
        for k in (
            "portalId",
            "subscriptionId",
            "eventId",
            "subscriptionType",
            "objectId",
            "propertyName",
            "propertyValue",
            "occurredAt",
        )
    ]
    return hashlib.sha256(orjson.dumps(parts)).hexdigest()[:40]
