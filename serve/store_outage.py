"""The store of record is down: 503 everywhere, with no infrastructure detail.

During a PostgreSQL outage the dashboard answered 500 and `/v1` answered 503 quoting the
driver's first line (`connection to server at "10.0.0.5", port 5432 failed ...`): the database
host and port, to anyone holding a viewer key. Now every route answers 503 with the same plain
sentence and a Retry-After; the driver's line goes to the service log, where operators look.
"""

from __future__ import annotations

import html
import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from serve.errors import json_response

log = logging.getLogger("leadscore.serve")

PUBLIC_DETAIL = "the store of record is unavailable right now; try again shortly"
RETRY_AFTER_S = "30"


class StoreUnavailable(Exception):
    """The store cannot be opened or read. `str()` is what a client may see (no host, port or
    driver text); `detail` is for the log."""

    def __init__(self, public: str = PUBLIC_DETAIL, detail: str | None = None) -> None:
        super().__init__(public)
        self.detail = detail or public


def first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def outage_response(request: Request, exc: Exception) -> Response:
    """503 for a store failure on any route: JSON for the API, a short page for the dashboard."""
    detail = exc.detail if isinstance(exc, StoreUnavailable) else first_line(exc)
    log.error("store unavailable on %s %s: %s", request.method, request.url.path, detail)
    public = str(exc) if isinstance(exc, StoreUnavailable) else PUBLIC_DETAIL
    headers = {"Retry-After": RETRY_AFTER_S, "Cache-Control": "no-store"}
    if request.url.path.startswith("/dashboard"):
        page = f"<!DOCTYPE html><title>leadscore</title><p>{html.escape(public)}</p>"
        return HTMLResponse(page, 503, headers)
    return json_response({"detail": public}, 503, headers)


async def store_outage_handler(request: Request, exc: Exception) -> Response:
    return outage_response(request, exc)


def install_store_outage_handlers(app: Any) -> None:
    """Any SQLAlchemy error that reaches the app, and StoreUnavailable, become the 503 above."""
    from sqlalchemy.exc import SQLAlchemyError

    app.add_exception_handler(SQLAlchemyError, store_outage_handler)
    app.add_exception_handler(StoreUnavailable, store_outage_handler)
