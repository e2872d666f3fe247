"""Hand-offs in the Standard Webhooks format, the default: a receiver built on the reference
library from PyPI (`standardwebhooks`, not our code) verifies the real delivery over loopback
HTTP, during a secret rotation too; a secret that cannot sign stops delivery before any request,
naming the setting; the first format stays, behind `delivery.signature_format: leadscore`, for
the receivers built on it."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest
from standardwebhooks import Webhook as ReferenceWebhook

from delivery import deliver_pending, resolve_webhook
from delivery.keys import header_key, key_from_header
from delivery.signature_formats import delivery_headers
from delivery.standard_webhooks import new_secret, secret_key, sign, verify_headers
from foundation.errors import ConfigError
from foundation.params import DeliveryParams
from store import Store
from tests.store_fixtures import pg_database, store_url
from tests.test_delivery import FAST, NOW, queue_handoff
from tests.webhook_receiver import WebhookReceiver

__all__ = ["pg_database", "store_url"]  # fixtures, imported for pytest

OLD = "whsec_" + base64.b64encode(b"o" * 32).decode()
NEW = "whsec_" + base64.b64encode(b"n" * 32).decode()
STANDARD = FAST  # the default format
FIRST_FORMAT = FAST.model_copy(update={"signature_format": "leadscore"})


def library_receiver(secret: str, **kwargs: object) -> WebhookReceiver:
    """A loopback receiver whose only check is the reference library's `Webhook.verify` (the
    test receiver's default)."""
    return WebhookReceiver(secret, **kwargs)  # type: ignore[arg-type]


def test_the_reference_library_verifies_every_delivered_handoff_during_a_rotation(
    store_url: str,
) -> None:
    # The sender signs with the new and the old secret; a receiver still on the old one verifies.
    with Store.open(store_url) as store, library_receiver(OLD, refuse_first=1) as hook:
        keys = queue_handoff(store)
        report = deliver_pending(store, hook.url, f"{NEW} {OLD}", NOW, policy=STANDARD)

        assert (report.delivered, report.pending, report.failed_permanent) == (3, 0, 0)
        assert all(r.signature_ok for r in hook.requests)
        assert hook.processed_keys() == sorted(keys)
        last = {k.lower(): v for k, v in hook.requests[-1].headers.items()}
        assert key_from_header(last["webhook-id"]) == keys[-1]
        assert last["webhook-id"] == last["idempotency-key"]
        assert len(last["webhook-signature"].split(" ")) == 2  # one v1 signature per secret
        assert "x-leadscore-signature" not in last
        assert json.loads(hook.requests[-1].body)["idempotency_key"] == keys[-1]
        # The retried request (503, then accepted) kept its id: the receiver's idempotency key.
        first_two = [r.headers for r in hook.requests[:2]]
        assert first_two[0]["webhook-id"] == first_two[1]["webhook-id"]


def test_a_receiver_with_another_secret_refuses_and_the_item_is_not_delivered(
    store_url: str,
) -> None:
    with Store.open(store_url) as store, library_receiver(NEW) as hook:
        keys = queue_handoff(store, ["L1"])
        report = deliver_pending(store, hook.url, OLD, NOW, policy=STANDARD)
        assert report.delivered == 0 and report.failed_permanent == 1
        assert [r.status for r in hook.requests] == [401]
        item = store.outbox_item(keys[0])
        assert item is not None and item.status == "failed-permanent"


def test_our_signature_is_the_reference_librarys_byte_for_byte() -> None:
    body = '{"lead_id":"PZ-Müller"}'.encode()
    when = datetime(2026, 10, 21, 6, 0, tzinfo=UTC)
    ours = sign(OLD, "2026-10-21:L1", int(when.timestamp()), body)
    assert ours == ReferenceWebhook(OLD).sign("2026-10-21:L1", when, body)
    assert ours.startswith("v1,")


def test_our_verifier_refuses_tampering_replays_and_wrong_secrets() -> None:
    body = b'{"lead_id":"L1","score":80}'
    headers = delivery_headers("standard-webhooks", f"{OLD},{NEW}", body, "k", 1_000_000)
    assert verify_headers(NEW, body, headers, now=1_000_010)
    assert verify_headers([OLD], body, headers, now=1_000_010)
    assert not verify_headers(OLD, body + b" ", headers, now=1_000_010)
    assert not verify_headers(OLD, body, headers, now=1_000_000 + 301)
    other = "whsec_" + base64.b64encode(b"x" * 32).decode()
    assert not verify_headers(other, body, headers, now=1_000_010)
    assert not verify_headers(OLD, body, {**headers, "webhook-id": "other"}, now=1_000_010)


@pytest.mark.parametrize(
    ("secret", "says"),
    [
        ("plain-text-secret", "starts with 'whsec_'"),
        (f"{OLD} whsec_***not-b64 {NEW}", "secret 2 of 3"),
        ("whsec_" + base64.b64encode(b"short").decode(), "at least 24"),
    ],
)
def test_a_secret_that_cannot_sign_is_a_config_error_naming_the_variable(
    secret: str, says: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEADSCORE_WEBHOOK_URL", "http://127.0.0.1:9/hook")
    monkeypatch.setenv("LEADSCORE_WEBHOOK_SECRET", secret)
    with pytest.raises(ConfigError, match="LEADSCORE_WEBHOOK_SECRET") as caught:
        resolve_webhook(signature_format="standard-webhooks")
    assert says in str(caught.value)
    assert secret not in str(caught.value)  # the message reaches logs: never the secret
    # The first format takes any secret, as before.
    assert resolve_webhook(signature_format="leadscore") is not None


def test_delivery_with_a_bad_secret_sends_nothing(store_url: str) -> None:
    with Store.open(store_url) as store, library_receiver(OLD) as hook:
        keys = queue_handoff(store, ["L1"])
        with pytest.raises(ConfigError, match="whsec_"):
            deliver_pending(store, hook.url, "not-a-whsec", NOW, policy=STANDARD)
        assert hook.requests == []
        item = store.outbox_item(keys[0])
        assert item is not None and (item.status, item.attempts) == ("pending", 0)


def test_standard_webhooks_is_the_default_and_a_plain_secret_names_the_way_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert DeliveryParams().signature_format == "standard-webhooks"
    monkeypatch.setenv("LEADSCORE_WEBHOOK_URL", "http://127.0.0.1:9/hook")
    monkeypatch.setenv("LEADSCORE_WEBHOOK_SECRET", "an-old-plain-secret")
    with pytest.raises(ConfigError) as caught:
        resolve_webhook()
    said = str(caught.value)
    assert "LEADSCORE_WEBHOOK_SECRET" in said and "delivery.signature_format: leadscore" in said
    assert "an-old-plain-secret" not in said


def test_the_first_format_behind_its_setting_reaches_a_receiver_built_on_it(
    store_url: str,
) -> None:
    with (
        Store.open(store_url) as store,
        WebhookReceiver("s3cret", signature_format="leadscore") as hook,
    ):
        keys = queue_handoff(store, ["L1", "L2"])
        report = deliver_pending(store, hook.url, "s3cret", NOW, policy=FIRST_FORMAT)
        assert (report.delivered, report.failed_permanent) == (2, 0)
        assert all(r.signature_ok for r in hook.requests)
        assert hook.processed_keys() == sorted(keys)
        sent = {k.lower() for k in hook.requests[0].headers}
        assert {"x-leadscore-timestamp", "x-leadscore-signature", "idempotency-key"} <= sent
        assert "webhook-signature" not in sent
    headers = delivery_headers("leadscore", "s3cret", b"{}", header_key("2026-10-21:L1"), 1)
    assert set(headers) == {
        "Content-Type",
        "X-Leadscore-Timestamp",
        "X-Leadscore-Signature",
        "Idempotency-Key",
    }


def test_a_new_secret_is_one_the_reference_library_takes() -> None:
    fresh = new_secret()
    assert len(secret_key(fresh)) == 32
    assert ReferenceWebhook(fresh).sign("id", NOW, b"{}").startswith("v1,")
