"""The dashboard's CSV buttons download the tables of the date shown (issue 31, finding 9: on a
past date the table showed 54 hand-offs and its CSV 5, today's). In-process app, a real SQLite
store holding two days."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from serve.app import create_app
from serve.settings import Settings
from store import RunRecord, Store
from tests.test_dashboard_session import ROOT, VIEWER, sign_in

PAST, LATEST = date(2026, 10, 20), date(2026, 10, 21)
HANDED = {PAST: [f"L-past-{i}" for i in range(6)], LATEST: ["L-latest-1", "L-latest-2"]}


def store_two_days(url: str) -> None:
    with Store.open(url) as store:
        for day, leads in HANDED.items():
            at = datetime.combine(day, datetime.min.time(), tzinfo=UTC)
            run = RunRecord(day, at, at, "m", "1", 0.3, len(leads), len(leads), len(leads), 0, 0)
            scores = pd.DataFrame(
                {"lead_id": leads, "probability": 0.8, "score": 80, "decision": "mql"}
            )
            handoff = pd.DataFrame(
                {
                    "lead_id": leads,
                    "handed_at": at,
                    "followup_deadline": at + timedelta(hours=24),
                    "payload": [{"lead_id": i, "score": 80, "reasons": ["demo"]} for i in leads],
                }
            )
            store.save_run(run, scores, handoff, None)


@pytest.fixture()
def client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    monkeypatch.chdir(tmp_path)
    url = f"sqlite:///{tmp_path / 'store.db'}"
    monkeypatch.setenv("LEADSCORE_DB_URL", url)
    store_two_days(url)
    settings = Settings(
        api_keys=SecretStr(f"viewer:{VIEWER}"),
        session_secret=SecretStr("s" * 32),
        params_path=ROOT / "params.yaml",
        sla_path=ROOT / "sla.yaml",
        personas_path=ROOT / "personas.yaml",
    )
    with TestClient(create_app(settings, load_model=False), follow_redirects=False) as c:
        yield c


def test_csv_buttons_of_a_past_date_download_that_dates_tables(client: TestClient) -> None:
    sign_in(client, VIEWER)
    for day, query in ((PAST, f"?date={PAST.isoformat()}"), (LATEST, "")):
        page = client.get(f"/dashboard{query}")
        assert page.status_code == 200
        links = re.findall(r'<a class="csv" href="([^"]+)"', page.text)
        assert links, "the Today page should offer CSV downloads"
        assert all(link.endswith(query.replace("&", "&amp;")) for link in links), links
        handoff = [link for link in links if "handoff" in link]
        assert handoff, links
        answer = client.get(handoff[0].replace("&amp;", "&"))
        assert answer.status_code == 200
        rows = list(csv.reader(io.StringIO(answer.text)))[1:]
        shown = {cell for row in rows for cell in row}
        assert set(HANDED[day]) <= shown
        other = LATEST if day == PAST else PAST
        assert not set(HANDED[other]) & shown
