"""The Segment tracking spec, as marketing tools, CDPs and site trackers send it: `track`,
`identify` (and `page`, a page view), alone or in a `batch`. Parsed into the rows the store keeps.

Every message needs a `messageId` (the de-duplication key: a retry of the same message is
acknowledged and not stored twice) and a `userId` (our lead_id) or an `anonymousId`. A bad
message refuses the whole request with every problem named by its place
(`batch[3].timestamp: ...`), so a sender never half-delivers a batch without knowing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from features.mapping_one import EventNamer
from foundation.text_limits import CATEGORY_MAX, LEAD_ID_MAX

KINDS = ("track", "identify", "page")
MESSAGE_ID_MAX = 250
# Lead columns an `identify` may carry as traits (features.vocabularies: the leads contract).
PROFILE_COLUMNS = ("channel", "company_size", "industry", "job_role", "country", "email_domain")
PAGE_EVENT = "page_view"  # a `page` call is the contract's page view (the mapping may rename it)


class SegmentError(ValueError):
    """One or more messages are not valid; `problems` name each by its place."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Message:
    """One accepted message, as stored (store/events.py)."""

    message_id: str
    kind: str  # track | identify (a page is stored as a track)
    lead_id: str | None
    anonymous_id: str | None
    name: str | None
    event_type: str | None
    content_topic: str | None
    ts: datetime
    payload: dict[str, Any]
    profile: dict[str, Any] | None = None  # identify: the lead's columns from its traits

    def row(self, received_at: datetime) -> dict[str, Any]:
        return {
            "message_id": self.message_id,
            "kind": self.kind,
            "lead_id": self.lead_id,
            "anonymous_id": self.anonymous_id,
            "name": self.name,
            "event_type": self.event_type,
            "content_topic": self.content_topic,
            "ts": self.ts,
            "received_at": received_at,
            "scored_at": None,
            "payload_json": self.payload,
        }


def messages_of(body: Any, namer: EventNamer, now: datetime, max_batch: int) -> list[Message]:
    """The messages of one request body: a single message or `{"batch": [...]}`; SegmentError
    naming every bad field; ValueError (-> 413) past `max_batch` messages."""
    if not isinstance(body, Mapping):
        raise SegmentError(['body: expected a JSON object (one message, or {"batch": [...]})'])
    if "batch" in body:
        batch = body["batch"]
        if not isinstance(batch, list):
            raise SegmentError(["batch: expected a list of messages"])
        if len(batch) > max_batch:
            raise OverflowError(f"batch: {len(batch)} messages, at most {max_batch} per request")
        places = [(f"batch[{i}]", m) for i, m in enumerate(batch)]
    else:
        places = [("body", body)]
    out: list[Message] = []
    problems: list[str] = []
    for place, raw in places:
        try:
            out.append(message_of(raw, namer, now, place))
        except SegmentError as exc:
            problems.extend(exc.problems)
    if problems:
        raise SegmentError(problems)
    return out


def message_of(raw: Any, namer: EventNamer, now: datetime, place: str = "body") -> Message:
    """One message checked and mapped (see the module docstring)."""
    if not isinstance(raw, Mapping):
        raise SegmentError([f"{place}: expected an object"])
    problems: list[str] = []
    kind = raw.get("type")
    if kind not in KINDS:
        problems.append(f"{place}.type: {kind!r} is not one of {', '.join(KINDS)}")
    message_id = _text(raw, "messageId", place, MESSAGE_ID_MAX, problems, required=True)
    user_id = _text(raw, "userId", place, LEAD_ID_MAX, problems, number_ok=True)
    anonymous_id = _text(raw, "anonymousId", place, MESSAGE_ID_MAX, problems, number_ok=True)
    if user_id is None and anonymous_id is None and not _has_problem(problems, place, "Id"):
        problems.append(f"{place}: give userId (the lead_id) or anonymousId")
    ts = _time(raw.get("timestamp"), f"{place}.timestamp", now, problems)
    key = "traits" if kind == "identify" else "properties"
    payload = raw.get(key) if raw.get(key) is not None else {}
    if not isinstance(payload, Mapping):
        problems.append(f"{place}.{key}: expected an object")
        payload = {}
    name = None
    if kind == "track":
        name = _text(raw, "event", place, CATEGORY_MAX, problems, required=True)
    elif kind == "page":
        name = PAGE_EVENT
    profile = (
        _profile(payload, namer, ts, f"{place}.traits", problems) if kind == "identify" else None
    )
    if kind == "identify" and user_id is None and not problems:
        problems.append(f"{place}.userId: an identify needs the lead_id it names")
    if problems:
        raise SegmentError(problems)
    assert message_id is not None
    event_type = content_topic = None
    if name is not None:
        event_type = namer.event_type(name, payload)
        content_topic = namer.content_topic(payload)
        if len(event_type) > CATEGORY_MAX or len(content_topic or "") > CATEGORY_MAX:
            raise SegmentError([f"{place}: mapped event type or topic longer than {CATEGORY_MAX}"])
    return Message(
        message_id=message_id,
        kind="identify" if kind == "identify" else "track",
        lead_id=user_id,
        anonymous_id=anonymous_id,
        name=name,
        event_type=event_type,
        content_topic=content_topic,
        ts=ts,
        payload=dict(payload),
        profile=profile,
    )


def _has_problem(problems: list[str], place: str, field_end: str) -> bool:
    return any(p.startswith(place) and field_end in p.split(":")[0] for p in problems)


def _text(
    raw: Mapping[str, Any],
    key: str,
    place: str,
    limit: int,
    problems: list[str],
    *,
    required: bool = False,
    number_ok: bool = False,
) -> str | None:
    value = raw.get(key)
    if value is None or value == "":
        if required:
            problems.append(f"{place}.{key}: required")
        return None
    allowed = (str, int) if number_ok else (str,)  # Segment allows numeric ids, not names
    if isinstance(value, bool) or not isinstance(value, allowed):
        problems.append(f"{place}.{key}: expected a string, got {type(value).__name__}")
        return None
    text = str(value)
    if len(text) > limit or "\x00" in text:
        problems.append(f"{place}.{key}: longer than {limit} characters or holds a NUL")
        return None
    return text


def _time(value: Any, where: str, now: datetime, problems: list[str]) -> datetime:
    """ISO 8601 (naive: UTC); missing: the time it arrived."""
    if value is None:
        return now
    if not isinstance(value, str):
        problems.append(f"{where}: expected an ISO 8601 string, got {type(value).__name__}")
        return now
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        problems.append(f"{where}: {value[:40]!r} is not an ISO 8601 time")
        return now
    if parsed.year < 1970 or parsed.year > 2200:
        problems.append(f"{where}: {value[:40]!r} is outside 1970-2200")
        return now
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _profile(
    traits: Mapping[str, Any], namer: EventNamer, ts: datetime, where: str, problems: list[str]
) -> dict[str, Any]:
    """The lead's contract columns from the traits, under the names the mapping gives them."""
    profile: dict[str, Any] = {}
    created = traits.get(namer.trait_name("created_at"), traits.get("createdAt"))
    profile["created_at"] = _time(created, f"{where}.created_at", ts, problems).isoformat()
    for column in PROFILE_COLUMNS:
        value = traits.get(namer.trait_name(column))
        if value is None:
            continue
        if column == "company_size":
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 10**7:
                problems.append(f"{where}.{column}: expected an integer 0-10,000,000")
                continue
        elif not isinstance(value, str) or len(value) > CATEGORY_MAX:
            problems.append(f"{where}.{column}: expected a string of at most {CATEGORY_MAX}")
            continue
        profile[column] = value
    email = traits.get("email")
    if "email_domain" not in profile and isinstance(email, str) and "@" in email:
        profile["email_domain"] = email.rsplit("@", 1)[1][:CATEGORY_MAX]
    return profile
