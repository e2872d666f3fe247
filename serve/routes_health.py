"""GET /healthz (the process answers) and GET /readyz (a model is loaded): no key needed, so
a load balancer or Kubernetes probe can call them."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from serve.errors import json_response
from serve.schemas import HealthResponse, ReadyResponse
from serve.state import ServiceState

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=HealthResponse)
async def healthz() -> Response:
    """Alive: the process answers HTTP (says nothing about the model)."""
    return json_response({"status": "ok"})


@router.get(
    "/readyz",
    response_model=ReadyResponse,
    responses={503: {"model": ReadyResponse, "description": "No model loaded (reason given)."}},
)
async def readyz(request: Request) -> Response:
    """Ready: a model is loaded and scoring. 503 with the reason until then."""
    state: ServiceState = request.app.state.service
    serving = state.serving
    if serving is None:
        return json_response({"ready": False, "reason": state.not_ready_reason}, 503)
    return json_response({"ready": True, "model": serving.scorer.model_ref})
