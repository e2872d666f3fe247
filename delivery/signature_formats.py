"""Which signature headers a hand-off carries, by `delivery.signature_format` in params.yaml:

- `standard-webhooks`, the default: webhook-id / webhook-timestamp / webhook-signature
  (delivery/standard_webhooks.py), verified by any Standard Webhooks library;
- `leadscore`: X-Leadscore-Timestamp / X-Leadscore-Signature (delivery/signing.py), the format
  receivers written before Standard Webhooks verify; kept, behind the setting, so they keep
  working unchanged.

A secret that is not `whsec_<base64>` is refused under the default, not taken as raw bytes: the
reference libraries base64-decode whatever string they are given (prefix or not), so a receiver
pasting the same text into one would compute another key and refuse every hand-off.

Both carry the Idempotency-Key header as well (the same key as webhook-id).
"""

from __future__ import annotations

from delivery import signing, standard_webhooks
from foundation.errors import ConfigError
from foundation.params import SignatureFormat


def delivery_headers(
    fmt: SignatureFormat, secret: str, body: bytes, key: str, timestamp: int | None = None
) -> dict[str, str]:
    """The headers of one attempt; `key` is the outbox key as a header value. In the standard
    format `secret` may hold several secrets (spaces or commas): one signature each."""
    if fmt == "leadscore":
        return signing.signed_headers(secret, body, key, timestamp)
    return {
        "Content-Type": "application/json",
        signing.IDEMPOTENCY_HEADER: key,
        **standard_webhooks.signed_headers(
            standard_webhooks.split_secrets(secret), body, key, timestamp
        ),
    }


def check_secret(fmt: SignatureFormat, secret: str, setting: str) -> None:
    """ConfigError naming `setting` (where the secret came from) when `secret` cannot sign in
    `fmt`: caught before the first request, not as one failed hand-off per lead."""
    if fmt == "leadscore":
        return
    parts = standard_webhooks.split_secrets(secret)
    if not parts:
        raise ConfigError(f"{setting} is empty: set the signing secret (whsec_...)")
    for position, part in enumerate(parts, start=1):
        try:
            standard_webhooks.secret_key(part)
        except ValueError as exc:
            raise ConfigError(
                f"{setting} secret {position} of {len(parts)} is not a Standard Webhooks secret "
                f"(delivery.signature_format is standard-webhooks, the default): {exc}; a "
                "receiver built on the older X-Leadscore-Signature format keeps its secret with "
                "delivery.signature_format: leadscore in params.yaml"
            ) from None
