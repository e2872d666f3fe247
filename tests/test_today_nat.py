"""The Today page of a day whose stored hand-off lacks a follow-up deadline (a hand-off written
by an older or another writer: `followup_deadline` NULL, read back as NaT) answers 200 and shows
an empty "Call by" cell; it answered 500 ("NaTType does not support strftime")."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from serve.app import create_app
from serve.settings import Settings
from store import RunRecord, Store
from tests.test_dashboard_session import ROOT, VIEWER, sign_in

DAY = date(2026, 10, 21)


@pytest.fixture()
def client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    monkeypatch.chdir(tmp_path)
    url = f"sqlite:///{tmp_path / 'store.db'}"
    monkeypatch.setenv("LEADSCORE_DB_URL", url)
    at = datetime.combine(DAY, datetime.min.time(), tzinfo=UTC)
    leads = ["L-no-deadline", "L-deadline"]
    with Store.open(url) as store:
        run = RunRecord(DAY, at, at, "m", "1", 0.3, 2, 2, 2, 0, 1)
        scores = pd.DataFrame(
            {"lead_id": leads, "probability": 0.8, "score": 80, "decision": "mql"}
        )
        handoff = pd.DataFrame(
            {
                "lead_id": leads,
                "handed_at": at,
                "followup_deadline": [None, at + pd.Timedelta(hours=24)],
                "payload": [{"lead_id": i, "score": 80} for i in leads],
            }
        )
        flags = pd.DataFrame(
            {
                "lead_id": ["L-old"],
                "kind": ["overdue"],
                "payload": [{"lead_id": "L-old", "handed_on": "2026-10-01"}],  # no deadline
            }
        )
        store.save_run(run, scores, handoff, flags)
    settings = Settings(
        api_keys=SecretStr(f"viewer:{VIEWER}"),
        session_secret=SecretStr("s" * 32),
        params_path=ROOT / "params.yaml",
        sla_path=ROOT / "sla.yaml",
        personas_path=ROOT / "personas.yaml",
    )
    with TestClient(create_app(settings, load_model=False), follow_redirects=False) as c:
        yield c


def test_today_page_with_a_hand_off_lacking_a_deadline_answers_200(client: TestClient) -> None:
    sign_in(client, VIEWER)
    page = client.get("/dashboard")
    assert page.status_code == 200, page.text[:2000]
    assert "L-no-deadline" in page.text and "2026-10-22 00:00" in page.text
    assert "NaT" not in page.text
    csv = client.get("/dashboard/today/handoff.csv")
    assert csv.status_code == 200 and "L-no-deadline" in csv.text
