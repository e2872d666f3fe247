"""HubSpot inbound, to its documented contract, over real HTTP: v3 signatures (a wrong one and an
old timestamp refused, nothing stored), the documented example events becoming a lead and its
funnel stage in the store, a repeated delivery changing nothing, a malformed body a 400."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import httpx2 as httpx
import pytest

from crm.config import HubSpotConfig
from crm.hubspot import parse_events
from crm.signatures import hubspot_v3_problem, hubspot_v3_signature, signed_uri
from foundation.errors import DataError
from store import Store
from store.crm_inbox import crm_leads, crm_stages, message_count
from tests.crm_fixtures import (
    CLIENT_SECRET,
    HUBSPOT_DOC_EXAMPLE,
    HUBSPOT_DOC_EXAMPLE_V1,
    crm_settings,
    hubspot_headers,
    hubspot_v3,
    property_change,
    serving,
)


@pytest.fixture
def service(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("TEST_HUBSPOT_SECRET", CLIENT_SECRET)
    db = f"sqlite:///{tmp_path / 'leadscore.db'}"
    with serving(crm_settings(tmp_path, db)) as base, Store.open(db) as store:
        yield base, store


def post(base: str, body: bytes, **kwargs: float) -> httpx.Response:
    uri = f"{base}/crm/hubspot"
    return httpx.post(uri, content=body, headers=hubspot_headers(uri, body, **kwargs), timeout=10)


def test_the_example_body_is_byte_for_byte_the_documented_one() -> None:
    # HubSpot's page gives this v1 hash for its example body and secret: our copy is exact.
    digest = hashlib.sha256(CLIENT_SECRET.encode() + HUBSPOT_DOC_EXAMPLE).hexdigest()
    assert digest == HUBSPOT_DOC_EXAMPLE_V1


def test_v3_signature_follows_the_documented_recipe_and_decodes_the_listed_escapes() -> None:
    uri = "https://example.com/crm/hubspot?portal=62515&return=https%3A%2F%2Fx.io%2Fa%20b"
    ours = hubspot_v3_signature(CLIENT_SECRET, "POST", uri, b"[]", "1700000000000")
    decoded = "https://example.com/crm/hubspot?portal=62515&return=https://x.io/a%20b"
    assert signed_uri(uri) == decoded  # %20 is not in HubSpot's list: it stays
    assert ours == hubspot_v3(CLIENT_SECRET, "POST", decoded, b"[]", "1700000000000")


def test_v3_check_refuses_a_wrong_signature_an_old_timestamp_and_missing_headers() -> None:
    now_ms = 1_700_000_000_000
    good = hubspot_v3(CLIENT_SECRET, "POST", "https://h/x", b"[]", str(now_ms))

    def problem(**kw: object) -> str | None:
        args = {"timestamp": str(now_ms), "signature": good, "body": b"[]"} | kw
        return hubspot_v3_problem(
            CLIENT_SECRET,
            "POST",
            "https://h/x",
            args["body"],  # type: ignore[arg-type]
            args["timestamp"],  # type: ignore[arg-type]
            args["signature"],  # type: ignore[arg-type]
            now_ms=now_ms + 1000,
        )

    assert problem() is None
    assert "does not match" in (problem(body=b"[{}]") or "")
    assert "does not match" in (problem(signature=good[:-4] + "AAA=") or "")
    old = str(now_ms - 5 * 60 * 1000 - 1001)
    stale = hubspot_v3(CLIENT_SECRET, "POST", "https://h/x", b"[]", old)
    assert "old" in (problem(timestamp=old, signature=stale) or "")
    assert "required" in (problem(signature=None) or "")
    assert "milliseconds" in (problem(timestamp="yesterday") or "")


def test_a_signed_creation_and_status_change_become_a_lead_and_its_stage(service) -> None:
    base, store = service
    answer = post(base, HUBSPOT_DOC_EXAMPLE)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"stored": 1, "duplicates": 0, "ignored": 0, "unmapped": []}
    occurred = 1_564_200_000_000
    change = json.dumps([property_change(123, "CONNECTED", occurred)]).encode()
    assert post(base, change).json()["stored"] == 1

    (lead,) = crm_leads(store, "hubspot")
    assert (lead.record_id, lead.lead_id) == ("123", "hubspot-123")
    (stage,) = crm_stages(store)
    assert (stage.lead_id, stage.stage, stage.crm_status) == ("hubspot-123", "sql", "CONNECTED")
    assert int(stage.ts.timestamp() * 1000) == occurred


def test_a_repeated_delivery_changes_nothing(service) -> None:
    base, store = service
    body = json.dumps([property_change(5, "IN_PROGRESS", 1_564_200_000_000)]).encode()
    assert post(base, body).json()["stored"] == 1
    again = post(base, body)  # HubSpot's retry: same event, a fresh signature
    assert again.json() == {"stored": 0, "duplicates": 1, "ignored": 0, "unmapped": []}
    assert message_count(store, "hubspot") == 1
    assert [(s.lead_id, s.stage) for s in crm_stages(store)] == [("hubspot-5", "contacted")]


def test_a_wrong_signature_or_an_old_timestamp_is_401_and_stores_nothing(service) -> None:
    base, store = service
    forged = post(base, HUBSPOT_DOC_EXAMPLE, secret="not-the-app-secret")  # type: ignore[arg-type]
    assert forged.status_code == 401 and "does not match" in forged.json()["detail"]
    replayed = post(base, HUBSPOT_DOC_EXAMPLE, age_s=301)
    assert replayed.status_code == 401 and "old" in replayed.json()["detail"]
    assert message_count(store, "hubspot") == 0 and crm_leads(store) == []


def test_an_unmapped_status_is_reported_not_guessed(service) -> None:
    base, store = service
    body = json.dumps([property_change(9, "ATTEMPTED_TO_CONTACT", 1_564_200_000_000)]).encode()
    answer = post(base, body).json()
    assert answer["unmapped"] == [
        "event 0: hs_lead_status 'ATTEMPTED_TO_CONTACT' has no stage in crm.yaml"
    ]
    assert crm_stages(store) == [] and len(crm_leads(store)) == 1


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"not json", "not JSON"),
        (b'{"a": 1}', "event 0: subscriptionType, objectId, occurredAt missing"),
        (
            b'[{"subscriptionType":"contact.creation","objectId":1,"occurredAt":"soon"}]',
            "event 0: occurredAt",
        ),
        (b"[1]", "event 0: expected an object"),
    ],
)
def test_a_malformed_body_is_400_naming_the_event_and_field(
    service, body: bytes, says: str
) -> None:
    base, store = service
    answer = post(base, body)
    assert answer.status_code == 400 and says in answer.json()["detail"]
    assert message_count(store, "hubspot") == 0


def test_parsing_needs_no_server() -> None:
    parsed = parse_events(HUBSPOT_DOC_EXAMPLE, HubSpotConfig())
    assert [m.kind for m in parsed.messages] == ["contact.creation"]
    with pytest.raises(DataError, match="propertyName"):
        parse_events(
            b'[{"subscriptionType":"contact.propertyChange","objectId":1,"occurredAt":1}]',
            HubSpotConfig(),
        )
