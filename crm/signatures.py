"""HubSpot's v3 request signature (developers.hubspot.com, "Validating requests", v3):

    base64(HMAC-SHA256(client_secret, method + uri + body + timestamp))

sent as X-HubSpot-Signature-v3, with X-HubSpot-Request-Timestamp (Unix MILLISECONDS). The URI is
the full URL HubSpot called, with the percent-escapes HubSpot lists decoded (`%3A` -> `:` ...);
a request whose timestamp is more than 5 minutes old is refused (a replay). Pure functions.
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
    if now_ms - sent_ms > max_age_ms:
        return f"{TIMESTAMP_HEADER} is more than {max_age_ms // 1000} s old: refused as a replay"
    if sent_ms - now_ms > max_age_ms:
        return f"{TIMESTAMP_HEADER} is more than {max_age_ms // 1000} s in the future"
    expected = hubspot_v3_signature(secret, method, uri, body, timestamp)
    if not hmac.compare_digest(expected.encode(), signature.strip().encode()):
        return f"{SIGNATURE_HEADER} does not match this request (method, URL, body, timestamp)"
    return None
