"""BottleCRM's REST API, the three calls leadscore makes (read in django-crm 1.35's source:
leads/urls.py, leads/views/lead_views.py, common/pat_auth.py):

- GET   /api/leads/<id>/  -> {"lead_obj": {...the lead's fields...}, "comments": [...], ...}
- PATCH /api/leads/<id>/  {"rating": "HOT"}: a partial edit (rating is HOT, WARM or COLD)
- POST  /api/leads/<id>/  {"comment": "..."}: adds a comment (BottleCRM's notes on a lead)

authenticated with a personal access token (`bcrm_pat_...`) as `Authorization: Bearer`; the
token carries its organisation. A 5xx or a broken connection is retried with a doubling wait
(`max_attempts`); a 4xx is BottleCRM's final word and is raised with its message.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx2 as httpx

from crm.config import BottleCrmConfig
from crm.writeback import ScoreUpdate
from foundation.errors import LeadscoreError

_MESSAGE_CHARS = 300


class BottleCrmError(LeadscoreError):
    """BottleCRM refused a request, or could not be reached after every attempt."""


def client(config: BottleCrmConfig, token: str) -> httpx.Client:
    headers = {
        "Authorization": f"Bearer {token}",
        "Accept": "application/json",
        "User-Agent": "leadscore-crm/1",
    }
    return httpx.Client(base_url=config.base_url, timeout=config.timeout_s, headers=headers)


def lead_url(record_id: str) -> str:
    return f"/api/leads/{record_id}/"


def request(
    http: httpx.Client,
    config: BottleCrmConfig,
    method: str,
    path: str,
    *,
    json: dict[str, Any] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """One call, retried on 5xx and broken connections; the JSON answer, or BottleCrmError."""
    last = "no attempt"
    for attempt in range(1, config.max_attempts + 1):
        try:
            answer = http.request(method, path, json=json)
        except httpx.HTTPError as exc:
            last = f"cannot reach {config.base_url}: {type(exc).__name__}: {exc}"
        else:
            if answer.status_code < 300:
                try:
                    doc = answer.json()
                except ValueError:
                    raise BottleCrmError(f"{method} {path}: the answer is not JSON") from None
                return doc if isinstance(doc, dict) else {"items": doc}
            last = f"HTTP {answer.status_code}: {answer.text[:_MESSAGE_CHARS].strip()}"
            if answer.status_code < 500:
                raise BottleCrmError(f"{method} {path}: {last}")
        if attempt < config.max_attempts:
            sleep(min(10.0, 0.5 * 2 ** (attempt - 1)))
    raise BottleCrmError(f"{method} {path}: gave up after {config.max_attempts} attempt(s): {last}")


def get_lead(http: httpx.Client, config: BottleCrmConfig, record_id: str) -> dict[str, Any]:
    """The lead record's fields (`lead_obj`)."""
    doc = request(http, config, "GET", lead_url(record_id))
    lead = doc.get("lead_obj")
    if not isinstance(lead, dict):
        raise BottleCrmError(f"GET {lead_url(record_id)}: no lead_obj in the answer")
    return lead


def note_text(update: ScoreUpdate) -> str:
    """The comment leadscore adds: every field a rep or a report needs, one per line."""
    lines = [
        f"leadscore score: {int(update.score)}/100 (tier {update.tier or '-'})",
        f"model version: {update.model_version}",
        f"scored at: {update.scored_at.isoformat().replace('+00:00', 'Z')}",
    ]
    if update.reasons:
        lines.append("reasons: " + "; ".join(update.reasons))
    return "\n".join(lines)


def write_score(
    http: httpx.Client,
    config: BottleCrmConfig,
    update: ScoreUpdate,
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> str | None:
    """The rating crm.yaml maps the tier to (PATCH), then the note (a comment). Returns the
    rating written (None: the tier maps to none, the rating is left alone)."""
    rating = config.ratings.get(update.tier or "")
    path = lead_url(update.record_id)
    if rating is not None:
        request(http, config, "PATCH", path, json={"rating": rating}, sleep=sleep)
    request(http, config, "POST", path, json={"comment": note_text(update)}, sleep=sleep)
    return rating
