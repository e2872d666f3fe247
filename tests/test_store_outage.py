"""A database outage answers 503 everywhere, with no infrastructure detail (issue 31, low
finding): the dashboard no longer answers 500, and `/v1` no longer quotes the database host and
port. A real PostgreSQL database is taken away under a running app (connections refused and
cut), and a store URL where nothing listens is opened cold."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy.engine import make_url

from serve.app import create_app
from serve.settings import Settings
from tests.live_server import free_port
from tests.store_fixtures import DEFAULT_PG_URL, PG_URL_ENV, _libpq, pg_database
from tests.test_dashboard_csv_date import store_two_days
from tests.test_dashboard_session import ROOT, sign_in
from tests.webhook_receiver import whsec_for

__all__ = ["pg_database"]  # fixture, imported for pytest

VIEWER, SCORER = "viewer-key-outage-1", "scorer-key-outage-2"
LEAKS = re.compile(r"127\.0\.0\.1|5432|localhost|psycopg|connection to server", re.I)


def app_on(url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> TestClient:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LEADSCORE_DB_URL", url)
    settings = Settings(
        api_keys=SecretStr(f"viewer:{VIEWER},scorer:{SCORER}"),
        session_secret=SecretStr("s" * 32),
        params_path=ROOT / "params.yaml",
        sla_path=ROOT / "sla.yaml",
        personas_path=ROOT / "personas.yaml",
        db_url=url,
    )
    return TestClient(create_app(settings, load_model=False), follow_redirects=False)


def assert_outage(answer, path: str) -> None:
    assert answer.status_code == 503, (path, answer.status_code, answer.text[:300])
    assert answer.headers.get("retry-after")
    assert not LEAKS.search(answer.text), (path, answer.text)


@pytest.fixture()
def own_database(pg_database: str) -> Iterator[str]:
    """A PostgreSQL database of this test's own, which it may take away."""
    import os

    admin_url = os.environ.get(PG_URL_ENV, DEFAULT_PG_URL)
    name = f"leadscore_outage_{secrets.token_hex(4)}"
    with psycopg.connect(_libpq(admin_url), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield make_url(pg_database).set(database=name).render_as_string(False)
        finally:
            admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def take_away(url: str) -> None:
    import os

    name = make_url(url).database
    admin_url = os.environ.get(PG_URL_ENV, DEFAULT_PG_URL)
    with psycopg.connect(_libpq(admin_url), autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", [name]
        )


def test_postgresql_lost_under_a_running_app_is_503_everywhere_without_detail(
    own_database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store_two_days(own_database)
    with app_on(own_database, tmp_path, monkeypatch) as client:
        sign_in(client, VIEWER)
        assert client.get("/dashboard").status_code == 200
        assert client.get("/v1/handoff", headers={"X-API-Key": SCORER}).status_code == 200
        take_away(own_database)
        # A date not shown yet: not from the page cache.
        path = "/dashboard?date=2026-10-20"
        assert_outage(client.get(path), path)
        for path in ("/v1/leads/L-past-1", "/v1/handoff"):
            assert_outage(client.get(path, headers={"X-API-Key": SCORER}), path)


def test_a_store_nobody_answers_is_503_from_the_first_request(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/leadscore"
    with app_on(url, tmp_path, monkeypatch) as client:
        sign_in(client, VIEWER)
        assert_outage(client.get("/dashboard"), "/dashboard")
        answer = client.get("/v1/leads/L1", headers={"X-API-Key": SCORER})
        assert_outage(answer, "/v1/leads/L1")


def test_database_lost_mid_delivery_is_one_line_and_the_item_is_sent_again(
    own_database: str, tmp_path: Path
) -> None:
    """`leadscore deliver` with PostgreSQL taken away while a POST is in flight (the receiver
    takes it away, then answers 200): one error line and exit 2, not a traceback; once the
    database is back, the item is sent again with the same key and recorded."""
    import os
    import subprocess
    from datetime import UTC, date, datetime

    import pandas as pd

    from store import OutboxItem, RunRecord, Store
    from tests.misbehaving_receiver import MisbehavingReceiver

    day = date(2026, 10, 21)
    at = datetime(2026, 10, 21, 6, tzinfo=UTC)
    with Store.open(own_database) as store:
        run = RunRecord(day, at, at, "m", "1", 0.3, 1, 1, 1, 0, 0, {})
        scores = pd.DataFrame(
            {"lead_id": ["L1"], "probability": 0.8, "score": 80, "decision": "mql"}
        )
        store.save_run(run, scores, None, None, [OutboxItem.new(day, "L1", {"lead_id": "L1"}, at)])

    def lose_the_database_then_accept(conn) -> None:
        take_away(own_database)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")

    env = {
        **os.environ,
        "LEADSCORE_DB_URL": own_database,
        "LEADSCORE_WEBHOOK_SECRET": whsec_for("outage"),
    }
    with MisbehavingReceiver(lose_the_database_then_accept) as hook:
        done = subprocess.run(
            ["leadscore", "deliver", "--url", hook.url, "--params", str(ROOT / "params.yaml")],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert "the store of record became unreachable" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1

    name = make_url(own_database).database
    admin_url = os.environ.get(PG_URL_ENV, DEFAULT_PG_URL)
    with psycopg.connect(_libpq(admin_url), autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
    with Store.open(own_database) as store:
        item = store.outbox_item(f"{day.isoformat()}:L1")
        assert item is not None and item.status == "pending"  # the 200 was never recorded
        lease_end = item.next_attempt_at
    with MisbehavingReceiver(
        lambda conn: conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
    ) as hook:
        from delivery import deliver_pending

        with Store.open(own_database) as store:
            report = deliver_pending(store, hook.url, whsec_for("outage"), lease_end)
            assert report.delivered == 1
        assert [v.key for v in hook.visits] == [f"{day.isoformat()}:L1"]
