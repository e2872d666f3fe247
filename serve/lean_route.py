"""Routes documented by FastAPI, dispatched without its per-request machinery: the hot paths.

The scoring routes read their body as bytes and validate it themselves (serve/routes_score.py),
so FastAPI's per-request work for them buys nothing: solving the `request: Request` dependency,
two AsyncExitStacks, a per-route exception wrapper, and (for an included router) a second round
of route matching. Measured in-process on one request (`benchmarks/serve_bench.py` explains the
setting), that work cost more than a bare route's whole handling.

`LeanRoute` keeps everything FastAPI derives from a route's declaration (path, methods, summary,
responses, `openapi_extra`: the OpenAPI document is unchanged) and replaces only how a matched
request is run: a `Request`, the endpoint, its `Response`. Exceptions go up to the app's
exception middleware, where the same handlers (serve/errors.py) answer them as on any route.
`mount_lean` puts a router's routes on the app's own route list under a prefix, so a request
is matched once. `serve/fast_lane.py` goes one step further for their POSTs: they skip the
framework's own middleware and router too.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute, APIRouter
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

Endpoint = Callable[[Request], Awaitable[Response]]


def lean_app(endpoint: Endpoint) -> ASGIApp:
    """The ASGI app of one endpoint taking the request and returning the response."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        response = await endpoint(Request(scope, receive, send))
        await response(scope, receive, send)

    return app


class LeanRoute(APIRoute):
    """An APIRoute (same document) whose endpoint takes the `Request` and returns a `Response`."""

    def __init__(self, path: str, endpoint: Endpoint, **kwargs: Any) -> None:
        super().__init__(path, endpoint, **kwargs)
        self.app = lean_app(endpoint)


def mount_lean(app: FastAPI, router: APIRouter, prefix: str) -> None:
    """Add `router`'s routes (built with `route_class=LeanRoute`) to the app under `prefix`."""
    for route in router.routes:
        if not isinstance(route, LeanRoute):
            raise TypeError(f"{route!r}: mount_lean takes routes built with LeanRoute")
        app.router.add_api_route(
            prefix + route.path,
            route.endpoint,
            route_class_override=LeanRoute,
            methods=route.methods,
            summary=route.summary,
            description=route.description,
            response_model=route.response_model,
            responses=route.responses,
            tags=route.tags,
            openapi_extra=route.openapi_extra,
            name=route.name,
        )
