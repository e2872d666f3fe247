"""The app factory: `create_app(settings)` builds a FastAPI app; the model loads in the lifespan.

Importing this module creates nothing: no settings, no model, no app. `leadscore serve` (and
uvicorn's `--factory`) call `create_app()`, tests call it with their own Settings.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

from fastapi import FastAPI

from dashboard.web import install_dashboard
from serve import (
    routes_actions,
    routes_crm,
    routes_events,
    routes_health,
    routes_info,
    routes_leads,
    routes_metrics,
    routes_score,
    routes_summary,
)
from serve.auth_throttle import FailureThrottle
from serve.errors import BodySizeLimit, CatchAll, install_error_handlers
from serve.fast_lane import FastLaneAPI
from serve.headers import JsonBodiesOnly, SecurityHeaders
from serve.lean_route import mount_lean
from serve.openapi import install_openapi
from serve.schemas import BatchRequest, ColumnBatchRequest, ScoreRequest
from serve.security import ApiKeyGuard, parse_api_keys
from serve.settings import Settings
from serve.state import ServiceState, load_initial
from serve.store_outage import install_store_outage_handlers

log = logging.getLogger("leadscore.serve")

DESCRIPTION = """\
Calibrated lead scores, the SLA decision and the reasons, per lead or per batch.

Every `/v1` route needs the header `X-API-Key`; keys carry roles (scorer: scoring, lead reads,
model and agreement; admin: also `/v1/admin/*`); a key of the wrong role gets 403. Lead data is
never written to the logs.

Bodies are standard JSON (`Content-Type: application/json`, else 415; `NaN` and `Infinity` are
invalid JSON), typed exactly as the schemas below say, with no coercion: times only as ISO 8601
strings, integers and booleans only as JSON integers and booleans. Impossible feature values (a
negative count, a fraction above 1) are 422 naming the field; possible values outside the range
seen in training are scored and listed in `out_of_range`.
"""


@asynccontextmanager
async def lifespan(app: FastAPI, state: ServiceState) -> AsyncIterator[None]:
    """Load the model before serving; a failed load keeps the app up but not ready (503)."""
    state.reload_lock = asyncio.Lock()
    if not app.state.api_keys:
        log.warning("no API key configured (LEADSCORE_API_KEYS[_FILE]): every /v1 call gets 401")
    await load_initial(state)
    routes_events.start_ingest(app, state)  # only with an ingest key configured
    routes_crm.start_catch_up(app, state)  # BottleCRM write-backs left unfinished before
    try:
        yield
    finally:
        routes_events.stop_ingest(app)


def create_app(settings: Settings | None = None, *, load_model: bool = True) -> FastAPI:
    """Build the service. `load_model=False` leaves it unready (for tests of /readyz)."""
    settings = settings or Settings()
    state = ServiceState(settings=settings)
    if not load_model:
        state.not_ready_reason = "model loading disabled"

    @asynccontextmanager
    async def no_load(app: FastAPI) -> AsyncIterator[None]:
        state.reload_lock = asyncio.Lock()
        yield

    app = FastLaneAPI(  # FastAPI, with the scoring routes' fast lane (serve/fast_lane.py)
        title="leadscore",
        version="1",
        description=DESCRIPTION,
        lifespan=partial(lifespan, state=state) if load_model else no_load,
        docs_url=None,  # self-hosted by dashboard/routes_docs.py (no CDN, no inline script)
        redoc_url=None,
    )
    app.state.service = state
    app.state.api_keys = parse_api_keys(settings.api_key_list())  # key -> role
    # Shared by the API key guard and the sign-in form (serve/auth_throttle.py).
    app.state.auth_throttle = FailureThrottle(
        settings.auth_failures_per_window, settings.auth_failure_window_s
    )
    install_error_handlers(app)
    install_store_outage_handlers(app)  # 503 without host or port, dashboard included
    mount_lean(app, routes_score.router, "/v1")  # the hot paths: matched first, run lean
    app.include_router(routes_health.router)
    app.include_router(routes_info.router, prefix="/v1")
    app.state.store_access = routes_leads.StoreAccess(settings.db_url)  # opened on first read
    app.include_router(routes_actions.router, prefix="/v1")  # before /leads/{id}: the sales desk
    app.include_router(routes_leads.router, prefix="/v1")
    app.include_router(routes_summary.router, prefix="/v1")
    if settings.crm_config is not None:  # a bad crm.yaml or a missing secret stops the start
        app.state.crm_inbound = routes_crm.load_inbound(settings.crm_config)
    app.include_router(routes_crm.router)  # outside /v1: CRMs sign, they send no API key
    app.include_router(routes_events.router, prefix="/v1")
    app.include_router(routes_metrics.router)  # /metrics, where Prometheus looks by default
    install_openapi(app, (ScoreRequest, BatchRequest, ColumnBatchRequest))
    install_dashboard(app, settings)  # pages, /signin, /docs, /static (dashboard/)
    app.add_middleware(
        BodySizeLimit, limit=settings.max_body_bytes, timeout_s=settings.body_timeout_s
    )
    app.add_middleware(JsonBodiesOnly)  # 415: a /v1 body that is not JSON
    app.add_middleware(  # before any body is read
        ApiKeyGuard, keys=app.state.api_keys, throttle=app.state.auth_throttle
    )
    app.add_middleware(CatchAll)
    app.add_middleware(SecurityHeaders)  # outermost: on every answer, a 500 included
    return app
