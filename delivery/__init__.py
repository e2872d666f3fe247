"""Webhook delivery of the daily hand-off: signed POSTs from the store's outbox, at least once,
deduplicated by the receiver on the Idempotency-Key header, never dropped."""

from delivery.sender import DeliveryReport, deliver_pending, envelope
from delivery.settings import (
    SECRET_ENV,
    URL_ENV,
    Webhook,
    resolve_webhook,
)
from delivery.signing import (
    IDEMPOTENCY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    sign,
    signed_headers,
    verify_signature,
)

__all__ = [
    "IDEMPOTENCY_HEADER",
    "SECRET_ENV",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "URL_ENV",
    "DeliveryReport",
    "Webhook",
    "deliver_pending",
    "envelope",
    "resolve_webhook",
    "sign",
    "signed_headers",
    "verify_signature",
]
