"""The day's summary (daily/summary.py) and GET /v1/summary over a real store (SQLite and
PostgreSQL): month targets frozen once per month with the agreement version, hand-off MQLs
counted from the store, open leads from the run; viewers read it, scorers do not."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from daily.frozen_targets import targets_for_month
from serve.app import create_app
from serve.settings import Settings
from sla.targets import Targets, targets_from_figures
from store import RunRecord, Store
from tests.store_fixtures import pg_database, store_url

__all__ = ["pg_database", "store_url"]  # fixtures, imported for pytest

VIEWER, SCORER = "viewer-summary-key-01", "scorer-summary-key-02"
OCT = "2026-10"
RECAP = {
    "month": OCT,
    "as_of": "2026-10-21T00:00:00+00:00",
    "metrics": {
        "leads": {"actual": 180.0, "projected": 260.0},
        "mqls": {"actual": 61.0, "projected": 90.0},
        "sqls": {"actual": 20.0, "projected": 29.0},
        "customers": {"actual": 3.0, "projected": 4.0},
        "revenue_eur": {"actual": 41000.0, "projected": 58000.0},
    },
    "follow_up": {"hours": 24, "agreed_compliance": 0.9, "mqls_due": 58, "mqls_on_time": 50},
}


def targets(goal: float) -> Targets:
    return targets_from_figures(goal, 12_000, 0.02)


def save_day(store: Store, day: date, open_ids: list[str], handed: list[str]) -> None:
    at = datetime(day.year, day.month, day.day, tzinfo=UTC)
    run = RunRecord(
        day, at, at, "lead-propensity", "3", 7.0, len(open_ids), 2, len(handed), 0, 1, RECAP
    )
    scores = pd.DataFrame(
        {
            "lead_id": open_ids,
            "probability": 0.1,
            "score": 10,
            "decision": "nurture",
        }
    )
    handoff = pd.DataFrame(
        {
            "lead_id": handed,
            "handed_at": [at] * len(handed),
            "followup_deadline": [at + pd.Timedelta(hours=24)] * len(handed),
            "payload": [{"lead_id": i} for i in handed],
        }
    )
    store.save_run(run, scores, handoff, None, [])


@pytest.fixture
def client(store_url: str) -> TestClient:
    with Store.open(store_url) as store:
        # The first run freezes 60k EUR of targets; a later sla.yaml (120k) does not move them.
        targets_for_month(
            store, OCT, "v-first", lambda: targets(60_000), datetime(2026, 10, 2, tzinfo=UTC)
        )
        _, _, note = targets_for_month(
            store, OCT, "v-second", lambda: targets(120_000), datetime(2026, 10, 21, tzinfo=UTC)
        )
        assert note and "apply from next month" in note
        save_day(store, date(2026, 10, 1), ["S1"], ["S1"])  # reports September: not October's
        save_day(store, date(2026, 10, 20), ["A", "B", "C"], ["A", "B"])
        save_day(store, date(2026, 10, 21), ["A", "B", "C", "D"], ["B", "C"])  # B again: once
    keys = SecretStr(f"viewer:{VIEWER},scorer:{SCORER}")
    app = create_app(Settings(api_keys=keys, db_url=store_url), load_model=False)
    with TestClient(app) as c:
        yield c


def test_summary_gives_the_frozen_targets_hand_off_mqls_and_open_leads_of_the_day(
    client: TestClient,
) -> None:
    answer = client.get("/v1/summary", params={"date": "2026-10-21"}, headers={"X-API-Key": VIEWER})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    first = targets(60_000)
    assert body["targets"]["mqls"] == first.mqls_needed
    assert body["targets"]["leads"] == first.leads_needed
    assert body["targets"]["agreement_version"] == "v-first"
    assert body["month"] == OCT and body["open_leads"] == 4
    assert body["month_to_date"]["mqls_crm"] == 61
    assert body["month_to_date"]["mqls_handoff"] == 3  # A, B, C; not September's S1
    assert set(body["definitions"]) >= {"mqls_crm", "mqls_handoff", "open_leads", "targets"}
    latest = client.get("/v1/summary", headers={"X-API-Key": VIEWER}).json()
    assert latest == body


def test_summary_is_for_viewers_and_says_what_is_wrong_with_a_request(client: TestClient) -> None:
    assert client.get("/v1/summary").status_code == 401
    assert client.get("/v1/summary", headers={"X-API-Key": SCORER}).status_code == 403
    bad = client.get("/v1/summary", params={"date": "21/10/2026"}, headers={"X-API-Key": VIEWER})
    assert bad.status_code == 422 and "date" in bad.text
    none = client.get("/v1/summary", params={"date": "2026-01-05"}, headers={"X-API-Key": VIEWER})
    assert none.status_code == 404 and "2026-01-05" in none.json()["detail"]


def test_a_month_without_computable_targets_freezes_nothing_and_tries_again(store_url: str) -> None:
    at = datetime(2026, 11, 2, tzinfo=UTC)
    with Store.open(store_url) as store:
        assert targets_for_month(store, "2026-11", "v", lambda: None, at) == (None, None, None)
        got, frozen, note = targets_for_month(store, "2026-11", "v", lambda: targets(60_000), at)
        assert got == targets(60_000) and frozen.agreement_version == "v" and note is None
