"""The lead page: `GET /dashboard/leads/{id}` for any dashboard session (viewer, sales, admin),
and its action forms `POST /dashboard/leads/{id}` for a sales or admin session only (a viewer
gets 403, a scorer key never gets a dashboard session at all). Each form carries the session's
CSRF token; the action is stored as the API stores it (sales/service.py `act`), source
`dashboard`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from dashboard import page_lead
from dashboard.routes_pages import sources_of
from dashboard.session import Session, csrf_ok
from dashboard.web import render, require_session
from serve.security import Role

router = APIRouter(prefix="/dashboard", include_in_schema=False)
ACTING_ROLES = frozenset({Role.SALES, Role.ADMIN})
SOURCE_DASHBOARD = "dashboard"


def _show(
    request: Request,
    lead_id: str,
    session: Session,
    message: str | None = None,
    status_code: int = 200,
) -> Response:
    from sales.actions import CLOSE_REASONS, CONTACT_CHANNELS, REASON_WORDS

    lead = page_lead.build(sources_of(request), lead_id)
    context = {
        "lead": lead,
        "lead_id": lead_id,
        "active": "",
        "session": session,
        "can_act": session.role in ACTING_ROLES,
        "channels": CONTACT_CHANNELS,
        "reasons": [(r, REASON_WORDS[r]) for r in CLOSE_REASONS],
        "message": message,
        "done": request.query_params.get("done"),
    }
    if lead is None and status_code == 200:
        status_code = 404
    return render(request, "lead.html", context, status_code=status_code)


@router.get("/leads/{lead_id:path}")
def lead_page(
    request: Request, lead_id: str, session: Session = Depends(require_session)
) -> Response:
    return _show(request, lead_id, session)


@router.post("/leads/{lead_id:path}")
def lead_action(
    request: Request,
    lead_id: str,
    session: Session = Depends(require_session),
    csrf: Annotated[str, Form(max_length=256)] = "",
    kind: Annotated[str, Form(max_length=20)] = "",
    rep: Annotated[str, Form(max_length=200)] = "",
    channel: Annotated[str, Form(max_length=50)] = "",
    until: Annotated[str, Form(max_length=20)] = "",
    reason: Annotated[str, Form(max_length=50)] = "",
    note: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    from urllib.parse import quote

    from sales.actions import ActionRefused, ActionRequest
    from sales.service import NotHandedOver, act

    if session.role not in ACTING_ROLES:
        return _show(request, lead_id, session, f"A {session.role} cannot act on leads.", 403)
    if not csrf_ok(session, csrf):
        return _show(request, lead_id, session, "The form expired: reload the page.", 403)
    given = {"kind": kind, "rep": rep, "channel": channel, "until": until, "reason": reason}
    body = {k: v for k, v in given.items() if v} | ({"note": note} if note else {})
    try:
        request_ = ActionRequest.model_validate(body)
        act(
            sources_of(request).store(),
            sources_of(request).agreement().sales_desk,
            lead_id,
            request_,
            datetime.now(UTC),
            SOURCE_DASHBOARD,
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "form"
        return _show(request, lead_id, session, f"{where}: {first['msg']}", 422)
    except ActionRefused as exc:
        return _show(request, lead_id, session, f"{exc.field}: {exc}", 422)
    except NotHandedOver as exc:
        return _show(request, lead_id, session, str(exc), 404)
    return RedirectResponse(f"/dashboard/leads/{quote(lead_id, safe='')}?done={kind}", 303)
