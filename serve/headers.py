"""Security headers on every response, and 415 for a /v1 body that is not JSON.

The policy (the shared roles-and-headers contract): nothing is loaded from another host, no
inline or eval'd script, no framing; the dashboard and the self-hosted /docs ship their scripts
as static files, so the same policy holds on every page. Styles may be inline (Swagger UI and
Vega set style attributes); images may be `data:` URIs (Swagger UI's icons).

Both are raw ASGI middleware: a header list appended to `http.response.start` costs well under a
microsecond, where a Starlette `BaseHTTPMiddleware` would cost a task and a stream per request.
"""

from __future__ import annotations

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self'; connect-src 'self'; object-src 'none'; "
    "base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
)
_NAMES = frozenset(name for name, _ in SECURITY_HEADERS)

JSON_PREFIX = "/v1/"
UNSUPPORTED = orjson.dumps(
    {"detail": "request bodies on /v1 must be JSON: send Content-Type: application/json"}
)
UNSUPPORTED_ENCODING = orjson.dumps(
    {"detail": "request bodies on /v1 are read as sent: send them without Content-Encoding"}
)


class SecurityHeaders:
    """Add the policy headers to every HTTP response (errors, 404s and static files included);
    a header a route set itself is replaced, so no page can weaken the policy by accident."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [h for h in message.get("headers", ()) if h[0].lower() not in _NAMES]
                message["headers"] = [*headers, *SECURITY_HEADERS]
            await send(message)

        await self.app(scope, receive, send_with_headers)


def is_json(content_type: bytes) -> bool:
    """application/json or any application/*+json, parameters (charset) allowed."""
    media = content_type.split(b";", 1)[0].strip().lower()
    return media == b"application/json" or (
        media.startswith(b"application/") and media.endswith(b"+json")
    )


def has_body(headers: list[tuple[bytes, bytes]]) -> bool:
    for name, value in headers:
        if name == b"content-length":
            return value.strip() not in (b"0", b"")
        if name == b"transfer-encoding":
            return True
    return False


class JsonBodiesOnly:
    """415 for a /v1 request that has a body whose Content-Type is not JSON (or is missing).

    The routes parse bodies as JSON whatever the header says; answering a form post or a text
    body as if it were JSON would accept requests the OpenAPI document does not describe.
    Requests without a body (GET, a reload with no body) pass; other paths (the sign-in form
    posts a urlencoded form to /signin) are not touched.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(JSON_PREFIX):
            headers = scope["headers"]
            if has_body(headers):
                content_type = next((v for k, v in headers if k == b"content-type"), b"")
                encoding = next((v for k, v in headers if k == b"content-encoding"), b"")
                if not is_json(content_type):
                    await _refuse_415(send, UNSUPPORTED)
                    return
                if encoding.strip().lower() not in (b"", b"identity"):
                    # A gzip body used to be parsed as if it were JSON text (422 "invalid JSON").
                    await _refuse_415(send, UNSUPPORTED_ENCODING)
                    return
        await self.app(scope, receive, send)


async def _refuse_415(send: Send, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 415,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
