"""POST /v1/events (events as they happen, Segment tracking spec) and GET /v1/status (how far
re-scoring lags), for keys of the `ingest` role (or admin). docs/events.md says how to send.

The answer is 200 only once every message of the request is durable in the store of record
(committed); a message whose `messageId` is already stored is acknowledged and not stored
again. Under a burst (more than params `ingest.max_waiting` events waiting for re-scoring) the
answer is 429 with Retry-After, and nothing of that request is stored: the sender retries, no
event is dropped. A bad message is a 400 naming it and its field; nothing is stored.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from ingest.segment import SegmentError
from ingest.service import Ingest
from serve.errors import json_response
from serve.routes_score import ERRORS, MessageResponse
from serve.store_outage import StoreUnavailable, first_line

router = APIRouter()
# What the two routes may answer besides 200, so the document (and a client generated from it)
# knows every answer: the fuzz test holds the service to it.
_KEY_ERRORS = {code: ERRORS[code] for code in (401, 403)}
_UNAVAILABLE = {
    503: {
        "model": MessageResponse,
        "description": "Real-time events are off or the store is unreachable (the reason given).",
    }
}
EVENTS_ERRORS: dict[int | str, dict[str, Any]] = {
    **_KEY_ERRORS,
    400: {"model": MessageResponse, "description": "Not JSON, or a message names its bad field."},
    413: {"model": MessageResponse, "description": "More messages than one request may carry."},
    429: {"model": MessageResponse, "description": "Too many events waiting; see Retry-After."},
    **_UNAVAILABLE,
}
STATUS_ERRORS: dict[int | str, dict[str, Any]] = {**_KEY_ERRORS, 429: ERRORS[429], **_UNAVAILABLE}
log = logging.getLogger("leadscore.serve")


def ingest_of(request: Request) -> Ingest:
    """The real-time path of this service, or 503 saying why it is off."""
    ingest = getattr(request.app.state, "ingest", None)
    if ingest is None:
        reason = getattr(request.app.state, "ingest_unavailable", "real-time events are off")
        raise StoreUnavailable(public=f"real-time events are unavailable: {reason}")
    return ingest


@router.post(
    "/events",
    tags=["events"],
    summary="Events as they happen (Segment spec)",
    responses=EVENTS_ERRORS,
)
async def post_events(request: Request) -> Response:
    ingest = ingest_of(request)
    if ingest.worker.too_busy():
        ingest.worker.measures.throttled()
        wait = str(ingest.params.retry_after_s)
        detail = (
            f"{ingest.worker.waiting} events are waiting to be re-scored (limit "
            f"{ingest.params.max_waiting}): nothing of this request was stored; retry after "
            f"{wait} s"
        )
        return json_response({"detail": detail}, 429, headers={"Retry-After": wait})
    try:
        body = orjson.loads(await request.body())
    except orjson.JSONDecodeError as exc:
        return json_response({"detail": f"body: not valid JSON ({exc})"}, 400)
    try:
        stored = await run_in_threadpool(ingest.accept, body)
    except SegmentError as exc:
        return json_response({"detail": "invalid message(s)", "errors": exc.problems}, 400)
    except OverflowError as exc:
        return json_response({"detail": str(exc)}, 413)
    except Exception as exc:
        if type(exc).__module__.startswith("sqlalchemy"):
            raise StoreUnavailable(detail=f"events not stored: {first_line(exc)}") from exc
        raise
    answer: dict[str, Any] = {
        "success": True,
        "stored": stored.stored,
        "duplicates": stored.duplicates,
    }
    return json_response(answer, 200)


@router.get(
    "/status",
    tags=["events"],
    summary="Real-time lag: events waiting, oldest age",
    responses=STATUS_ERRORS,
)
def get_status(request: Request) -> Response:
    ingest = ingest_of(request)
    try:
        return json_response({"events": ingest.worker.status()}, 200)
    except Exception as exc:
        if type(exc).__module__.startswith("sqlalchemy"):
            raise StoreUnavailable(detail=f"status not read: {first_line(exc)}") from exc
        raise


def start_ingest(app: Any, state: Any) -> None:
    """Build and start the real-time path when a key of the ingest role is configured (no such
    key: no worker, and the routes answer 401/403 anyway). A store or configuration problem
    leaves the service up, scoring, with /v1/events answering 503 with the reason."""
    from foundation.errors import LeadscoreError
    from ingest.service import build_ingest
    from serve.security import Role

    if Role.INGEST not in app.state.api_keys.values():
        app.state.ingest_unavailable = "no key of the ingest role is configured"
        return
    settings = state.settings

    def scorer() -> Any:
        serving = state.serving
        return None if serving is None else serving.scorer

    try:
        store = app.state.store_access.get()
        ingest = build_ingest(store, scorer, settings.params_path, settings.sla_path)
    except (StoreUnavailable, LeadscoreError) as exc:
        app.state.ingest_unavailable = getattr(exc, "detail", None) or str(exc)
        log.error("real-time events off: %s", app.state.ingest_unavailable)
        return
    ingest.worker.start()
    app.state.ingest = ingest


def stop_ingest(app: Any) -> None:
    ingest = getattr(app.state, "ingest", None)
    if ingest is not None:
        ingest.worker.stop()
