"""The Idempotency-Key header of a delivery, for any lead id.

The outbox key is `<run_date>:<lead_id>` with the lead id's exact characters (the data contract
keeps them). An HTTP header carries ASCII only, and a newline would end it: a lead id such as
`PZ-Müller-😀` or one with a line break could not be sent, and (the outbox being sent oldest
first) held every later hand-off behind it. So the header is the key percent-encoded as UTF-8
(RFC 3986: letters, digits, `-._~` and the `:` separator as they are, every other byte `%XX`).
Ordinary ids (`L004211`) read the same either way; a receiver recovers the exact key with
`key_from_header` (or any URL-decoding function), and the JSON body's `idempotency_key` is the
key itself.
"""

from __future__ import annotations

from urllib.parse import quote, unquote

# Kept as they are besides RFC 3986's unreserved characters: the separator between date and id.
_SAFE = ":"


def header_key(key: str) -> str:
    """The key as an ASCII header value; UnicodeEncodeError for a key that is not valid Unicode
    text (a lone surrogate), which the sender records as a permanent failure."""
    return quote(key.encode("utf-8"), safe=_SAFE)


def key_from_header(value: str) -> str:
    """The outbox key back from the header (exact, `%` included: it is sent as `%25`)."""
    return unquote(value, encoding="utf-8", errors="strict")
