"""HMAC-SHA256 signatures of webhook bodies, for the sender and for receivers.

The signed message is `<timestamp>.<body>` (timestamp: Unix seconds, as sent in
X-Leadscore-Timestamp; body: the raw request bytes). Signing the timestamp with the body lets a
receiver refuse a captured request replayed later (`tolerance_s`), and signing raw bytes (not a
re-serialised JSON) means any language verifies it the same way. Standard library only, so a
receiver can copy this file.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Iterable, Mapping

SIGNATURE_HEADER = "X-Leadscore-Signature"
TIMESTAMP_HEADER = "X-Leadscore-Timestamp"
IDEMPOTENCY_HEADER = "Idempotency-Key"
SCHEME = "sha256"
# Five minutes either way: room for clock drift and a slow proxy, short for a replay.
DEFAULT_TOLERANCE_S = 300


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """`sha256=<hex>` of HMAC-SHA256(secret, "<timestamp>.<body>")."""
    message = str(int(timestamp)).encode() + b"." + body
    digest = hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
    return f"{SCHEME}={digest}"


def signed_headers(
    secret: str, body: bytes, key: str, timestamp: int | None = None
) -> dict[str, str]:
    """The headers of one signed delivery: content type, timestamp, signature, idempotency key."""
    ts = int(time.time()) if timestamp is None else int(timestamp)
    return {
        "Content-Type": "application/json",
        TIMESTAMP_HEADER: str(ts),
        SIGNATURE_HEADER: sign(secret, ts, body),
        IDEMPOTENCY_HEADER: key,
    }


def verify_signature(
    secret: str | Iterable[str],
    body: bytes,
    timestamp: str | int | None,
    signature: str | None,
    *,
    tolerance_s: float = DEFAULT_TOLERANCE_S,
    now: float | None = None,
) -> bool:
    """True when `signature` (the X-Leadscore-Signature header) signs `body` at `timestamp`
    (the X-Leadscore-Timestamp header) with `secret`, and the timestamp is within `tolerance_s`
    of `now` (default: this machine's clock).

    `secret` may be several secrets (during a rotation both old and new verify); `signature` may
    hold several comma-separated `sha256=<hex>` values. Compares in constant time.
    """
    if not timestamp or not signature:
        return False
    try:
        ts = int(timestamp)
    except (TypeError, ValueError):
        return False
    current = time.time() if now is None else now
    if abs(current - ts) > tolerance_s:
        return False
    secrets = [secret] if isinstance(secret, str) else list(secret)
    offered = [part.strip() for part in signature.split(",") if part.strip()]
    return any(
        hmac.compare_digest(sign(s, ts, body), candidate) for s in secrets for candidate in offered
    )


def verify_headers(
    secret: str | Iterable[str],
    body: bytes,
    headers: Mapping[str, str],
    *,
    tolerance_s: float = DEFAULT_TOLERANCE_S,
    now: float | None = None,
) -> bool:
    """verify_signature reading the two headers from a request's header mapping (any case)."""
    lower = {k.lower(): v for k, v in headers.items()}
    return verify_signature(
        secret,
        body,
        lower.get(TIMESTAMP_HEADER.lower()),
        lower.get(SIGNATURE_HEADER.lower()),
        tolerance_s=tolerance_s,
        now=now,
    )
