"""GET /v1/leads/{lead_id} and GET /v1/handoff over a real store (SQLite and PostgreSQL): what a
CRM or a salesperson's tool reads after the daily run."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from serve.app import create_app
from serve.settings import Settings
from store import RunRecord, Store
from tests.store_fixtures import pg_database, store_url

__all__ = ["pg_database", "store_url"]  # fixtures, imported for pytest

KEY = "routes-key-0123456789"
HEADERS = {"X-API-Key": KEY}
DAY1, DAY2 = date(2026, 10, 20), date(2026, 10, 21)
REASONS = {
    "reasons_for": [
        {"feature": "n_demo_request", "text": "requested a demo", "value": 1.0, "contribution": 1.2}
    ],
    "reasons_against": [],
}
# A stored activity record: counts only (the daily run writes the words for its hand-off).
ACTIVITY = {
    "visits": 3,
    "return_visits": 2,
    "site_visits": 2,
    "pages": 7,
    "downloads": 1,
    "download_topics": {"case_study": 1},
    "newsletter": "no",
    "newsletter_signups": 0,
    "unsubscribes": 0,
    "email_opens": 4,
    "email_clicks": 1,
    "webinars_registered": 0,
    "webinars_attended": 0,
    "pricing_views": 2,
    "demo_requests": 1,
    "form_submits": 0,
    "active_days": 3,
    "first_touch": "2026-09-01T10:00:00+00:00",
    "last_touch": "2026-10-19T09:00:00+00:00",
}


def save_day(store: Store, day: date, rows: list[tuple[str, str, int]], handed: list[str]) -> None:
    at = datetime(day.year, day.month, day.day, tzinfo=UTC)
    run = RunRecord(day, at, at, "lead-propensity", "1", 7.0, len(rows), 1, len(handed), 0, 0, {})
    scores = pd.DataFrame(
        {
            "lead_id": [r[0] for r in rows],
            "channel": "email",
            "persona": "smb_founder",
            "probability": [r[2] / 100 for r in rows],
            "score": [r[2] for r in rows],
            "tier": "B",
            "decision": [r[1] for r in rows],
            "rule": "score_at_or_above_threshold",
            "grade": "A2",
            "expected_value_eur": 12.5,
            "reasons": [REASONS if r[1] == "mql" else None for r in rows],
            "activity": [ACTIVITY] * len(rows),
        }
    )
    payloads = [
        {"lead_id": i, "score": 30, "reasons": ["requested a demo"], "activity": ACTIVITY}
        for i in handed
    ]
    handoff = pd.DataFrame(
        {
            "lead_id": handed,
            "handed_at": [at] * len(handed),
            "followup_deadline": [at + pd.Timedelta(hours=24)] * len(handed),
            "payload": payloads,
        }
    )
    store.save_run(run, scores, handoff, None, [])


@pytest.fixture
def client(store_url: str) -> TestClient:
    with Store.open(store_url) as store:
        save_day(store, DAY1, [("A", "mql", 30), ("B", "nurture", 2)], ["A"])
        save_day(store, DAY2, [("A", "mql", 35), ("B", "nurture", 3), ("C", "nurture", 1)], [])
    app = create_app(Settings(api_keys=SecretStr(KEY), db_url=store_url), load_model=False)
    with TestClient(app) as c:
        yield c


def test_lead_read_gives_latest_score_reasons_activity_hand_off_and_history(
    client: TestClient,
) -> None:
    answer = client.get("/v1/leads/A", headers=HEADERS)
    assert answer.status_code == 200, answer.text
    lead = answer.json()
    assert (lead["run_date"], lead["score"], lead["decision"]) == ("2026-10-21", 35, "mql")
    assert lead["reasons"]["reasons_for"][0]["text"] == "requested a demo"
    assert lead["activity"]["visits"] == 3 and lead["grade"] == "A2"
    assert lead["activity"]["activity"].startswith("3 visits (2 return); 7 pages")
    assert lead["handoff"]["run_date"] == "2026-10-20"
    assert [p["score"] for p in lead["history"]] == [30, 35]
    assert client.get("/v1/leads/nobody", headers=HEADERS).status_code == 404
    assert client.get("/v1/leads/A").status_code == 401


def test_handoff_read_by_date_latest_by_default_404_and_422(client: TestClient) -> None:
    day1 = client.get("/v1/handoff", params={"date": "2026-10-20"}, headers=HEADERS)
    assert day1.status_code == 200, day1.text
    assert day1.json()["n_leads"] == 1 and day1.json()["leads"][0]["lead_id"] == "A"
    latest = client.get("/v1/handoff", headers=HEADERS).json()
    assert (latest["run_date"], latest["n_leads"]) == ("2026-10-21", 0)
    missing = client.get("/v1/handoff", params={"date": "2026-01-01"}, headers=HEADERS)
    assert missing.status_code == 404 and "2026-01-01" in missing.json()["detail"]
    bad = client.get("/v1/handoff", params={"date": "21/10/2026"}, headers=HEADERS)
    assert bad.status_code == 422


def test_routes_are_declared_in_openapi_with_response_models(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    lead = spec["paths"]["/v1/leads/{lead_id}"]["get"]["responses"]
    assert lead["200"]["content"]["application/json"]["schema"]["$ref"].endswith("LeadRecord")
    assert {"404", "422", "503"} <= set(lead)
    handoff = spec["paths"]["/v1/handoff"]["get"]
    assert handoff["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "HandoffResponse"
    )
    assert handoff["parameters"][0]["name"] == "date"


def test_without_a_store_the_reads_answer_503_naming_the_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no leadscore.db here
    monkeypatch.delenv("LEADSCORE_DB_URL", raising=False)
    app = create_app(Settings(api_keys=SecretStr(KEY)), load_model=False)
    with TestClient(app) as c:
        for path in ("/v1/leads/A", "/v1/handoff"):
            answer = c.get(path, headers=HEADERS)
            assert answer.status_code == 503
            assert "LEADSCORE_DB_URL" in answer.json()["detail"]
    assert not (tmp_path / "leadscore.db").exists()
