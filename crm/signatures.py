"""HubSpot's v3 request signature (developers.hubspot.com, "Validating requests", v3):

    base64(HMAC-SHA256(client_secret, method + uri + body + timestamp))

sent as X-HubSpot-Signature-v3, with X-HubSpot-Request-Timestamp (Unix MILLISECONDS). The URI is
the full URL HubSpot called, with the percent-escapes HubSpot lists decoded (`%3A` -> `:` ...);
a request whose timestamp is more than 5 minutes old is refused (a replay).

BottleCRM's webhook signature (django-crm, webhooks/tasks.py `sign`):

    X-BottleCRM-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<unix>." + body)>

keyed with the endpoint's whole `whsec_...` secret as BottleCRM shows it. Pure functions.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

SIGNATURE_HEADER = "X-HubSpot-Signature-v3"
TIMESTAMP_HEADER = "X-HubSpot-Request-Timestamp"
MAX_AGE_MS = 5 * 60 * 1000
# The escapes HubSpot's v3 instructions decode in the URI before signing (and only these).
_DECODED = {
    "%3A": ":",
    "%2F": "/",
    "%3F": "?",
    "%40": "@",
    "%21": "!",
    "%24": "$",
    "%27": "'",
    "%28": "(",
    "%29": ")",
    "%2A": "*",
    "%2C": ",",
    "%3B": ";",
}


def stale_problem(header: str, age_s: float, max_age_s: float) -> str | None:
    """Why a signed request's timestamp is refused (too old: a replay; too far ahead: a wrong
    clock or a forgery), or None."""
    if age_s > max_age_s:
        return f"{header} is more than {max_age_s:g} s old: refused as a replay"
    if -age_s > max_age_s:
        return f"{header} is more than {max_age_s:g} s in the future"
    return None


def signed_uri(uri: str) -> str:
    """The URI as HubSpot signs it: the listed escapes decoded (either case), the rest as is."""
    out = uri
    for escaped, char in _DECODED.items():
        out = out.replace(escaped, char).replace(escaped.lower(), char)
    return out


def hubspot_v3_signature(secret: str, method: str, uri: str, body: bytes, timestamp: str) -> str:
    message = method.upper().encode() + signed_uri(uri).encode() + body + timestamp.encode()
    digest = hmac.new(secret.encode(), message, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def hubspot_v3_problem(
    secret: str,
    method: str,
    uri: str,
    body: bytes,
    timestamp: str | None,
    signature: str | None,
    *,
    now_ms: int,
    max_age_ms: int = MAX_AGE_MS,
) -> str | None:
    """None when the request is HubSpot's and fresh; else why not, for the 401's body (never
    the expected signature)."""
    if not signature or not timestamp:
        return f"{SIGNATURE_HEADER} and {TIMESTAMP_HEADER} are required"
    try:
        sent_ms = int(timestamp)
    except ValueError:
        return f"{TIMESTAMP_HEADER} {timestamp[:40]!r} is not Unix milliseconds"
    stale = stale_problem(TIMESTAMP_HEADER, (now_ms - sent_ms) / 1000, max_age_ms / 1000)
    if stale:
        return stale
    expected = hubspot_v3_signature(secret, method, uri, body, timestamp)
    if not hmac.compare_digest(expected.encode(), signature.strip().encode()):
        return f"{SIGNATURE_HEADER} does not match this request (method, URL, body, timestamp)"
    return None


BOTTLECRM_SIGNATURE_HEADER = "X-BottleCRM-Signature"
BOTTLECRM_MAX_AGE_S = 300.0


def bottlecrm_signature(secret: str, timestamp: int, body: bytes) -> str:
    """The header value BottleCRM sends for `body` signed at `timestamp`."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


def bottlecrm_problem(
    secret: str,
    body: bytes,
    header: str | None,
    *,
    now_s: float,
    max_age_s: float = BOTTLECRM_MAX_AGE_S,
) -> str | None:
    """None when the request is signed with `secret` and fresh; else why not, for the 401's
    body (never the expected signature). Several v1= values (a rotation) are each tried."""
    if not header:
        return f"{BOTTLECRM_SIGNATURE_HEADER} is required"
    timestamp, signatures = None, []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t":
            timestamp = value
        elif key == "v1":
            signatures.append(value)
    if timestamp is None or not signatures:
        return f"{BOTTLECRM_SIGNATURE_HEADER} must read t=<unix seconds>,v1=<hex HMAC>"
    try:
        sent_s = int(timestamp)
    except ValueError:
        return f"{BOTTLECRM_SIGNATURE_HEADER} t={timestamp[:40]!r} is not Unix seconds"
    stale = stale_problem(f"{BOTTLECRM_SIGNATURE_HEADER} t=", now_s - sent_s, max_age_s)
    if stale:
        return stale
    expected = bottlecrm_signature(secret, sent_s, body).rpartition("v1=")[2]
    if not any(hmac.compare_digest(expected.encode(), s.encode()) for s in signatures):
        return f"{BOTTLECRM_SIGNATURE_HEADER} does not match this body (or another secret)"
    return None
