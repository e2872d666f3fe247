"""Every failure the service can meet, turned into a JSON answer that names the problem.

Two promises live here: no request, however malformed, gets a 500 (the catch-all middleware is
the last net), and no error answer or log line repeats lead data: validation errors carry the
field path and the rule, never the input value.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from scoring.errors import InputError, error_item
from serve.body_deadline import BodyDeadlines

log = logging.getLogger("leadscore.serve")

JSON = "application/json"


def log_config(level: str) -> dict[str, Any]:
    """uvicorn's logging config plus the service's own logger (`leadscore.*`) on uvicorn's
    handler: without it the service's INFO lines (model loaded, a client that hung up) would
    go nowhere, since only uvicorn's loggers get a handler."""
    import copy

    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    name = "DEBUG" if level.lower() == "trace" else level.upper()
    config["loggers"]["leadscore"] = {"handlers": ["default"], "level": name, "propagate": False}
    return config


class BodyTooLarge(Exception):
    """The request body is over `max_body_bytes`: answered 413."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"request body is larger than {limit} bytes")
        self.limit = limit


class BodyTimeout(Exception):
    """The body did not arrive within `body_timeout_s`: answered 408 and the connection closed."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"the request body did not arrive within {seconds:g} s")


class TooManyLeads(Exception):
    """A batch has more leads than `max_batch`: answered 413."""

    def __init__(self, given: int, limit: int) -> None:
        super().__init__(f"batch has {given} leads, the limit is {limit}; split it")


class NotReady(Exception):
    """No model is loaded yet (or loading failed): answered 503 with the reason."""


def json_response(content: Any, status_code: int = 200, headers: dict | None = None) -> Response:
    """orjson-encoded response: several times faster than the stdlib encoder for our bodies."""
    return Response(
        orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY),
        status_code=status_code,
        media_type=JSON,
        headers=headers,
    )


# Names pydantic appends to an error path for each member of a union it tried (FeatureValue is
# `float | str | bool | None`): not part of the field's path, and one failure, not four.
UNION_MEMBERS = frozenset({"float", "str", "bool", "int", "none"})
UNION_MESSAGE = "Input should be a number, a string, a boolean or null"


def clean_errors(
    errors: Iterable[dict[str, Any]], prefix: Sequence[str | int] = ()
) -> list[dict[str, Any]]:
    """pydantic error dicts -> our items: path + message + type, without the `input` echo."""
    out: dict[tuple, dict[str, Any]] = {}
    for err in errors:
        loc = [*prefix, *err.get("loc", ())]
        # pydantic puts the union member or validator name into loc; keep only data keys.
        loc = [p for p in loc if isinstance(p, int) or not str(p).startswith("function-")]
        msg, type_ = str(err.get("msg", "invalid")), str(err.get("type", "invalid"))
        if loc and isinstance(loc[-1], str) and loc[-1] in UNION_MEMBERS and len(loc) > 1:
            loc, msg, type_ = loc[:-1], UNION_MESSAGE, "feature_value_type"
        item = error_item(loc, msg, type_)
        out.setdefault((tuple(item["loc"]), item["msg"]), item)
    return list(out.values())


async def _request_validation(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    return json_response({"detail": clean_errors(exc.errors())}, 422)


async def _input_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, InputError)
    return json_response({"detail": exc.items}, 422)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    return json_response({"detail": str(exc.detail)}, exc.status_code, exc.headers)


async def _too_large(request: Request, exc: Exception) -> Response:
    return json_response({"detail": str(exc)}, 413)


async def _body_timeout(request: Request, exc: Exception) -> Response:
    # The connection goes: what is left of a slow body is never read.
    return json_response({"detail": str(exc)}, 408, {"Connection": "close"})


async def _not_ready(request: Request, exc: Exception) -> Response:
    return json_response({"detail": f"not ready: {exc}"}, 503, {"Retry-After": "5"})


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _request_validation)
    app.add_exception_handler(InputError, _input_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(BodyTooLarge, _too_large)
    app.add_exception_handler(TooManyLeads, _too_large)
    app.add_exception_handler(BodyTimeout, _body_timeout)
    app.add_exception_handler(NotReady, _not_ready)


class CatchAll:
    """Last net: an unexpected exception becomes a plain 500 and a log line with its type only.

    Starlette's own server-error middleware would log the exception message, which can quote
    lead data (e.g. a value that failed to parse); this logs where and what kind, nothing else.
    A client that hung up before its body was read is not an error of ours: one INFO line, and
    no answer (nobody is there to read it).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except ClientDisconnect:
            log.info("client disconnected on %s %s", scope.get("method"), scope.get("path"))
        except Exception as exc:
            log.error(
                "unhandled %s on %s %s", type(exc).__name__, scope.get("method"), scope.get("path")
            )
            if not started:
                body = orjson.dumps({"detail": "internal error (logged without request data)"})
                await send(
                    {
                        "type": "http.response.start",
                        "status": 500,
                        "headers": [
                            (b"content-type", JSON.encode()),
                            (b"content-length", str(len(body)).encode()),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": body})


class BodySizeLimit:
    """Refuse bodies over `limit` bytes: at once from Content-Length, or while streaming; and
    bodies that take longer than `timeout_s` to arrive (408, connection closed).

    Streaming (chunked) bodies are counted as they arrive, so a client cannot make the service
    buffer an unbounded body by leaving out Content-Length. The deadline runs from the request's
    arrival to its last body byte: a client that declares more bytes than it sends (or trickles
    them) cannot hold a connection and a request slot open; uvicorn bounds the rest (idle
    keep-alive connections, connection count: see docs/operator.md).
    """

    def __init__(self, app: ASGIApp, limit: int, timeout_s: float = 30.0) -> None:
        self.app = app
        self.limit = limit
        self.timeout_s = timeout_s
        self._deadlines = BodyDeadlines()  # one timer per loop, not one per receive

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = -1
                if declared > self.limit:
                    await _send_413(send, self.limit)
                    return
                break
        received = 0
        limit, timeout_s = self.limit, self.timeout_s
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        deadlines = self._deadlines.of(loop)
        complete = False

        async def limited_receive() -> Message:
            nonlocal received, complete
            if complete:  # after the body: e.g. waiting for a disconnect, no deadline
                return await receive()
            try:
                message = await deadlines.wait(receive(), deadline)
            except TimeoutError:
                raise BodyTimeout(timeout_s) from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
                complete = not message.get("more_body", False)
            elif message["type"] == "http.disconnect":
                raise ClientDisconnect()
            return message

        await self.app(scope, limited_receive, send)


async def _send_413(send: Send, limit: int) -> None:
    body = orjson.dumps({"detail": f"request body is larger than {limit} bytes"})
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", JSON.encode()),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
