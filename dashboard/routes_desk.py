"""`/dashboard/desk`: the Sales desk page (dashboard/page_desk.py) for any dashboard
session. Built at each request, not through the pages' cache: a rep who marks a lead contacted
sees it leave the overdue list at the next reload. Its tables download as CSV through the
pages' own `/dashboard/desk/<table>.csv`."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from dashboard import page_desk
from dashboard.routes_pages import sources_of
from dashboard.session import Session
from dashboard.web import render, require_session

router = APIRouter(prefix="/dashboard", include_in_schema=False)


@router.get("/desk")
def desk(request: Request, session: Session = Depends(require_session)) -> Response:
    sources = sources_of(request)
    page = page_desk.build(sources)
    page.facts.setdefault("summary", sources.summary(None))
    context = {"page": page, "active": "desk", "session": session, "csv_query": ""}
    return render(request, "page.html", context)
