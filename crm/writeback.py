"""Scores back onto HubSpot contacts: POST .../crm/objects/{api_version}/contacts/batch/update
(developers.hubspot.com, "Update contacts", the dated 2026-03 API).

As documented: at most 100 records a request (`inputs`), each `{"id": ..., "properties": {...}}`
(or `idProperty` to address contacts by a unique property such as email), every property value
a string; a private app token as `Authorization: Bearer`. Answers:
- 200: all updated;
- 207 multi-status: some failed, each in `errors[]` with its `context.ids`: reported per record,
  the others count as updated;
- 429: rate limited: the request is retried after its Retry-After (seconds), up to
  `retry_after_cap_s` per wait and `max_attempts` per request;
- 5xx or a broken connection: retried with a doubling wait;
- 401/403: the token is wrong: the run stops (every later request would fail alike);
- any other 4xx: that request's records fail with HubSpot's message.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx2 as httpx
import orjson

from crm.config import HubSpotConfig
from delivery.bounded_post import retry_after_s

_MESSAGE_CHARS = 300


@dataclass(frozen=True)
class ScoreUpdate:
    """What leadscore writes onto one contact."""

    record_id: str  # the contact id (or the id_property's value, e.g. the e-mail)
    score: int
    tier: str | None
    reasons: Sequence[str]
    model_version: str
    scored_at: datetime


@dataclass
class WritebackReport:
    updated: int = 0
    failed: dict[str, str] = field(default_factory=dict)  # record id -> why
    requests: int = 0
    waits: list[float] = field(default_factory=list)  # seconds waited (Retry-After, backoff)
    stopped: str | None = None  # why the run stopped early (auth), records left unwritten


def endpoint(config: HubSpotConfig) -> str:
    return f"{config.base_url}/crm/objects/{config.api_version}/contacts/batch/update"


def properties(update: ScoreUpdate, config: HubSpotConfig) -> dict[str, str]:
    """The contact properties of one update, all strings (HubSpot's batch API takes strings)."""
    names = config.score_properties
    return {
        names.score: str(int(update.score)),
        names.tier: update.tier or "",
        names.reasons: "; ".join(update.reasons),
        names.model_version: str(update.model_version),
        names.scored_at: update.scored_at.isoformat().replace("+00:00", "Z"),
    }


def batch_body(updates: Sequence[ScoreUpdate], config: HubSpotConfig) -> dict[str, Any]:
    inputs = []
    for update in updates:
        one: dict[str, Any] = {"id": update.record_id, "properties": properties(update, config)}
        if config.id_property:
            one["idProperty"] = config.id_property
        inputs.append(one)
    return {"inputs": inputs}


def chunks(updates: Sequence[ScoreUpdate], size: int) -> Iterator[Sequence[ScoreUpdate]]:
    for start in range(0, len(updates), size):
        yield updates[start : start + size]


def write_scores(
    updates: Sequence[ScoreUpdate],
    config: HubSpotConfig,
    token: str,
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> WritebackReport:
    """Write every update, `config.batch_size` (at most 100) records a request; never raises for
    HubSpot's answers (they are in the report)."""
    report = WritebackReport()
    headers = {
        "Authorization": f"Bearer {token}",
        "Content-Type": "application/json",
        "User-Agent": "leadscore-crm/1",
    }
    with httpx.Client(timeout=config.timeout_s, headers=headers) as client:
        for chunk in chunks(updates, config.batch_size):
            if report.stopped:
                for update in chunk:
                    report.failed[update.record_id] = f"not sent: {report.stopped}"
                continue
            _send_chunk(client, chunk, config, report, sleep)
    return report


def _send_chunk(
    client: httpx.Client,
    chunk: Sequence[ScoreUpdate],
    config: HubSpotConfig,
    report: WritebackReport,
    sleep: Callable[[float], None],
) -> None:
    body = orjson.dumps(batch_body(chunk, config))
    ids = [u.record_id for u in chunk]
    last = "no attempt"
    for attempt in range(1, config.max_attempts + 1):
        report.requests += 1
        try:
            answer = client.post(endpoint(config), content=body)
        except httpx.HTTPError as exc:
            last = f"connection error: {type(exc).__name__}: {exc}"
            answer = None
        if answer is not None:
            status = answer.status_code
            if status in (200, 201, 207):
                _count(answer, ids, report)
                return
            last = f"HTTP {status}: {answer.text[:_MESSAGE_CHARS].strip()}"
            if status in (401, 403):
                report.stopped = f"HubSpot refused the token ({last})"
                for record_id in ids:
                    report.failed[record_id] = report.stopped
                return
            if status != 429 and status < 500:
                for record_id in ids:
                    report.failed[record_id] = last
                return
        if attempt == config.max_attempts:
            break
        wait = min(config.retry_after_cap_s, 2.0 ** (attempt - 1))
        if answer is not None and answer.status_code == 429:
            told = retry_after_s(answer.headers, cap_s=float("inf"))
            if told is not None and told > config.retry_after_cap_s:
                last += f" (Retry-After {told:g} s is past retry_after_cap_s)"
                break
            wait = told if told is not None else wait
        report.waits.append(wait)
        sleep(wait)
    for record_id in ids:
        report.failed[record_id] = f"gave up after {config.max_attempts} attempt(s): {last}"


def _count(answer: httpx.Response, ids: list[str], report: WritebackReport) -> None:
    """200: all updated; 207: the records named in errors[].context.ids failed, with the
    error's message; the rest were updated."""
    failed: dict[str, str] = {}
    try:
        doc = answer.json()
    except ValueError:
        doc = {}
    errors = doc.get("errors") if isinstance(doc, dict) else None
    for error in errors if isinstance(errors, list) else []:
        if not isinstance(error, dict):
            continue
        message = str(error.get("message") or error.get("category") or "error")[:_MESSAGE_CHARS]
        named = (error.get("context") or {}).get("ids") or []
        if error.get("id"):
            named = [*named, error["id"]]
        for record_id in named:
            failed[str(record_id)] = message
        if not named and answer.status_code == 207:
            failed.setdefault("(unnamed)", message)
    for record_id, message in failed.items():
        report.failed[record_id] = message
    report.updated += sum(1 for record_id in ids if record_id not in failed)
