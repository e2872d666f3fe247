"""Salesforce outbound messages to the WSDL's contract, over real HTTP: notifications stored as
leads and stages, then `<Ack>true</Ack>`; a duplicate or out-of-order delivery changes nothing;
another org, a malformed message or more than 100 notifications get a SOAP fault and no Ack; a
store that cannot be reached gets no Ack either (Salesforce sends it again)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import httpx2 as httpx
import pytest

from store import Store
from store.crm_inbox import crm_leads, crm_stages, message_count
from tests.crm_fixtures import CLIENT_SECRET, crm_settings, outbound_message, serving
from tests.live_server import free_port
from tests.store_fixtures import pg_database, store_url

__all__ = ["pg_database", "store_url"]

ACK = "<Ack>true</Ack>"
CONTACTED = (
    "04l000000000001AAA",
    "00Q000000000001",
    "Working - Contacted",
    "2026-10-21T09:00:00.000Z",
)
CONVERTED = (
    "04l000000000002AAA",
    "00Q000000000001",
    "Closed - Converted",
    "2026-10-23T15:30:00.000Z",
)
OTHER = ("04l000000000003AAA", "00Q000000000002", "Working - Contacted", "2026-10-22T10:00:00.000Z")


@pytest.fixture
def service(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, store_url: str):
    monkeypatch.setenv("TEST_HUBSPOT_SECRET", CLIENT_SECRET)
    with serving(crm_settings(tmp_path, store_url)) as base, Store.open(store_url) as store:
        yield base, store


def send(base: str, body: bytes) -> httpx.Response:
    headers = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'}
    return httpx.post(f"{base}/crm/salesforce", content=body, headers=headers, timeout=10)


def state(store: Store) -> tuple[list, list]:
    leads = [(x.record_id, x.lead_id, x.email, x.changed_at) for x in crm_leads(store)]
    stages = [(s.lead_id, s.stage, s.ts, s.crm_status) for s in crm_stages(store)]
    return leads, stages


def test_notifications_are_stored_then_acknowledged(service) -> None:
    base, store = service
    answer = send(base, outbound_message([CONTACTED, OTHER]))
    assert answer.status_code == 200 and ACK in answer.text
    assert answer.headers["content-type"].startswith("text/xml")
    leads, stages = state(store)
    assert [(r, lead, email) for r, lead, email, _ in leads] == [
        ("00Q000000000001", "salesforce-00Q000000000001", "00q000000000001@example.com"),
        ("00Q000000000002", "salesforce-00Q000000000002", "00q000000000002@example.com"),
    ]
    assert stages[0] == (
        "salesforce-00Q000000000001",
        "contacted",
        datetime(2026, 10, 21, 9, 0, tzinfo=UTC),
        "Working - Contacted",
    )


def test_a_duplicate_or_out_of_order_delivery_changes_nothing(service) -> None:
    base, store = service
    # Converted arrives first, then the older "contacted", then converted again (a re-send).
    for batch in ([CONVERTED], [CONTACTED, OTHER], [CONVERTED], [CONTACTED]):
        assert ACK in send(base, outbound_message(batch)).text
    leads, stages = state(store)
    assert message_count(store, "salesforce") == 3
    # The lead keeps its newest state; each stage its own time, whatever the arrival order.
    assert leads[0][3] == datetime(2026, 10, 23, 15, 30, tzinfo=UTC)
    assert [(lead, stage) for lead, stage, _, _ in stages] == [
        ("salesforce-00Q000000000001", "contacted"),
        ("salesforce-00Q000000000001", "customer"),
        ("salesforce-00Q000000000002", "contacted"),
    ]
    # A second "contacted" of the same lead, earlier than the first seen: the stage keeps the
    # earliest time (the lead was contacted then), however late that news arrives.
    earlier = (
        "04l000000000004AAA",
        "00Q000000000001",
        "Working - Contacted",
        "2026-10-20T08:00:00Z",
    )
    assert ACK in send(base, outbound_message([earlier])).text
    _, stages = state(store)
    assert stages[0][:3] == (
        "salesforce-00Q000000000001",
        "contacted",
        datetime(2026, 10, 20, 8, 0, tzinfo=UTC),
    )
    before = state(store)
    assert ACK in send(base, outbound_message([CONVERTED, CONTACTED, OTHER])).text
    assert state(store) == before


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        (outbound_message([CONTACTED], org="00Dx0000000XXXX"), 403, "OrganizationId"),
        (b"<soapenv:Envelope", 400, "not XML"),
        (b"<a/>", 400, "not an outbound message"),
        (
            outbound_message([(f"04l{i:015d}", f"00Q{i:012d}", "New", "") for i in range(101)]),
            400,
            "at most 100",
        ),
        (outbound_message([("", "00Q1", "New", "")]), 400, "Notification 0: Id missing"),
        (b'<!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>', 400, "DOCTYPE"),
    ],
)
def test_a_bad_message_gets_a_soap_fault_and_no_ack(
    service, body: bytes, status: int, says: str
) -> None:
    base, store = service
    answer = send(base, body)
    assert answer.status_code == status and "<soapenv:Fault>" in answer.text
    assert says in answer.text and ACK not in answer.text
    assert message_count(store, "salesforce") == 0


def test_an_unreachable_store_gets_no_ack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_HUBSPOT_SECRET", CLIENT_SECRET)
    dead = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/nothing?connect_timeout=2"
    with serving(crm_settings(tmp_path, dead)) as base:
        answer = send(base, outbound_message([CONTACTED]))
    assert answer.status_code == 503 and ACK not in answer.text
