"""The scoring routes without the framework's own per-request layers.

FastAPI (0.165) runs every request through Starlette's server-error middleware, its telemetry
and app-body-limit middlewares, the exception middleware, an exit-stack middleware and the router
before a route runs. The lean scoring routes (serve/lean_route.py) need none of them: they read
their own bodies, our `CatchAll` already answers any unexpected error, and they are matched by
their exact path. Measured in process under uvloop, one feature row: 133 µs a request through
the whole app, 107 µs through only our middlewares and the exception handlers.

`FastLaneAPI` is the FastAPI app with one change: a POST to a lean route's path goes through the
same user middleware (built from `user_middleware`, so the order and settings cannot drift) and
Starlette's exception middleware with the app's own handlers, straight to the route. Everything
else (other routes, other methods, the lifespan, a `root_path` deployment) takes the app's full
stack as before.
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from serve.lean_route import LeanRoute


class FastLaneAPI(FastAPI):
    """FastAPI whose lean POST routes skip the framework's per-request layers."""

    _fast_lane: ASGIApp | None = None
    _fast_routes: dict[str, ASGIApp] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] == "POST"
            and not (self.root_path or scope.get("root_path"))
        ):
            routes = self._fast_routes if self._fast_routes is not None else self._build_lane()
            if scope["path"] in routes:
                scope["app"] = self
                assert self._fast_lane is not None
                await self._fast_lane(scope, receive, send)
                return
        await super().__call__(scope, receive, send)

    def _build_lane(self) -> dict[str, ASGIApp]:
        if self.middleware_stack is None:  # the app counts as started: no middleware after this
            self.middleware_stack = self.build_middleware_stack()
        routes: dict[str, ASGIApp] = {
            route.path: route.app
            for route in self.router.routes
            if isinstance(route, LeanRoute) and "POST" in route.methods and "{" not in route.path
        }

        async def dispatch(scope: Scope, receive: Receive, send: Send) -> None:
            await routes[scope["path"]](scope, receive, send)

        handlers = {k: v for k, v in self.exception_handlers.items() if k not in (500, Exception)}
        lane: ASGIApp = ExceptionMiddleware(dispatch, handlers=handlers, debug=self.debug)
        for cls, args, kwargs in reversed(self.user_middleware):
            lane = cls(lane, *args, **kwargs)
        self._fast_lane = lane
        self._fast_routes = routes
        return routes
