"""The dashboard pages and the CSV download of every table on them.

Each page is built by its page_* module into panels (chart spec + formatted table); the HTML
page and `/dashboard/<page>/<panel>.csv` use the same build, so a download is exactly the table
shown. Pages need a viewer or admin session (else 303 to /signin).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import Response

from dashboard import page_desk, page_loop, page_model, page_sla, page_today
from dashboard.panels import Page
from dashboard.session import Session
from dashboard.sources import Sources
from dashboard.web import dashboard_state, render, require_session

router = APIRouter(prefix="/dashboard", include_in_schema=False)
TEMPLATES = {
    "today": "today.html",
    "loop": "page.html",
    "model": "model.html",
    "sla": "sla.html",
    "desk": "page.html",  # the sales desk (page_desk.py, routes_desk.py)
}


def sources_of(request: Request) -> Sources:
    state = dashboard_state(request)
    if "sources" not in state.extra:
        state.extra["sources"] = Sources(state.settings, state.cache)
    return state.extra["sources"]


def _builders(run_date: date | None) -> dict[str, Callable[[Sources], Page]]:
    return {
        "today": lambda s: page_today.build(s, run_date),
        "loop": lambda s: page_desk.with_closed(page_loop.build(s), s),
        "desk": page_desk.build,
        "model": page_model.build,
        "sla": page_sla.build,
    }


def build_page(request: Request, key: str, run_date: date | None = None) -> Page:
    """The page, with the day's summary (daily/summary.py) in its facts: every page shows the
    same figures from the same source, the strip at its top (macros.html `summary_strip`)."""
    sources = sources_of(request)
    cache = dashboard_state(request).cache

    def build() -> Page:
        page = _builders(run_date)[key](sources)
        page.facts.setdefault("summary", sources.summary(run_date))
        return page

    return cache.get(("page", key, str(run_date)), build)


def show(request: Request, key: str, session: Session, run_date: date | None = None) -> Response:
    page = build_page(request, key, run_date)
    # The CSV buttons download the tables of the date shown, not today's.
    csv_query = f"?date={run_date.isoformat()}" if run_date is not None else ""
    context = {"page": page, "active": key, "session": session, "csv_query": csv_query}
    return render(request, TEMPLATES[key], context)


@router.get("")
def today(
    request: Request, date: date | None = None, session: Session = Depends(require_session)
) -> Response:
    return show(request, "today", session, date)


@router.get("/loop")
def loop(request: Request, session: Session = Depends(require_session)) -> Response:
    return show(request, "loop", session)


@router.get("/model")
def model(request: Request, session: Session = Depends(require_session)) -> Response:
    return show(request, "model", session)


@router.get("/sla")
def agreement(request: Request, session: Session = Depends(require_session)) -> Response:
    return show(request, "sla", session)


@router.get("/{key}/{name}.csv")
def table_csv(
    request: Request,
    key: str,
    name: str,
    date: date | None = None,
    session: Session = Depends(require_session),
) -> Response:
    if key not in TEMPLATES:
        raise HTTPException(404, f"no dashboard page '{key}'")
    panel = build_page(request, key, date).panel(name)
    if panel is None:
        raise HTTPException(404, f"no table '{name}' on the {key} page")
    suffix = f"-{date}" if date else ""
    return Response(
        panel.table.csv(),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="leadscore-{key}-{name}{suffix}.csv"',
            "Cache-Control": "no-store",
        },
    )
