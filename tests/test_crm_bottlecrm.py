"""BottleCRM's webhook signature and payloads, without a BottleCRM (the real one runs in
tests/test_bottlecrm_round_trip.py): the check accepts what BottleCRM's own signing formula makes
and refuses a wrong secret, an old or future timestamp and a malformed header; deliveries become
leads and stages by crm.yaml; a lead record maps onto the lead contract."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from crm.bottlecrm import lead_profile, parse_delivery
from crm.bottlecrm_api import note_text
from crm.bottlecrm_sync import score_row, score_update, unwritten
from crm.config import BottleCrmConfig, parse_crm_config
from crm.signatures import bottlecrm_problem
from crm.writeback import ScoreUpdate
from foundation.errors import ConfigError, DataError
from store import Store
from store.crm_inbox import CrmLead, CrmMessage, record_messages
from store.events import EventStore

SECRET = "whsec_test-secret"
NOW = 1_790_000_000
CONFIG = BottleCrmConfig(
    base_url="http://127.0.0.1:9",
    stages={"in process": "contacted", "converted": "customer", "closed": "disqualified"},
)


def bottlecrm_sign(secret: str, timestamp: int, body: bytes) -> str:
    """BottleCRM's formula as its webhooks/tasks.py `sign` writes it (not our code)."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def delivery(
    event: str = "lead.updated", status: str | None = "in process", **data: object
) -> bytes:
    lead = {
        "id": "8d1c",
        "email": "ada@analytical.example",
        "status": status,
        "source": "email",
        "created_at": "2026-12-07T10:00:00+00:00",
        "updated_at": "2026-12-07T10:05:00+00:00",
        "assigned_to": [],
        **data,
    }
    envelope = {
        "id": "e-1",
        "event": event,
        "created_at": "2026-12-07T10:05:01+00:00",
        "org_id": "o-1",
        "data": lead,
    }
    return json.dumps(envelope, separators=(",", ":")).encode()


def test_a_delivery_signed_by_bottlecrms_formula_passes() -> None:
    body = delivery()
    header = bottlecrm_sign(SECRET, NOW, body)
    assert bottlecrm_problem(SECRET, body, header, now_s=NOW + 2) is None


@pytest.mark.parametrize(
    ("header", "now_s", "says"),
    [
        (None, NOW, "is required"),
        ("v1=abc", NOW, "must read t=<unix seconds>"),
        ("t=soon,v1=abc", NOW, "is not Unix seconds"),
        ("SIGNED", NOW, "must read"),
        ("OLD", NOW + 301, "old: refused as a replay"),
        ("OLD", NOW - 301, "in the future"),
        ("OTHER_SECRET", NOW, "does not match"),
        ("OTHER_BODY", NOW, "does not match"),
    ],
)
def test_a_wrong_old_or_malformed_signature_is_refused(
    header: str | None, now_s: int, says: str
) -> None:
    body = delivery()
    header = {
        "SIGNED": "t=1,x=2",
        "OLD": bottlecrm_sign(SECRET, NOW, body),
        "OTHER_SECRET": bottlecrm_sign("whsec_other", NOW, body),
        "OTHER_BODY": bottlecrm_sign(SECRET, NOW, body + b" "),
    }.get(header or "", header)
    problem = bottlecrm_problem(SECRET, body, header, now_s=now_s)
    assert problem is not None and says in problem


def test_a_created_lead_is_a_lead_to_score_and_its_status_a_stage() -> None:
    parsed = parse_delivery(delivery("lead.created", "in process"), CONFIG)
    assert parsed.record_id == "8d1c"
    assert parsed.message is not None and parsed.message.message_id == "e-1"
    (lead,) = parsed.message.leads
    assert (lead.lead_id, lead.email) == ("bottlecrm-8d1c", "ada@analytical.example")
    (stage,) = parsed.message.stages
    assert (stage.stage, stage.crm_status) == ("contacted", "in process")
    assert stage.ts == datetime(2026, 12, 7, 10, 5, tzinfo=UTC)


def test_an_update_is_not_scored_again_and_an_unmapped_status_is_reported() -> None:
    parsed = parse_delivery(delivery("lead.updated", "recycled"), CONFIG)
    assert parsed.record_id is None  # our own write-back is an update: no echo
    assert parsed.message is not None and parsed.message.stages == ()
    assert parsed.unmapped == ["status 'recycled' has no stage in crm.yaml"]


def test_other_events_are_ignored_and_bad_bodies_name_the_field() -> None:
    assert parse_delivery(delivery("deal.won"), CONFIG).ignored == 1
    with pytest.raises(DataError, match=re.escape("data.id missing")):
        parse_delivery(delivery(id=None), CONFIG)
    with pytest.raises(DataError, match=re.escape("data.email is 402 characters; at most 320")):
        parse_delivery(delivery(email="a" * 400 + "@x"), CONFIG)
    with pytest.raises(DataError, match=re.escape("data.id is 300 characters; at most 190")):
        parse_delivery(delivery(id="7" * 300), CONFIG)
    with pytest.raises(DataError, match="not JSON"):
        parse_delivery(b"{", CONFIG)
    with pytest.raises(DataError, match=re.escape("updated_at 'yesterday' is not an ISO")):
        parse_delivery(delivery(updated_at="yesterday"), CONFIG)
    with pytest.raises(DataError, match=re.escape("'9999-12-31T23:59:59-14:00' is not an ISO")):
        parse_delivery(delivery(updated_at="9999-12-31T23:59:59-14:00"), CONFIG)


def test_a_lead_record_maps_onto_the_lead_contract_through_crm_yaml() -> None:
    record = {
        "id": "8d1c",
        "created_at": "2026-12-07T10:00:00Z",
        "source": "email",
        "industry": "TECHNOLOGY",
        "job_title": "VP of Sales",
        "country": "GB",
        "email": "Ada@Analytical.Example",
    }
    assert lead_profile(record, CONFIG) == {
        "lead_id": "bottlecrm-8d1c",
        "created_at": "2026-12-07T10:00:00+00:00",
        "channel": "email",
        "industry": "technology",
        "job_role": "vp_of_sales",
        "country": "GB",
        "email_domain": "analytical.example",
    }
    renamed = CONFIG.model_copy(
        update={"fields": CONFIG.fields.model_copy(update={"job_role": None})}
    )
    assert lead_profile(record, renamed)["job_role"] is None


def test_the_note_carries_score_tier_reasons_model_version_and_time() -> None:
    update = ScoreUpdate(
        "8d1c", 42, "A", ("asked for a demo",), "7", datetime(2026, 12, 7, tzinfo=UTC)
    )
    assert note_text(update).splitlines() == [
        "leadscore score: 42/100 (tier A)",
        "model version: 7",
        "scored at: 2026-12-07T00:00:00Z",
        "reasons: asked for a demo",
    ]


def test_a_bottlecrm_section_needs_its_url_and_known_ratings() -> None:
    with pytest.raises(ConfigError, match=re.escape("bottlecrm.base_url: Field required")):
        parse_crm_config({"bottlecrm": {}}, "crm.yaml")
    with pytest.raises(ConfigError, match=re.escape("bottlecrm.ratings.A: Input should be 'HOT'")):
        parse_crm_config({"bottlecrm": {"base_url": "http://x", "ratings": {"A": "SIZZLING"}}})


def test_the_note_names_a_registered_model_by_version_and_a_file_model_as_such() -> None:
    now = datetime(2026, 12, 7, tzinfo=UTC)
    result = {"score": 16, "tier": "B", "model_name": "lead-propensity", "model_version": "3"}
    update = score_update("8d1c", result, now)
    assert (update.score, update.tier, update.model_version) == (16, "B", "lead-propensity v3")
    filed = score_update("8d1c", {**result, "model_name": "model", "model_version": None}, now)
    assert filed.model_version == "model (a file, not a registry version)"


def test_unwritten_names_the_bottlecrm_leads_stored_without_a_score(tmp_path: Path) -> None:
    now = datetime(2026, 12, 7, tzinfo=UTC)
    with Store.open(f"sqlite:///{tmp_path / 'store.db'}") as store:
        messages = [
            CrmMessage(crm, f"m-{rid}", "lead.created", (CrmLead(crm, rid, f"{crm}-{rid}", now),))
            for crm, rid in (("bottlecrm", "a"), ("bottlecrm", "b"), ("hubspot", "c"))
        ]
        record_messages(store, messages, now)
        result = {"probability": 0.2, "score": 20, "tier": "B", "decision": "nurture"}
        EventStore(store).record_step([], [score_row("bottlecrm-a", result, now)], [], [], now)
        assert unwritten(store) == ["b"]  # a is on its record; c is HubSpot's
