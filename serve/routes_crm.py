"""Inbound CRM requests: POST /crm/hubspot, /crm/salesforce and /crm/bottlecrm (docs/crm.md).

Outside /v1 on purpose: no CRM can send our X-API-Key. Each proves itself its own way:
HubSpot by its v3 signature, BottleCRM by its `X-BottleCRM-Signature` (crm/signatures.py),
Salesforce by its organisation id (plus TLS and its IP ranges or client certificate at the
proxy). A new BottleCRM lead is scored and its score written back after the answer
(crm/bottlecrm_sync.py). What they send becomes leads and funnel
stages in the store (store/crm_inbox.py) before the answer: a Salesforce Ack means stored.
A store that is down answers 503 (serve/store_outage.py): no Ack, so the CRM sends it again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, Response

from crm.bottlecrm import parse_delivery
from crm.bottlecrm_sync import background_write_back, catch_up, unwritten
from crm.config import CrmConfig, load_crm_config, secret_from_env
from crm.hubspot import parse_events
from crm.salesforce import ACK, fault, parse_outbound
from crm.signatures import (
    BOTTLECRM_SIGNATURE_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    bottlecrm_problem,
    hubspot_v3_problem,
)
from foundation.errors import DataError
from scoring.inputs import LeadInput
from serve.state import ServiceState
from store.crm_inbox import record_messages

router = APIRouter(tags=["crm"])
log = logging.getLogger("leadscore.serve")
SOAP_TYPE = "text/xml; charset=utf-8"


@dataclass(frozen=True)
class CrmInbound:
    """crm.yaml and the secrets it names, read once when the service starts."""

    config: CrmConfig
    hubspot_secret: str | None
    bottlecrm_secret: str | None = None
    bottlecrm_token: str | None = None  # only when bottlecrm.write_back


def load_inbound(path: Path) -> CrmInbound:
    """ConfigError naming the key or the environment variable, at start rather than at the
    first CRM request."""
    config = load_crm_config(path)
    secret = None
    if config.hubspot is not None:
        secret = secret_from_env(config.hubspot.client_secret_env, "hubspot.client_secret_env")
    bottle_secret = bottle_token = None
    if config.bottlecrm is not None:
        bottle = config.bottlecrm
        bottle_secret = secret_from_env(bottle.webhook_secret_env, "bottlecrm.webhook_secret_env")
        if bottle.write_back:
            bottle_token = secret_from_env(bottle.token_env, "bottlecrm.token_env")
    return CrmInbound(config, secret, bottle_secret, bottle_token)


def _inbound(request: Request) -> CrmInbound | None:
    return getattr(request.app.state, "crm_inbound", None)


def _not_configured(crm: str) -> JSONResponse:
    detail = f"{crm} is not configured on this service (crm.yaml, LEADSCORE_CRM_CONFIG)"
    return JSONResponse({"detail": detail}, status_code=404)


@router.post("/crm/hubspot", include_in_schema=False)
async def hubspot_webhook(request: Request) -> Response:
    inbound = _inbound(request)
    if inbound is None or inbound.config.hubspot is None or inbound.hubspot_secret is None:
        return _not_configured("hubspot")
    config = inbound.config.hubspot
    body = await request.body()
    uri = str(request.url)
    if config.webhook_url:  # the URL HubSpot was given (and signs), behind any proxy
        query = request.url.query
        uri = config.webhook_url + (f"?{query}" if query else "")
    problem = hubspot_v3_problem(
        inbound.hubspot_secret,
        request.method,
        uri,
        body,
        request.headers.get(TIMESTAMP_HEADER),
        request.headers.get(SIGNATURE_HEADER),
        now_ms=int(time.time() * 1000),
        max_age_ms=int(config.signature_tolerance_s * 1000),
    )
    if problem is not None:
        return JSONResponse({"detail": problem}, status_code=401)
    try:
        parsed = parse_events(body, config)
    except DataError as exc:
        return JSONResponse({"detail": str(exc)}, status_code=400)
    store = await run_in_threadpool(request.app.state.store_access.get)
    result = await run_in_threadpool(record_messages, store, parsed.messages, datetime.now(UTC))
    return JSONResponse(
        {
            "stored": result.stored,
            "duplicates": result.duplicates,
            "ignored": parsed.ignored,
            "unmapped": parsed.unmapped,
        }
    )


@router.post("/crm/salesforce", include_in_schema=False)
async def salesforce_outbound(request: Request) -> Response:
    inbound = _inbound(request)
    if inbound is None or inbound.config.salesforce is None:
        return Response(fault("salesforce is not configured"), 404, media_type=SOAP_TYPE)
    config = inbound.config.salesforce
    body = await request.body()
    now = datetime.now(UTC)
    try:
        outbound = parse_outbound(body, config, now)
    except DataError as exc:
        return Response(fault(str(exc)), 400, media_type=SOAP_TYPE)
    # Salesforce gives 15- or 18-character ids for the same org; the first 15 are the id.
    if outbound.organization_id[:15] != config.organization_id[:15]:
        message = "OrganizationId is not the one in crm.yaml (salesforce.organization_id)"
        return Response(fault(message), 403, media_type=SOAP_TYPE)
    store = await run_in_threadpool(request.app.state.store_access.get)
    await run_in_threadpool(record_messages, store, outbound.messages, now)
    return Response(ACK, 200, media_type=SOAP_TYPE)  # only now: every notification is stored


def _scorer_of(state: ServiceState) -> Callable[[dict[str, Any], datetime], dict[str, Any]]:
    """Score a lead-contract profile with the model serving at that moment (with reasons)."""

    def score(profile: dict[str, Any], now: datetime) -> dict[str, Any]:
        scorer = state.current().scorer
        result = scorer.score_one(LeadInput.model_validate({"lead": profile}), True, now)
        ref = scorer.model_ref
        return {**result, "model_name": ref.get("name"), "model_version": ref.get("version")}

    return score


@router.post("/crm/bottlecrm", include_in_schema=False)
async def bottlecrm_webhook(request: Request) -> Response:
    inbound = _inbound(request)
    if inbound is None or inbound.config.bottlecrm is None or inbound.bottlecrm_secret is None:
        return _not_configured("bottlecrm")
    config = inbound.config.bottlecrm
    body = await request.body()
    problem = bottlecrm_problem(
        inbound.bottlecrm_secret,
        body,
        request.headers.get(BOTTLECRM_SIGNATURE_HEADER),
        now_s=time.time(),
        max_age_s=config.signature_tolerance_s,
    )
    if problem is not None:
        return JSONResponse({"detail": problem}, status_code=401)
    try:
        parsed = parse_delivery(body, config)
    except DataError as exc:
        return JSONResponse({"detail": str(exc)}, status_code=400)
    access = request.app.state.store_access
    result = None
    if parsed.message is not None:
        store = await run_in_threadpool(access.get)
        result = await run_in_threadpool(
            record_messages, store, [parsed.message], datetime.now(UTC)
        )
    task = None
    # A redelivered lead.created (a duplicate) was scored the first time: not again.
    if parsed.record_id and inbound.bottlecrm_token and result is not None and result.stored:
        task = BackgroundTask(
            background_write_back,
            config,
            inbound.bottlecrm_token,
            parsed.record_id,
            _scorer_of(request.app.state.service),
            access.get,
        )
    return JSONResponse(
        {
            "stored": result.stored if result else 0,
            "duplicates": result.duplicates if result else 0,
            "ignored": parsed.ignored,
            "unmapped": parsed.unmapped,
            "scoring": task is not None,
        },
        background=task,
    )


def start_catch_up(app: Any, state: ServiceState) -> None:
    """At start, once the model is loaded: the BottleCRM leads stored before whose write-back
    did not finish (crm/bottlecrm_sync.py `unwritten`, listed now, before any new delivery)
    are scored and written in a thread of their own. A store that cannot be read is logged."""
    inbound = getattr(app.state, "crm_inbound", None)
    if inbound is None or inbound.config.bottlecrm is None or not inbound.bottlecrm_token:
        return
    if state.serving is None:
        return  # no model: nothing can be scored (the service says why on /readyz)
    access = app.state.store_access
    try:
        pending = unwritten(access.get())
    except Exception as exc:  # the service still starts: new deliveries are handled as usual
        log.warning("bottlecrm: catch-up skipped, the store cannot be read: %s", exc)
        return
    if not pending:
        return
    args = (inbound.config.bottlecrm, inbound.bottlecrm_token, pending, _scorer_of(state))
    threading.Thread(
        target=catch_up, args=(*args, access.get), name="bottlecrm-catch-up", daemon=True
    ).start()
