"""API keys with roles, and the guard that checks them on every /v1 route (header `X-API-Key`).

Keys come from `LEADSCORE_API_KEYS="admin:K1,viewer:K2,scorer:K3,ingest:K5,K4"` (and the same
syntax per line of LEADSCORE_API_KEYS_FILE). A prefix is a role only when it is one of
viewer|scorer|sales|ingest|admin; a key without one is a scorer, so the single keys configured
before roles existed keep scoring.

- viewer: the dashboard pages (signed in through /signin) and /v1/summary, the figures they show;
- scorer: /v1/score*, /v1/leads*, /v1/handoff, /v1/model, /v1/sla;
- sales: what a viewer may, and POST /v1/leads/{id}/actions (a rep working the hand-off);
- ingest: /v1/events (events as they happen), /v1/status and /metrics (the re-scoring lag,
  the latter in Prometheus' format at Prometheus' default path); besides
  X-API-Key, an ingest key may come as the user name of HTTP basic auth, as Segment-style
  senders send their write key (`Authorization: Basic base64("<key>:")`);
- admin: everything, and alone the admin routes (/v1/admin/*, e.g. reload).

The check is a small ASGI middleware rather than a FastAPI dependency: dependency resolution
costs more per request than scoring a lead, and the guard must hold for every /v1 path anyway.
The OpenAPI document still declares the scheme (serve/openapi.py). The 401 says only that a
valid key is needed: it never tells whether a key exists or is close, so nobody can probe. A
valid key with the wrong role gets 403 naming the role the route needs.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from enum import StrEnum

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

from serve.auth_throttle import FailureThrottle

API_KEY_HEADER = "X-API-Key"
PROTECTED_PREFIX = "/v1/"
ADMIN_PREFIX = "/v1/admin/"
VIEWER_PATHS = frozenset({"/v1/summary", "/v1/worklist"})  # what the dashboard shows, as JSON
ACTIONS_SUFFIX = "/actions"  # POST /v1/leads/{id}/actions: a sales key (serve/routes_actions.py)
INGEST_PATHS = frozenset({"/v1/events", "/v1/status"})  # events in, and how far behind
METRICS_PATH = "/metrics"  # the same lag for Prometheus: outside /v1, guarded all the same
UNAUTHORIZED = orjson.dumps({"detail": "missing or invalid API key (header X-API-Key)"})
_HEADER = API_KEY_HEADER.lower().encode()
_AUTHORIZATION = b"authorization"
_BASIC = b"basic "


class Role(StrEnum):
    """What a key may do: viewer (dashboard), scorer (scoring and lead reads), ingest (events
    in), admin (all)."""

    VIEWER = "viewer"
    SCORER = "scorer"
    INGEST = "ingest"
    ADMIN = "admin"
    SALES = "sales"  # a rep: the dashboard, and acting on leads (serve/routes_actions.py)


# The roles each role's key stands in for: an admin key does everything, the others one thing.
GRANTS: dict[Role, frozenset[Role]] = {
    Role.VIEWER: frozenset({Role.VIEWER}),
    Role.SCORER: frozenset({Role.SCORER}),
    Role.INGEST: frozenset({Role.INGEST}),
    Role.ADMIN: frozenset(Role),
    Role.SALES: frozenset({Role.SALES, Role.VIEWER}),
}


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


def required_role(path: str) -> Role | None:
    """The role an API path needs (None: no key needed, e.g. /healthz)."""
    if path == METRICS_PATH:
        return Role.INGEST
    if not path.startswith(PROTECTED_PREFIX):
        return None
    if path in VIEWER_PATHS:
        return Role.VIEWER
    if path.startswith("/v1/leads/") and path.endswith(ACTIONS_SUFFIX):
        return Role.SALES
    if path in INGEST_PATHS:
        return Role.INGEST
    return Role.ADMIN if path.startswith(ADMIN_PREFIX) else Role.SCORER


def presented_key(headers: list[tuple[bytes, bytes]], needed: Role) -> bytes:
    """The key a request presents: X-API-Key, or (for the ingest routes only) the user name of
    HTTP basic auth, as Segment's libraries send a write key. Empty when none."""
    given = next((v for k, v in headers if k == _HEADER), b"")
    if given or needed is not Role.INGEST:  # /metrics too: Prometheus' basic_auth
        return given
    auth = next((v for k, v in headers if k == _AUTHORIZATION), b"")
    if auth[: len(_BASIC)].lower() != _BASIC:
        return b""
    try:
        decoded = base64.b64decode(auth[len(_BASIC) :].strip(), validate=True)
    except (ValueError, binascii.Error):
        return b""
    return decoded.partition(b":")[0]


def may(role: Role, needed: Role) -> bool:
    return needed in GRANTS[role]


def _forbidden(role: Role, needed: Role) -> bytes:
    message = f"this {role} key cannot use this route: it needs a {needed} key"
    return orjson.dumps({"detail": message})


async def _send_json(
    send: Send, status: int, body: bytes, extra: list[tuple[bytes, bytes]]
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *extra,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _throttled(wait: int) -> bytes:
    return orjson.dumps(
        {
            "detail": "too many failed authentications from this client or with this key: "
            f"retry after {wait} s"
        }
    )


class ApiKeyGuard:
    """401 for a /v1 request without a configured key, 403 for a key whose role may not use
    the route; other paths (health, the dashboard with its own sessions) pass."""

    def __init__(
        self, app: ASGIApp, keys: dict[bytes, Role], throttle: FailureThrottle | None = None
    ) -> None:
        self.app = app
        self.keys = keys
        self.throttle = throttle

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            needed = required_role(scope["path"])
            if needed is not None:
                given = presented_key(scope["headers"], needed)
                client = scope.get("client")
                subjects = FailureThrottle.subjects(client[0] if client else None, given)
                # Checked before the key: a guesser over the limit learns nothing from 429.
                wait = self.throttle.retry_after_s(subjects) if self.throttle else None
                if wait is not None:
                    extra = [(b"retry-after", str(wait).encode())]
                    await _send_json(send, 429, _throttled(wait), extra)
                    return
                role = role_for_key(given, self.keys) if given else None
                if role is None:
                    if self.throttle is not None:
                        self.throttle.record_failure(subjects)
                    extra = [(b"www-authenticate", API_KEY_HEADER.encode())]
                    await _send_json(send, 401, UNAUTHORIZED, extra)
                    return
                if not may(role, needed):
                    await _send_json(send, 403, _forbidden(role, needed), [])
                    return
        await self.app(scope, receive, send)
