"""GET /v1/model, GET /v1/sla, POST /v1/admin/reload: what is served, under which agreement."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from serve.errors import json_response
from serve.routes_score import ERRORS
from serve.schemas import MessageResponse, ModelInfo, ReloadResponse, SlaInfo
from serve.state import ServiceState, Serving, reload

router = APIRouter()
# No body to validate here: a wrong key or role, an oversize or non-JSON body, no model yet.
INFO_ERRORS = {code: ERRORS[code] for code in (401, 403, 413, 415, 429, 503)}
RELOAD_ERRORS = {
    **INFO_ERRORS,
    403: {"model": MessageResponse, "description": "Not an admin key."},
    409: {
        "model": ReloadResponse,
        "description": "The new model was refused (failed to load or to score a probe lead); "
        "the previous one keeps serving. `reason` says why.",
    },
    503: {"model": MessageResponse, "description": "Nothing loaded before, and nothing now."},
}


def model_info(serving: Serving) -> dict:
    loaded, scorer = serving.scorer.loaded, serving.scorer
    return {
        "name": loaded.name,
        "version": scorer.model_ref["version"],
        "alias": loaded.alias,
        "run_id": loaded.run_id,
        "trained_at": loaded.trained_at,
        "uri": loaded.uri,
        "loaded_at": serving.loaded_at,
        "metrics": {k: float(v) for k, v in (loaded.metrics or {}).items()},
        "features": list(scorer.feature_names),
        "categorical": sorted(scorer.categorical),
    }


@router.get("/model", tags=["model"], response_model=ModelInfo, responses=INFO_ERRORS)
async def get_model(request: Request) -> Response:
    """The model being served: name, version, alias, run id, when trained, test metrics and the
    feature names a feature row may carry."""
    state: ServiceState = request.app.state.service
    return json_response(model_info(state.current()))


@router.get("/sla", tags=["sla"], response_model=SlaInfo, responses=INFO_ERRORS)
async def get_sla(request: Request) -> Response:
    """The agreement in force (sla.yaml, validated) and the MQL threshold applied now."""
    state: ServiceState = request.app.state.service
    context = state.current().scorer.context
    agreement = context.agreement
    return json_response(
        {
            "agreement": agreement.model_dump(mode="json") if agreement is not None else {},
            "threshold": context.threshold,
            "threshold_source": context.threshold_source,
            "follow_up_hours": agreement.follow_up_hours if agreement is not None else None,
            "notes": list(context.notes),
        }
    )


@router.post(
    "/admin/reload", tags=["admin"], response_model=ReloadResponse, responses=RELOAD_ERRORS
)
async def post_reload(request: Request) -> Response:
    """Load the model URI again (e.g. after the `champion` alias moved) and swap atomically.
    Admin keys only. If the new model fails to load or to score a probe lead, the old one keeps
    serving and the answer is 409 with the reason (`reloaded: false`), so `curl -f` in a deploy
    script fails; 503 when no model was loaded before either."""
    state: ServiceState = request.app.state.service
    reloaded, now, previous, reason = await reload(state)
    if now is None:  # nothing loaded before, and nothing now
        return json_response({"detail": f"not ready: {reason}"}, 503, {"Retry-After": "5"})
    return json_response(
        {
            "reloaded": reloaded,
            "model": now.scorer.model_ref,
            "previous": previous.scorer.model_ref if previous is not None else None,
            "reason": reason,
        },
        200 if reloaded else 409,
    )
