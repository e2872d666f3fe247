"""Shared plumbing of the dashboard: its state on the app, templates, the session guard.

`install_dashboard(app, settings)` is the one call serve/app.py makes: it builds the session
signer from the configured keys, includes the page, auth and docs routers, and mounts the static
files (CSS, the dashboard's own JS and the vendored Vega / Swagger UI builds).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from dashboard.cache import TTLCache
from dashboard.session import DASHBOARD_ROLES, SESSION_COOKIE, Session, SessionSigner
from serve.security import Role, parse_api_keys
from serve.settings import Settings

PACKAGE = files("dashboard")
STATIC_URL = "/static"
NAV = (
    ("today", "/dashboard", "Today"),
    ("loop", "/dashboard/loop", "Closed loop"),
    ("model", "/dashboard/model", "Model"),
    ("sla", "/dashboard/sla", "Agreement"),
    ("recap", "/dashboard/recap", "Recap"),
    ("desk", "/dashboard/desk", "Sales desk"),
)


class SignInRequired(Exception):
    """Raised by the session guard; answered with 303 to /signin (and back after signing in)."""

    def __init__(self, next_path: str) -> None:
        self.next_path = next_path


@dataclass
class DashboardState:
    settings: Settings
    keys: dict[bytes, Role]
    signer: SessionSigner
    templates: Jinja2Templates
    cookie_secure: bool
    cache: TTLCache
    extra: dict[str, Any] = field(default_factory=dict)


def build_state(settings: Settings) -> DashboardState:
    keys = parse_api_keys(settings.api_key_list())
    secret = settings.session_secret.get_secret_value().encode() or secrets.token_bytes(32)
    templates = Jinja2Templates(directory=str(Path(str(PACKAGE / "templates"))))
    templates.env.globals["nav"] = NAV
    templates.env.globals["static"] = STATIC_URL
    return DashboardState(
        settings=settings,
        keys=keys,
        signer=SessionSigner(secret, settings.session_max_age_s, keys),
        templates=templates,
        cookie_secure=settings.session_cookie_secure,
        cache=TTLCache(settings.dashboard_cache_s),
    )


def dashboard_state(request: Request) -> DashboardState:
    return request.app.state.dashboard


def session_of(request: Request) -> Session | None:
    return dashboard_state(request).signer.read(request.cookies.get(SESSION_COOKIE))


def require_session(request: Request) -> Session:
    """The page guard: a valid viewer/admin session, else a redirect to the sign-in form."""
    session = session_of(request)
    if session is None or session.role not in DASHBOARD_ROLES:
        query = f"?{request.url.query}" if request.url.query else ""
        raise SignInRequired(request.url.path + query)
    return session


def render(
    request: Request, template: str, context: dict[str, Any], status_code: int = 200
) -> Response:
    response = dashboard_state(request).templates.TemplateResponse(
        request, template, context, status_code=status_code
    )
    # Pages carry lead data: never kept by a shared proxy or the browser's back-forward cache.
    response.headers["Cache-Control"] = "no-store"
    return response


def install_dashboard(app: FastAPI, settings: Settings) -> None:
    """Dashboard pages, sign-in, self-hosted /docs and static files, on `app`."""
    from dashboard import (
        routes_auth,
        routes_desk,
        routes_docs,
        routes_lead,
        routes_pages,
        routes_recap,
    )

    app.state.dashboard = build_state(settings)

    async def to_signin(request: Request, exc: Exception) -> Response:
        from urllib.parse import quote

        assert isinstance(exc, SignInRequired)
        return RedirectResponse(f"/signin?next={quote(exc.next_path, safe='/')}", status_code=303)

    app.add_exception_handler(SignInRequired, to_signin)
    app.include_router(routes_auth.router)
    app.include_router(routes_recap.router)  # before the pages' /{key}/{name}.csv
    app.include_router(routes_lead.router)  # /dashboard/leads/{id}: the lead page, its actions
    app.include_router(routes_desk.router)  # /dashboard/desk: overdue list, reps, closed
    app.include_router(routes_pages.router)
    app.include_router(routes_docs.router)
    app.mount(
        STATIC_URL,
        StaticFiles(directory=str(Path(str(PACKAGE / "static")))),
        name="static",
    )
