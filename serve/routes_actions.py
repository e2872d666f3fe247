"""POST /v1/leads/{lead_id}/actions (a sales key): a rep marks a handed-over lead contacted,
snoozes it or closes it; GET /v1/worklist (a viewer or sales key): the desk's board at an
instant, with the overdue list and the follow-up compliance (sales/worklist.py).

Every action is stored with who (`rep`, a rep of sla.yaml sales_desk) and when (the moment the
store received it). Handlers are plain `def` (FastAPI's thread pool): the store may be slow.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path as FilePath
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from starlette.responses import Response

from foundation.text_limits import LEAD_ID_MAX
from sales.actions import ActionRequest
from serve.errors import error_item, json_response
from serve.routes_leads import READ_ERRORS, store_access

router = APIRouter()
SOURCE_API = "api"


def desk_of(request: Request) -> Any:
    """The sales desk of the agreement the service runs under (sla.yaml sales_desk)."""
    from sla.agreement import load_agreement

    return load_agreement(FilePath(request.app.state.service.settings.sla_path)).sales_desk


def _plain(value: Any) -> Any:
    if value is None:
        return None
    if hasattr(value, "isoformat"):
        return None if value != value else value.isoformat()
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        value = value.item()
    if isinstance(value, float) and value != value:
        return None
    return value


def _rows(frame: Any) -> list[dict[str, Any]]:
    return [{k: _plain(v) for k, v in r.items()} for r in frame.to_dict("records")]


def action_body(action: Any) -> dict[str, Any]:
    from dataclasses import asdict

    return {k: _plain(v) for k, v in asdict(action).items()}


@router.post(
    "/leads/{lead_id}/actions",
    tags=["sales"],
    status_code=201,
    responses={**READ_ERRORS, 404: {"description": "The lead was never handed over."}},
)
def post_action(
    request: Request,
    lead_id: Annotated[str, Path(min_length=1, max_length=LEAD_ID_MAX)],
    body: ActionRequest,
) -> Response:
    """Record what a rep did: `contacted` (with `channel`), `snoozed` (with `until`, a later
    day) or `closed` (with `reason`: not_a_fit, no_budget, duplicate, recycled_to_nurture)."""
    from sales.actions import ActionRefused
    from sales.service import NotHandedOver, act

    try:
        stored = act(
            store_access(request).get(),
            desk_of(request),
            lead_id,
            body,
            datetime.now(UTC),
            SOURCE_API,
        )
    except ActionRefused as exc:
        item = error_item(["body", exc.field], str(exc), "value_error")
        return json_response({"detail": [item]}, 422)
    except NotHandedOver as exc:
        return json_response({"detail": str(exc)}, 404)
    return json_response(action_body(stored), 201)


@router.get("/worklist", tags=["sales"], responses=READ_ERRORS)
def get_worklist(
    request: Request,
    at: Annotated[
        datetime | None, Query(description="The instant (ISO 8601); default now.")
    ] = None,
    owner: Annotated[str | None, Query(max_length=200, description="One rep's leads.")] = None,
) -> Response:
    """Every handed-over lead's state at `at` (owner, attempts, next attempt due), the overdue
    list (oldest first) and the follow-up compliance."""
    from sales.service import desk_board
    from sales.worklist import compliance, overdue_list

    when = datetime.now(UTC) if at is None else (at if at.tzinfo else at.replace(tzinfo=UTC))
    board = desk_board(store_access(request).get(), desk_of(request), when)
    if owner is not None:
        board = board[board["owner"] == owner]
    body = {
        "at": when.isoformat(),
        "compliance": compliance(board),
        "overdue": _rows(overdue_list(board)),
        "leads": _rows(board),
    }
    return json_response(body)
