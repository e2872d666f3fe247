"""Events as they happen, end to end: the real pipeline's champion (`trained_project`), a real
`leadscore serve` (uvicorn), a real store (SQLite file and PostgreSQL), a real signed-webhook
receiver on loopback, and the real `leadscore daily` afterwards."""

from __future__ import annotations

import json
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from store import Store
from store.events import EventStore
from tests.conftest import Project
from tests.daily_run import daily, ok
from tests.events_fixtures import (
    INGEST_KEY,
    JOURNEY,
    SECRET,
    identify,
    journey,
    serve_env,
    serving,
    settled,
    track,
    wait_for,
)
from tests.store_fixtures import pg_database, store_url
from tests.test_daily_e2e import params_with
from tests.webhook_receiver import WebhookReceiver

__all__ = ["pg_database", "store_url"]  # fixtures, imported for pytest

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

LEAD = "RT-0001"
HANDOFF_WITHIN_S = 2.0


def _bodies(hook: WebhookReceiver, event: str) -> list[dict]:
    return [json.loads(r.body) for r in hook.requests if json.loads(r.body)["event"] == event]


def test_identify_and_tracks_hand_over_once_a_return_alerts_once_replay_and_daily_change_nothing(
    trained_project: Project, store_url: str, tmp_path: Path
) -> None:
    project = trained_project
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=40)
    messages = journey(LEAD, start)
    with WebhookReceiver(secret=SECRET) as hook:
        env = serve_env(project.env, store_url, hook.url)
        with serving(project.root, env, tmp_path / "serve.log") as server, server.client() as c:
            crossed_at = None
            for n, message in enumerate(messages):
                sent = time.monotonic()
                answer = c.post("/v1/events", json=message)
                assert answer.status_code == 200, answer.text
                assert answer.json() == {"success": True, "stored": 1, "duplicates": 0}
                if wait_for(lambda: _bodies(hook, "leadscore.handoff"), HANDOFF_WITHIN_S):
                    crossed_at = n
                    break
            # Not the identify alone: tracked activity pushed the lead over.
            assert crossed_at is not None and crossed_at >= 2, "no hand-off within 2 s of any event"
            handoffs = _bodies(hook, "leadscore.handoff")
            assert len(handoffs) == 1 and handoffs[0]["lead_id"] == LEAD
            got = next(r for r in hook.requests if r.key == f"live-handoff:{LEAD}")
            assert got.signature_ok and got.at - sent <= HANDOFF_WITHIN_S
            record = handoffs[0]["handoff"]
            assert record["score"] >= 0 and record["reasons"] and "activity" in record["activity"]
            handed_at = datetime.fromisoformat(record["handed_at"])
            deadline = datetime.fromisoformat(record["followup_deadline"])
            assert abs((handed_at - datetime.now(UTC)).total_seconds()) < 60  # from now
            assert deadline - handed_at == timedelta(hours=24)  # sla.yaml follow_up_hours

            for message in messages[crossed_at + 1 :]:  # the rest of the journey
                assert c.post("/v1/events", json=message).status_code == 200
            # Back on the site 20 days later (params daily.quiet_days: 14): one alert.
            back = start + timedelta(days=20)
            visit = [track(LEAD, "site_visit", back, 90), track(LEAD, "page_view", back, 91)]
            assert c.post("/v1/events", json={"batch": visit}).json()["stored"] == 2
            assert wait_for(lambda: _bodies(hook, "leadscore.returning"), HANDOFF_WITHIN_S)
            settled(server)
            returning = _bodies(hook, "leadscore.returning")
            assert len(returning) == 1 and returning[0]["returning"]["quiet_days"] >= 14
            assert all(r.signature_ok for r in hook.requests)

            # The same events again (same messageIds): acknowledged, nothing stored or sent.
            everything = [*messages, *visit]
            before = (len(hook.requests), _counts(store_url))
            again = c.post("/v1/events", json={"batch": everything})
            assert again.json() == {"success": True, "stored": 0, "duplicates": len(everything)}
            settled(server)
            time.sleep(1.0)
            assert (len(hook.requests), _counts(store_url)) == before

        # The next daily run reads the same store: it counts the lead (known only from the
        # identify) and does not hand it over again.
        params = params_with(project, tmp_path)
        today = datetime.now(UTC).date().isoformat()
        ok(
            daily(
                project,
                params,
                {
                    "LEADSCORE_DB_URL": store_url,
                    "LEADSCORE_WEBHOOK_URL": hook.url,
                    "LEADSCORE_WEBHOOK_SECRET": SECRET,
                },
                "--as-of",
                today,
            )
        )
        handoff_csv = (tmp_path / "artifacts" / "daily" / today / "handoff.csv").read_text()
        assert LEAD not in handoff_csv
        with Store.open(store_url) as store:
            run_date = store.last_run().run_date
            assert LEAD in set(store.scores(run_date)["lead_id"])
            assert LEAD not in set(store.handoff(run_date)["lead_id"])
        assert len(_bodies(hook, "leadscore.handoff")) == len(
            {b["lead_id"] for b in _bodies(hook, "leadscore.handoff")}
        )
        assert [b for b in _bodies(hook, "leadscore.handoff") if b["lead_id"] == LEAD] == handoffs


def _counts(url: str) -> tuple[int, int, int]:
    with Store.open(url) as store:
        live = EventStore(store)
        return live.count(), len(live.alerts()), len(store.outbox())


def test_an_anonymous_visitor_waits_until_identified_then_joins_the_lead(
    trained_project: Project, tmp_path: Path
) -> None:
    """Events of an anonymous visitor wait in the store (not re-scored, counted as waiting for
    an identify); an identify naming the visitor merges them into the lead."""
    url = f"sqlite:///{tmp_path / 'leadscore.db'}"
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=5)
    visits = [
        {
            **track("x", event, start + timedelta(minutes=n), n),
            "userId": None,
            "anonymousId": "anon-42",
            "messageId": f"anon-{n}",
        }
        for n, event in enumerate(JOURNEY)
    ]
    with WebhookReceiver(secret=SECRET) as hook:
        env = serve_env(trained_project.env, url, hook.url)
        log = tmp_path / "serve.log"
        with serving(trained_project.root, env, log) as server, server.client() as c:
            assert c.post("/v1/events", json={"batch": visits}).json()["stored"] == len(visits)
            status = c.get("/v1/status").json()["events"]
            assert status["waiting_for_identify"] == len(visits) and status["waiting"] == 0
            who = {**identify("RT-0042", start), "anonymousId": "anon-42"}
            assert c.post("/v1/events", json=who).status_code == 200
            settled(server)
            status = c.get("/v1/status").json()["events"]
            assert status["waiting_for_identify"] == 0
    with Store.open(url) as store:
        frame = EventStore(store).events_until(datetime.now(UTC))
        assert (frame["lead_id"] == "RT-0042").sum() == len(visits)


def test_replay_posts_the_simulated_log_in_time_order_and_a_second_replay_stores_nothing(
    trained_project: Project, tmp_path: Path
) -> None:
    """`leadscore events replay` as a user runs it, against a real server: the simulated log's
    first leads (identify at creation, then their events), then the same log again."""
    import pandas as pd

    raw = trained_project.root / "data" / "raw"
    leads = pd.read_parquet(raw / "leads.parquet").head(20)
    events = pd.read_parquet(raw / "events.parquet")
    events = events[events["lead_id"].isin(leads["lead_id"])]
    leads.to_csv(tmp_path / "leads.csv", index=False)
    events.to_csv(tmp_path / "events.csv", index=False)
    url = f"sqlite:///{tmp_path / 'leadscore.db'}"
    with WebhookReceiver(secret=SECRET) as hook:
        env = serve_env(trained_project.env, url, hook.url)
        with serving(trained_project.root, env, tmp_path / "serve.log") as server:
            args = [
                "leadscore",
                "events",
                "replay",
                str(tmp_path / "events.csv"),
                "--url",
                server.base,
                "--leads",
                str(tmp_path / "leads.csv"),
                "--rate",
                "2000",
            ]
            run_env = {**trained_project.env, "LEADSCORE_INGEST_KEY": INGEST_KEY}
            first = subprocess.run(args, env=run_env, capture_output=True, text=True, timeout=300)
            assert first.returncode == 0, first.stderr
            n = len(leads) + len(events)
            assert f"stored {n:,}, duplicates 0" in first.stdout
            settled(server)
            second = subprocess.run(args, env=run_env, capture_output=True, text=True, timeout=300)
            assert f"stored 0, duplicates {n:,}" in second.stdout
    with Store.open(url) as store:
        stored = EventStore(store).events_until(datetime.now(UTC))
    assert len(stored) == len(events)
    # The whole history of each lead is what it was re-scored from: the same events.
    assert stored.groupby("lead_id").size().to_dict() == events.groupby("lead_id").size().to_dict()
