"""POST /v1/score and /v1/score/batch: the hot paths.

Bodies are read as bytes and parsed in one pass (pydantic-core for one lead, orjson for a batch)
instead of FastAPI's generic body handling; the OpenAPI document still describes them
(serve/openapi.py). One lead is scored on the event loop (about 0.1 ms: a thread hop would cost
more), its reasons too when the compiled TreeSHAP is built (models/linear_treeshap.py, about
0.1 ms more); without it, reasons (LightGBM's SHAP, ~0.9 ms, GIL released) go to a thread. A
columnar batch without reasons is read by `serve.column_json` and scored on the loop too (a few
ms, like its decoding); other batches go to a thread, so 1000 leads with reasons cannot stall
/healthz.
"""

from __future__ import annotations

from datetime import UTC, datetime

from anyio import to_thread
from fastapi import APIRouter, Request
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from serve.batch import (
    _prefixed,
    cheap_enough_inline,
    check_events,
    score_batch,
    standard_json,
)
from serve.column_json import read_columnar
from serve.errors import InputError, clean_errors, json_response
from serve.lean_route import LeanRoute
from serve.list_limits import ListLimits, check_batch_lists, check_lead_lists
from serve.openapi import request_body
from serve.schemas import (
    EXAMPLE_EVENTS,
    EXAMPLE_FEATURES,
    EXAMPLE_LEAD,
    BatchRequest,
    BatchResponse,
    ColumnBatchRequest,
    ColumnBatchResponse,
    MessageResponse,
    ScoreRequest,
    ScoreResponse,
    ValidationErrorResponse,
)
from serve.state import ServiceState

router = APIRouter(tags=["scoring"], route_class=LeanRoute)  # mounted by serve.lean_route

ERRORS = {
    401: {"model": MessageResponse, "description": "Missing or invalid API key."},
    403: {"model": MessageResponse, "description": "The key's role may not use this route."},
    408: {"model": MessageResponse, "description": "The body took too long to arrive."},
    413: {"model": MessageResponse, "description": "Body or batch over the limit."},
    415: {"model": MessageResponse, "description": "The body is not JSON (Content-Type)."},
    422: {
        "model": ValidationErrorResponse,
        "description": "Invalid input (not standard JSON, a wrong type, an impossible value); "
        "`loc` names the field.",
    },
    429: {
        "model": MessageResponse,
        "description": "Too many failed authentications from this client or with this key; "
        "wait Retry-After seconds.",
    },
    503: {"model": MessageResponse, "description": "No model loaded yet."},
}


def parse_score_request(body: bytes, limits: ListLimits | None = None) -> ScoreRequest:
    """The body as a ScoreRequest, parsed once: orjson refuses NaN and Infinity exactly as on the
    batch route, and the model validates the decoded value, which costs half of validating the
    bytes again. The strict fields accept the same values either way (a test pins it); a body
    that fails is validated from its JSON once more, so errors read as the JSON contract says."""
    data = standard_json(body)
    if limits is not None:
        check_lead_lists(data, limits)  # before validation reads every item
    try:
        return ScoreRequest.model_validate(data)
    except ValidationError:
        pass
    try:
        return ScoreRequest.model_validate_json(body)
    except ValidationError as exc:
        raise InputError(clean_errors(exc.errors(include_input=False), ("body",))) from None


@router.post(
    "/score",
    summary="Score one lead",
    response_model=ScoreResponse,
    responses=ERRORS,
    openapi_extra=request_body(
        ScoreRequest,
        examples={
            "lead_with_events": {"lead": EXAMPLE_LEAD, "events": EXAMPLE_EVENTS},
            "feature_row": {"lead_id": "L-000124", "features": EXAMPLE_FEATURES, "explain": False},
        },
    ),
)
async def score(request: Request) -> Response:
    """One lead, as its profile plus recent events (features computed here, as of `as_of` or
    now) or as a ready feature row. Returns the calibrated probability, the 0-100 score, tier,
    grades, the SLA decision and its rule, the follow-up deadline for an MQL, the expected value
    and (with `explain`, the default) the top reasons for and against."""
    state: ServiceState = request.app.state.service
    body = await request.body()
    item = parse_score_request(body, ListLimits.of(state.settings))
    serving = state.current()
    try:
        check_events(item, state.settings.max_events_per_lead)
        if item.explain and not serving.scorer.reasons_are_cheap:
            # Without the compiled TreeSHAP, reasons cost ~0.7-0.9 ms of SHAP in LightGBM, which
            # releases the GIL: in a thread they use the other core and do not hold up the event
            # loop; at most one such thread per core, since more only compete
            # (settings.reasons_threads). With it (~0.1 ms more) a thread hop costs more.
            result = await to_thread.run_sync(
                serving.scorer.score_one,
                item,
                True,
                datetime.now(UTC),
                limiter=state.reasons_threads(),
            )
        else:
            result = serving.scorer.score_one(item, item.explain, datetime.now(UTC))
    except InputError as exc:
        raise InputError(_prefixed(exc.items, ("body",))) from None
    result["model"] = serving.scorer.model_ref
    return json_response(result)


@router.post(
    "/score/batch",
    summary="Score a batch of leads",
    response_model=BatchResponse | ColumnBatchResponse,
    responses=ERRORS,
    openapi_extra=request_body(BatchRequest, ColumnBatchRequest),
)
async def score_batch_route(request: Request) -> Response:
    """Up to the configured number of leads (default 1000), in row form (`leads`, each like the
    single-lead body) or columnar form (`columns`: feature -> values, the fastest). A bad lead
    gets its own entry with the field paths; the others are scored. The row form answers one
    item per lead; the columnar form answers column-wise (`columns`, `errors`). Reasons only
    with `explain`, since they cost far more than the score."""
    state: ServiceState = request.app.state.service
    body = await request.body()
    serving = state.current()
    settings = state.settings
    data = read_columnar(body, serving.scorer.numeric_names)
    if data is None:
        data = standard_json(body)
        check_batch_lists(data, ListLimits.of(settings))
    args = (
        serving.scorer,
        data,
        settings.max_batch,
        settings.max_events_per_lead,
        datetime.now(UTC),
        body,
    )
    if cheap_enough_inline(data, settings.inline_batch_max):
        return json_response(score_batch(*args))
    return json_response(await run_in_threadpool(score_batch, *args))
