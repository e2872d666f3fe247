"""API-key check for every /v1 route: header `X-API-Key`, compared in constant time.

The check is a small ASGI middleware rather than a FastAPI dependency: dependency resolution
costs more per request than scoring a lead, and the guard must hold for every /v1 path anyway.
The OpenAPI document still declares the scheme (serve/openapi.py). The 401 says only that a
valid key is needed: it never tells whether a key exists or is close, so nobody can probe.
"""

from __future__ import annotations

import hmac
from enum import StrEnum

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

API_KEY_HEADER = "X-API-Key"
PROTECTED_PREFIX = "/v1/"
UNAUTHORIZED = orjson.dumps({"detail": "missing or invalid API key (header X-API-Key)"})
_HEADER = API_KEY_HEADER.lower().encode()


def key_matches(given: bytes, keys: tuple[bytes, ...]) -> bool:
    """True when `given` equals one of `keys`; every key is compared, so timing says nothing."""
    found = False
    for key in keys:
        found |= hmac.compare_digest(given, key)
    return found


class ApiKeyGuard:
    """401 for any /v1 request without a configured key; other paths (health) pass."""

    def __init__(self, app: ASGIApp, keys: tuple[bytes, ...]) -> None:
        self.app = app
        self.keys = keys

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(PROTECTED_PREFIX):
            given = next((v for k, v in scope["headers"] if k == _HEADER), b"")
            if not (given and self.keys and key_matches(given, self.keys)):
                await send(
                    {
                        "type": "http.response.start",
                        "status": 401,
                        "headers": [
                            (b"content-type", b"application/json"),
                            (b"content-length", str(len(UNAUTHORIZED)).encode()),
                            (b"www-authenticate", API_KEY_HEADER.encode()),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": UNAUTHORIZED})
                return
        await self.app(scope, receive, send)


# --- Roles (ROLES_AND_HEADERS contract). Minimal version written by helper C (dashboard sign-in)
# because the sign-in form needs `role_for_key` before G's role-aware guard landed. G owns this
# module: extend or replace freely, keeping `Role`, `parse_api_keys` and `role_for_key`.
class Role(StrEnum):
    """What a key may do: viewer (dashboard), scorer (scoring and lead reads), admin (all)."""

    VIEWER = "viewer"
    SCORER = "scorer"
    ADMIN = "admin"


def parse_api_keys(entries: tuple[str, ...]) -> dict[bytes, Role]:
    """`role:key` entries -> key -> role. A prefix is a role only when it names one; a key
    without one is a scorer, so the single keys configured before roles existed keep scoring."""
    keys: dict[bytes, Role] = {}
    for entry in entries:
        prefix, sep, rest = entry.partition(":")
        if sep and prefix in Role._value2member_map_ and rest:
            keys[rest.encode()] = Role(prefix)
        else:
            keys[entry.encode()] = Role.SCORER
    return keys


def role_for_key(given: bytes, keys: dict[bytes, Role]) -> Role | None:
    """The role of `given`, or None; every key is compared in constant time, whatever matches."""
    found: Role | None = None
    for key, role in keys.items():
        if hmac.compare_digest(given, key):
            found = role
    return found
