"""The pieces of the real-time path without a model: Segment messages checked and mapped, the
ingest role and its basic-auth form, events stored once (SQLite and PostgreSQL), the identity
merge, back-pressure, and the daily run's de-duplicated view of ingested events."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from daily.store_merge import with_ingested_events, with_ingested_leads
from features.mapping_file import load_mapping
from features.mapping_one import EventNamer
from foundation.params import DeliveryParams, IngestParams
from ingest.rescore import Rules
from ingest.segment import SegmentError, messages_of
from ingest.service import Ingest
from ingest.worker import Worker
from serve.app import create_app
from serve.settings import Settings
from store import Store
from store.events import EventStore, Identify
from tests.store_fixtures import pg_database, store_url

__all__ = ["pg_database", "store_url"]  # fixtures, imported for pytest

NOW = datetime(2026, 12, 7, 9, 5, tzinfo=UTC)
NAMER = EventNamer(load_mapping(None))
INGEST, SCORER = "ik-unit-0123456789", "sk-unit-0123456789"


def _track(n: int, lead: str | None = "L1", **extra: object) -> dict:
    return {
        "type": "track",
        "messageId": f"m{n}",
        "userId": lead,
        "event": "pricing_view",
        "timestamp": "2026-12-07T09:00:00Z",
        "properties": {"content_topic": "pricing"},
        **extra,
    }


def test_a_batch_of_track_identify_and_page_is_mapped_to_the_contract() -> None:
    body = {
        "batch": [
            _track(1),
            {"type": "page", "messageId": "p1", "anonymousId": "a1"},
            {
                "type": "identify",
                "messageId": "i1",
                "userId": "L1",
                "traits": {"company_size": 250, "email": "x@acme.de", "job_role": "coo"},
            },
        ]
    }
    track, page, who = messages_of(body, NAMER, NOW, 10)
    assert (track.event_type, track.content_topic, track.lead_id) == (
        "pricing_view",
        "pricing",
        "L1",
    )
    assert track.ts == datetime(2026, 12, 7, 9, tzinfo=UTC)
    assert (page.kind, page.event_type, page.anonymous_id, page.ts) == (
        "track",
        "page_view",
        "a1",
        NOW,
    )
    assert who.profile == {
        "created_at": NOW.isoformat(),
        "company_size": 250,
        "job_role": "coo",
        "email_domain": "acme.de",
    }


def test_every_bad_field_is_named_by_its_place_in_the_batch() -> None:
    body = {
        "batch": [
            _track(1),
            _track(2, timestamp="yesterday"),
            {"type": "track", "event": "x", "userId": "L1"},
            {"type": "alias", "messageId": "m4", "userId": "L1"},
            {"type": "track", "messageId": "m5", "event": "x"},
            {
                "type": "identify",
                "messageId": "m6",
                "userId": "L1",
                "traits": {"company_size": "big"},
            },
        ]
    }
    with pytest.raises(SegmentError) as caught:
        messages_of(body, NAMER, NOW, 10)
    problems = caught.value.problems
    assert any(p.startswith("batch[1].timestamp: 'yesterday'") for p in problems)
    assert "batch[2].messageId: required" in problems
    assert any(p.startswith("batch[3].type: 'alias'") for p in problems)
    assert "batch[4]: give userId (the lead_id) or anonymousId" in problems
    assert any(p.startswith("batch[5].traits.company_size") for p in problems)
    assert not any(p.startswith("batch[0]") for p in problems)
    with pytest.raises(OverflowError, match="at most 3"):
        messages_of({"batch": [_track(i) for i in range(4)]}, NAMER, NOW, 3)


def test_event_names_go_through_the_projects_mapping(tmp_path: Path) -> None:
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(
        "events:\n"
        "  types:\n"
        "    - {name: Page Viewed, property: url, pattern: /pricing, as: pricing_view}\n"
        "    - {name: Page Viewed, as: page_view}\n"
        "    - {name: Demo Booked, as: demo_request}\n"
        "  content_topic:\n"
        "    property: url\n"
        "    rules: [{pattern: /pricing, as: pricing}]\n"
    )
    namer = EventNamer(load_mapping(mapping))
    seen = [
        (namer.event_type(name, props), namer.content_topic(props))
        for name, props in [
            ("Page Viewed", {"url": "https://x.io/pricing"}),
            ("Page Viewed", {"url": "https://x.io/blog"}),
            ("Demo Booked", {}),
            ("Trial Started", {}),
        ]
    ]
    assert seen == [
        ("pricing_view", "pricing"),
        ("page_view", None),
        ("demo_request", None),
        ("Trial Started", None),  # unmapped: a family of its own, as in the daily run
    ]


def test_a_repeated_message_id_is_stored_once_and_identify_merges_the_visitor(
    store_url: str,
) -> None:
    with Store.open(store_url) as store:
        live = EventStore(store)
        anonymous = {**_track(1, lead=None), "anonymousId": "a1"}
        rows = [m.row(NOW) for m in messages_of(anonymous, NAMER, NOW, 10)]
        assert live.add(rows, [], NOW).stored == 1
        assert live.add(rows, [], NOW).duplicates == 1  # a retry of the same message
        assert live.backlog().unidentified == 1 and live.take(10) == {}
        who = Identify("i1", "L1", "a1", {"created_at": NOW.isoformat(), "country": "DE"})
        live.add([{**rows[0], "message_id": "i1", "kind": "identify", "lead_id": "L1"}], [who], NOW)
        assert sorted(live.take(10)["L1"]) == ["i1", "m1"]
        later = {**_track(2, lead=None), "anonymousId": "a1"}  # known visitor: its lead at once
        live.add([m.row(NOW) for m in messages_of(later, NAMER, NOW, 10)], [], NOW)
        assert sorted(live.take(10)["L1"]) == ["i1", "m1", "m2"]
        assert live.backlog().waiting == 3 and live.backlog().unidentified == 0
        assert live.live_leads()["country"].tolist() == ["DE"]


def _app_with_ingest(url: str, max_waiting: int) -> tuple[TestClient, Store]:
    """The real app and route, with an ingest whose worker is not started (no model here):
    events stay waiting, which is what back-pressure reacts to."""
    settings = Settings(api_keys=f"ingest:{INGEST},{SCORER}", db_url=url)
    app = create_app(settings, load_model=False)
    store = Store.open(url)
    params = IngestParams(max_waiting=max_waiting, retry_after_s=2)
    worker = Worker(store, lambda: None, Rules(24, 14), params, None, DeliveryParams())
    app.state.ingest = Ingest(NAMER, params, worker)
    return TestClient(app), store


def test_a_burst_past_max_waiting_gets_429_with_retry_after_and_nothing_is_dropped(
    tmp_path: Path,
) -> None:
    client, store = _app_with_ingest(f"sqlite:///{tmp_path / 's.db'}", max_waiting=3)
    with client, store:
        key = {"X-API-Key": INGEST}
        who = {"type": "identify", "messageId": "i", "userId": "L1", "traits": {"country": "DE"}}
        bodies = [who, *(_track(n) for n in range(4))]
        answers = [client.post("/v1/events", json=b, headers=key) for b in bodies]
        assert [a.status_code for a in answers] == [200, 200, 200, 429, 429]
        assert answers[3].headers["Retry-After"] == "2"
        assert "nothing of this request was stored" in answers[3].json()["detail"]
        assert EventStore(store).message_ids() == {"i", "m0", "m1"}  # the 429s stored nothing
        status = client.get("/v1/status", headers=key).json()["events"]
        assert status["waiting"] == 3 and status["oldest_waiting_age_s"] >= 0
        # The sender retries after Retry-After, once the worker caught up: then it is stored.
        worker = client.app.state.ingest.worker
        worker._waiting = 0  # what the worker's step does after re-scoring (no model here)
        assert client.post("/v1/events", json=bodies[3], headers=key).status_code == 200


def test_malformed_bodies_are_400_naming_the_problem_never_500(tmp_path: Path) -> None:
    client, store = _app_with_ingest(f"sqlite:///{tmp_path / 's.db'}", max_waiting=100)
    with client, store:
        key = {"X-API-Key": INGEST, "Content-Type": "application/json"}
        for body, expected in [
            (b"{not json", "body: not valid JSON"),
            (b"[1, 2]", "body: expected a JSON object"),
            (b'{"batch": 5}', "batch: expected a list"),
            (b'{"type": "track", "messageId": "m", "userId": "L", "event": 7}', "body.event"),
        ]:
            answer = client.post("/v1/events", content=body, headers=key)
            assert answer.status_code == 400, body
            assert expected in answer.text
        assert EventStore(store).count() == 0


def test_the_ingest_role_and_its_basic_auth_form(tmp_path: Path) -> None:
    client, store = _app_with_ingest(f"sqlite:///{tmp_path / 's.db'}", max_waiting=100)
    basic = "Basic " + base64.b64encode(f"{INGEST}:".encode()).decode()
    with client, store:
        assert (
            client.post("/v1/events", json=_track(1), headers={"Authorization": basic}).json()[
                "stored"
            ]
            == 1
        )
        wrong = "Basic " + base64.b64encode(b"nope:").decode()
        assert (
            client.post("/v1/events", json=_track(2), headers={"Authorization": wrong}).status_code
            == 401
        )
        assert (
            client.post("/v1/events", json=_track(3), headers={"X-API-Key": SCORER}).status_code
            == 403
        )
        # Basic auth is for the ingest routes only; an ingest key cannot score.
        assert (
            client.post("/v1/score", json={}, headers={"Authorization": basic}).status_code == 401
        )
        assert client.post("/v1/score", json={}, headers={"X-API-Key": INGEST}).status_code == 403


def test_the_daily_run_counts_ingested_events_once_with_the_exports() -> None:
    t = pd.Timestamp("2026-12-07", tz="UTC")
    exports = pd.DataFrame(
        {
            "lead_id": ["L1", "L1"],
            "ts": pd.to_datetime(["2026-12-05T10:00Z", "2026-12-06T10:00Z"], utc=True),
            "event_type": ["site_visit", "pricing_view"],
            "content_topic": [None, "pricing"],
        }
    )
    ingested = pd.DataFrame(
        {
            "lead_id": ["L1", "L1", "L2", "L2"],
            "ts": pd.to_datetime(
                [
                    "2026-12-05T10:00Z",
                    "2026-12-06T10:00Z",
                    "2026-12-06T11:00Z",
                    "2026-12-07T09:00Z",
                ],
                utc=True,
            ),
            "event_type": ["site_visit", "pricing_view", "demo_request", "site_visit"],
            "content_topic": [None, "pricing", None, None],
        }
    )
    twice = pd.concat([exports, exports.head(1)], ignore_index=True)  # the log holds it twice
    both = with_ingested_events(twice, ingested, t)
    # Events posted live and exported too count once (topic or none); the exports' own rows
    # are all kept; the one after the cut-off waits for the next run.
    assert both[["lead_id", "event_type"]].values.tolist() == [
        ["L1", "site_visit"],
        ["L1", "pricing_view"],
        ["L1", "site_visit"],
        ["L2", "demo_request"],
    ]
    leads = pd.DataFrame(
        {"lead_id": ["L1"], "created_at": [t - timedelta(days=9)], "country": ["DE"]}
    )
    live = pd.DataFrame({"lead_id": ["L1", "L2"], "created_at": [t, t], "country": ["FR", "NL"]})
    leads["company_size"] = pd.array([40], dtype="Int64")
    live["company_size"] = [250, 12]
    merged = with_ingested_leads(leads, live, t)
    assert merged[["lead_id", "country"]].values.tolist() == [["L1", "DE"], ["L2", "NL"]]
    assert merged["company_size"].dtype == "Int64" and merged["company_size"].tolist() == [40, 12]
    as_category = exports.astype({"event_type": "category"})
    both = with_ingested_events(as_category, ingested, t)
    assert both["event_type"].astype(str).tolist()[-1] == "demo_request"  # not lost as NaN
