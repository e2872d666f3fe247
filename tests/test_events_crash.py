"""A crash in the middle of a burst of events: the server is SIGKILLed (no shutdown, no flush)
while senders post; after a restart every acknowledged event is in the store, re-scoring catches
up, and every alert due reaches the receiver, once (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx2 as httpx
import pytest

from store import Store
from store.events import EventStore
from tests.conftest import Project
from tests.events_fixtures import SECRET, Server, journey, serve_env, serving, settled, wait_for
from tests.store_fixtures import pg_database, store_url
from tests.webhook_receiver import WebhookReceiver

__all__ = ["pg_database", "store_url"]  # fixtures, imported for pytest

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

N_LEADS = 40
SENDERS = 4
PER_REQUEST = 3


def _burst(
    server: Server, batches: list[list[dict]], acked: set[str], stop: threading.Event
) -> None:
    """Post the batches from SENDERS threads; record the messageIds of every 200."""
    lock = threading.Lock()

    def send(mine: list[list[dict]]) -> None:
        with server.client() as client:
            for batch in mine:
                if stop.is_set():
                    return
                try:
                    answer = client.post("/v1/events", json={"batch": batch})
                except httpx.HTTPError:
                    return  # the server is gone: these were never acknowledged
                if answer.status_code == 200:
                    with lock:
                        acked.update(m["messageId"] for m in batch)

    threads = [
        threading.Thread(target=send, args=(batches[i::SENDERS],), daemon=True)
        for i in range(SENDERS)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)


def test_sigkill_during_a_burst_loses_no_acknowledged_event_and_sends_each_alert_once(
    trained_project: Project, store_url: str, tmp_path: Path
) -> None:
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=30)
    messages = [m for i in range(N_LEADS) for m in journey(f"RT-K{i:03d}", start)]
    # Each lead's messages in order, leads interleaved: a burst from many prospects at once.
    by_lead = [messages[i : i + 6] for i in range(0, len(messages), 6)]
    batches = [lead[j : j + PER_REQUEST] for j in range(0, 6, PER_REQUEST) for lead in by_lead]
    acked: set[str] = set()
    log = tmp_path / "serve.log"
    with WebhookReceiver(secret=SECRET) as hook:
        env = serve_env(trained_project.env, store_url, hook.url)
        with serving(trained_project.root, env, log) as server:
            stop = threading.Event()
            burst = threading.Thread(target=_burst, args=(server, batches, acked, stop))
            burst.start()
            # Kill once part of the burst is acknowledged (and alerts are on their way).
            assert wait_for(lambda: len(acked) >= len(messages) // 3, 60, 0.01)
            server.kill()
            stop.set()
            burst.join(60)
        assert 0 < len(acked) < len(messages)
        with Store.open(store_url) as store:
            stored = EventStore(store).message_ids()
        assert acked <= stored, f"acknowledged but lost: {sorted(acked - stored)[:5]}"

        with serving(trained_project.root, env, log) as server, server.client() as client:
            # The senders retry what was not acknowledged (a repeat of a stored one is a duplicate).
            for batch in batches:
                if not {m["messageId"] for m in batch} <= acked:
                    assert client.post("/v1/events", json={"batch": batch}).status_code == 200
            settled(server, timeout_s=120)

        with Store.open(store_url) as store:
            live = EventStore(store)
            assert live.message_ids() == {m["messageId"] for m in messages}
            alerts = live.alerts()
            outbox = store.outbox()
    handoffs = alerts[alerts["kind"] == "handoff"]
    assert len(handoffs) > 0 and handoffs["lead_id"].is_unique  # each lead handed over once
    keys = set(alerts["key"])
    assert set(outbox.loc[outbox["status"] == "delivered", "key"]) >= keys
    assert set(hook.processed_keys()) == keys  # every alert due, delivered
    for key in keys:  # at most a resend of one in flight at the kill, same key (deduplicated)
        assert len(hook.requests_for(key)) <= 2, key
    assert all(r.signature_ok for r in hook.requests)
