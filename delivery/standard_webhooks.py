"""Hand-off signatures in the Standard Webhooks format (https://www.standardwebhooks.com), so a
receiver verifies them with a library it already has instead of our own scheme.

Headers of one delivery:
    webhook-id: the outbox key, percent-encoded (the same on every re-send: the receiver's
                idempotency key)
    webhook-timestamp: Unix seconds when this attempt was signed
    webhook-signature: `v1,<base64 HMAC-SHA256(key, "<id>.<timestamp>.<raw body>")>`, one per
                secret, separated by spaces (during a rotation old and new both verify)

A secret is `whsec_` followed by the base64 of the key bytes (the spec's form: the key is the
decoded bytes, never the text). Standard library only, so a receiver can copy this file.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets as random_source
import time
from collections.abc import Iterable, Mapping

ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"
SECRET_PREFIX = "whsec_"
VERSION = "v1"
# The spec's recommended replay window: five minutes either way.
DEFAULT_TOLERANCE_S = 300
# The spec asks for 24 to 64 random bytes; 32 is what its reference libraries generate.
_NEW_SECRET_BYTES = 32
_MIN_KEY_BYTES = 24


def secret_key(secret: str) -> bytes:
    """The HMAC key of a `whsec_<base64>` secret. ValueError saying what is wrong, never the
    secret itself (the message reaches logs)."""
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError(
            f"a Standard Webhooks secret starts with {SECRET_PREFIX!r} followed by base64 "
            f"(make one with `python -c 'from delivery.standard_webhooks import new_secret; "
            f"print(new_secret())'`)"
        )
    encoded = secret.removeprefix(SECRET_PREFIX)
    try:
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"the part after {SECRET_PREFIX!r} is not base64") from None
    if len(key) < _MIN_KEY_BYTES:
        raise ValueError(
            f"the key is {len(key)} bytes; Standard Webhooks asks for at least {_MIN_KEY_BYTES}"
        )
    return key


def split_secrets(value: str) -> list[str]:
    """Several secrets in one setting (a rotation): separated by spaces or commas, which base64
    never contains."""
    return [part for part in value.replace(",", " ").split() if part]


def new_secret() -> str:
    """A fresh random secret in the spec's form."""
    return SECRET_PREFIX + base64.b64encode(random_source.token_bytes(_NEW_SECRET_BYTES)).decode()


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """`v1,<base64 HMAC-SHA256>` over `<msg_id>.<timestamp>.<body>`."""
    message = f"{msg_id}.{int(timestamp)}.".encode() + body
    digest = hmac.new(secret_key(secret), message, hashlib.sha256).digest()
    return f"{VERSION},{base64.b64encode(digest).decode()}"


def signed_headers(
    secrets: str | Iterable[str], body: bytes, msg_id: str, timestamp: int | None = None
) -> dict[str, str]:
    """The three webhook-* headers of one delivery, signed with every secret given."""
    ts = int(time.time()) if timestamp is None else int(timestamp)
    keys = [secrets] if isinstance(secrets, str) else list(secrets)
    if not keys:
        raise ValueError("no secret to sign with")
    return {
        ID_HEADER: msg_id,
        TIMESTAMP_HEADER: str(ts),
        SIGNATURE_HEADER: " ".join(sign(s, msg_id, ts, body) for s in keys),
    }


def verify_headers(
    secrets: str | Iterable[str],
    body: bytes,
    headers: Mapping[str, str],
    *,
    tolerance_s: float = DEFAULT_TOLERANCE_S,
    now: float | None = None,
) -> bool:
    """True when one offered `v1,` signature signs `body` with one of `secrets` and the
    timestamp is within `tolerance_s` of `now`. Compares in constant time."""
    lower = {k.lower(): v for k, v in headers.items()}
    msg_id, stamp = lower.get(ID_HEADER), lower.get(TIMESTAMP_HEADER)
    offered = (lower.get(SIGNATURE_HEADER) or "").split()
    if not msg_id or not stamp or not offered:
        return False
    try:
        ts = int(stamp)
    except ValueError:
        return False
    if abs((time.time() if now is None else now) - ts) > tolerance_s:
        return False
    keys = [secrets] if isinstance(secrets, str) else list(secrets)
    expected = [sign(s, msg_id, ts, body) for s in keys]
    return any(hmac.compare_digest(e, o) for e in expected for o in offered)
