"""Sign-in and sign-out for browsers: a form that takes an API key, then a session cookie.

A viewer or admin key opens the dashboard; a scorer key is refused with a sentence saying why
(it is meant for machines). Every form carries a CSRF token: the sign-in form a double-submit
token (signed cookie + hidden field, no session exists yet), the sign-out form the session's own.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from dashboard.session import (
    DASHBOARD_ROLES,
    SESSION_COOKIE,
    SIGNIN_CSRF_COOKIE,
    SIGNIN_FORM_MAX_AGE_S,
    csrf_ok,
)
from dashboard.web import dashboard_state, render, session_of
from serve.security import role_for_key

router = APIRouter(include_in_schema=False)
HOME = "/dashboard"


def safe_next(target: str | None) -> str:
    """Only a path on this site under /dashboard: never an open redirect to another host."""
    if not target:
        return HOME
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith(HOME) or "\\" in target:
        return HOME
    return target


def signin_page(request: Request, error: str = "", status: int = 200, next_: str = "") -> Response:
    state = dashboard_state(request)
    cookie, token = state.signer.signin_token()
    response = render(
        request,
        "signin.html",
        {"csrf": token, "error": error, "next": safe_next(next_), "session": None},
        status_code=status,
    )
    response.set_cookie(
        SIGNIN_CSRF_COOKIE,
        cookie,
        max_age=SIGNIN_FORM_MAX_AGE_S,
        httponly=True,
        samesite="strict",
        secure=state.cookie_secure,
        path="/signin",
    )
    return response


@router.get("/signin")
def signin_form(request: Request, next: str = "") -> Response:
    if session_of(request) is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return signin_page(request, next_=next)


@router.post("/signin")
def signin(
    request: Request,
    api_key: Annotated[str, Form(max_length=512)] = "",
    csrf: Annotated[str, Form(max_length=256)] = "",
    next: Annotated[str, Form(max_length=2048)] = "",
) -> Response:
    state = dashboard_state(request)
    if not state.signer.signin_token_ok(request.cookies.get(SIGNIN_CSRF_COOKIE), csrf):
        return signin_page(
            request, "The form expired or did not come from this page: please try again.", 400, next
        )
    key = api_key.strip().encode()
    throttle = request.app.state.auth_throttle
    subjects = throttle.subjects(request.client.host if request.client else None, key)
    wait = throttle.retry_after_s(subjects)  # before the key: a guess over the limit is not tried
    if wait is not None:
        page = signin_page(request, f"Too many failed sign-ins: try again in {wait} s.", 429, next)
        page.headers["Retry-After"] = str(wait)
        return page
    role = role_for_key(key, state.keys) if key else None
    if role is None:
        throttle.record_failure(subjects)
        return signin_page(request, "That key is not valid here.", 401, next)
    if role not in DASHBOARD_ROLES:
        return signin_page(
            request,
            f"This is a {role} key: it scores leads through the API but cannot open the "
            "dashboard. Ask for a viewer (or admin) key.",
            403,
            next,
        )
    value, _ = state.signer.issue(key, role)
    response = RedirectResponse(safe_next(next), status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        value,
        max_age=state.signer.max_age_s,
        httponly=True,
        samesite="strict",
        secure=state.cookie_secure,
        path="/",
    )
    response.delete_cookie(SIGNIN_CSRF_COOKIE, path="/signin")
    return response


@router.post("/signout")
def signout(request: Request, csrf: Annotated[str, Form(max_length=256)] = "") -> Response:
    session = session_of(request)
    if session is not None and not csrf_ok(session, csrf):
        return Response("CSRF token missing or wrong: sign out from the page's button.", 400)
    if session is not None:
        dashboard_state(request).signer.revoke(session)
    response = RedirectResponse("/signin", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
