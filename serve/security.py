"""API-key check for every /v1 route: header `X-API-Key`, compared in constant time.

The 401 says only that a valid key is needed: it never tells whether a key exists, is close, or
which keys are configured, so a caller cannot probe for them.
"""

from __future__ import annotations

import hmac

from fastapi import HTTPException, Request, Security
from fastapi.security import APIKeyHeader

API_KEY_HEADER = "X-API-Key"

api_key_header = APIKeyHeader(
    name=API_KEY_HEADER,
    auto_error=False,
    description="One of the keys in LEADSCORE_API_KEYS or LEADSCORE_API_KEYS_FILE.",
)


class Unauthorized(HTTPException):
    """401 with a fixed message and the `WWW-Authenticate` hint, whatever went wrong."""

    def __init__(self) -> None:
        super().__init__(
            status_code=401,
            detail="missing or invalid API key (header X-API-Key)",
            headers={"WWW-Authenticate": API_KEY_HEADER},
        )


def key_matches(given: str, keys: tuple[bytes, ...]) -> bool:
    """True when `given` equals one of `keys`; every key is compared, so timing says nothing."""
    given_bytes = given.encode("utf-8", "surrogatepass")
    found = False
    for key in keys:
        found |= hmac.compare_digest(given_bytes, key)
    return found


async def require_api_key(request: Request, api_key: str | None = Security(api_key_header)) -> None:
    """FastAPI dependency: pass with a configured key, else 401."""
    keys: tuple[bytes, ...] = request.app.state.api_keys
    if not api_key or not keys or not key_matches(api_key, keys):
        raise Unauthorized()
