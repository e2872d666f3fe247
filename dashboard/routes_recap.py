"""The day's recap on the dashboard (`/dashboard/recap?date=`): the very message the daily run
e-mails (daily/recap_message.py), so a manager can open, check or forward it from the browser."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from dashboard.routes_pages import sources_of
from dashboard.session import Session
from dashboard.sources import Missing
from dashboard.web import render, require_session

router = APIRouter(prefix="/dashboard", include_in_schema=False)


@router.get("/recap")
def recap(
    request: Request, date: date | None = None, session: Session = Depends(require_session)
) -> Response:
    from daily.recap_message import recap_message

    summary = sources_of(request).summary(date)
    message = None if isinstance(summary, Missing) else recap_message(summary)
    context = {
        "message": message,
        "problem": str(summary) if isinstance(summary, Missing) else None,
        "active": "recap",
        "session": session,
    }
    return render(request, "recap.html", context, status_code=200 if message else 404)
