"""Delivery that no one item and no one receiver can stop or stretch (issue 31), against real
receivers on loopback and real SQLite and PostgreSQL stores: odd lead ids are delivered with a
recoverable key, an item the receiver keeps failing on does not hold later ones, Retry-After is
capped, a huge answer is not read, and a trickling answer ends at the request deadline, so two
senders never have one item in flight at once."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, date, datetime, timedelta

import pandas as pd

from delivery import deliver_pending
from delivery.keys import header_key, key_from_header
from delivery.sender import _lease_s
from foundation.params import DeliveryParams
from store import OutboxItem, RunRecord, Store, outbox_key
from tests.misbehaving_receiver import (
    EndlessBody,
    MisbehavingReceiver,
    headers_only,
    trickle,
)
from tests.store_fixtures import pg_database, store_url
from tests.webhook_receiver import WebhookReceiver, whsec_for

__all__ = ["pg_database", "store_url"]  # fixtures, imported for pytest

SECRET = whsec_for("bounds-9c1e")
DAY = date(2026, 10, 21)
NOW = datetime(2026, 10, 21, 6, 0, tzinfo=UTC)
FAST = DeliveryParams(
    timeout_s=5, attempts_per_run=3, backoff_base_s=0.02, backoff_cap_s=0.1, retry_base_s=300
)
ODD_IDS = ["PZ-Müller-😀", "PZ-line\nbreak", "PZ-100%/a b", "L-plain"]


def queue(store: Store, leads: list[str], day: date = DAY) -> list[str]:
    at = datetime.combine(day, NOW.timetz())
    run = RunRecord(day, at, at, "lead-propensity", "3", 0.3, len(leads), len(leads), 0, 0, 0, {})
    scores = pd.DataFrame({"lead_id": leads, "probability": 0.8, "score": 80, "decision": "mql"})
    items = [OutboxItem.new(day, i, {"lead_id": i, "score": 80}, at) for i in leads]
    store.save_run(run, scores, None, None, items)
    return [outbox_key(day, i) for i in leads]


def test_header_key_is_ascii_and_gives_back_the_exact_key() -> None:
    for lead in [*ODD_IDS, "a:b", "%41", " spaced "]:
        key = outbox_key(DAY, lead)
        header = header_key(key)
        assert header.isascii() and "\n" not in header and " " not in header
        assert key_from_header(header) == key
    assert header_key("2026-10-21:L004211") == "2026-10-21:L004211"  # ordinary ids unchanged


def test_odd_lead_ids_are_delivered_and_the_next_day_too(store_url: str) -> None:
    with Store.open(store_url) as store, WebhookReceiver(SECRET) as hook:
        first = queue(store, ODD_IDS)
        report = deliver_pending(store, hook.url, SECRET, NOW, policy=FAST)
        assert (report.delivered, report.pending, report.failed_permanent) == (4, 0, 0)
        assert hook.processed_keys() == sorted(first)  # the receiver recovered each exact key
        bodies = [json.loads(r.body) for r in hook.requests]
        assert sorted(b["lead_id"] for b in bodies) == sorted(ODD_IDS)
        pairs = zip(bodies, hook.requests, strict=True)
        assert all(b["idempotency_key"] == r.key for b, r in pairs)

        later = NOW + timedelta(days=1)
        second = queue(store, ["L-next-1", "L-next-2"], DAY + timedelta(days=1))
        report = deliver_pending(store, hook.url, SECRET, later, policy=FAST)
        assert report.delivered == 2
        assert hook.processed_keys() == sorted(first + second)
        assert store.outbox_counts() == {"pending": 0, "delivered": 6, "failed-permanent": 0}


def test_an_item_the_receiver_keeps_failing_does_not_hold_up_later_ones(store_url: str) -> None:
    poison = {"L-poison": (500, '{"error":"boom"}')}
    with Store.open(store_url) as store, WebhookReceiver(SECRET, status_for_lead=poison) as hook:
        (bad,) = queue(store, ["L-poison"])
        report = deliver_pending(store, hook.url, SECRET, NOW, policy=FAST)
        assert report.retry_later == 1
        later = NOW + timedelta(days=1)  # the poison item is due again, and older
        fresh = queue(store, ["L4", "L5"], DAY + timedelta(days=1))
        report = deliver_pending(store, hook.url, SECRET, later, policy=FAST)
        assert report.delivered == 2 and report.retry_later == 1
        assert hook.processed_keys() == sorted(fresh)
        item = store.outbox_item(bad)
        assert item is not None and item.status == "pending" and item.attempts == 6


def test_retry_after_far_away_waits_at_most_retry_cap(store_url: str) -> None:
    policy = FAST.model_copy(update={"attempts_per_run": 1})
    for value in ("999999999", "Fri, 01 Jan 2100 00:00:00 GMT"):
        answer = headers_only("503 Service Unavailable", f"Retry-After: {value}")
        with Store.open(store_url) as store, MisbehavingReceiver(answer) as hook:
            (key,) = queue(store, [f"L-{len(value)}"])
            before = datetime.now(UTC)
            report = deliver_pending(store, hook.url, SECRET, policy=policy)
            assert report.retry_later == 1
            item = store.outbox_item(key)
            assert item is not None and item.next_attempt_at is not None
            cap = timedelta(seconds=policy.retry_cap_s)
            assert item.next_attempt_at <= datetime.now(UTC) + cap
            assert item.next_attempt_at >= before + cap - timedelta(minutes=1)


def test_a_300_mb_answer_is_not_read(store_url: str) -> None:
    """The sender stops reading: the receiver could hand over only what the socket buffers
    hold (a few MB), not the 300 MB it offered. (Memory: benchmarks/delivery_bounds_bench.py.)"""
    size = 300 * 1024 * 1024
    for status, outcome in (("200 OK", "delivered"), ("500 Internal Server Error", "pending")):
        policy = FAST.model_copy(update={"attempts_per_run": 1})
        answer = EndlessBody(status, size)
        with Store.open(store_url) as store, MisbehavingReceiver(answer) as hook:
            (key,) = queue(store, [f"L-{status[:3]}"])
            deliver_pending(store, hook.url, SECRET, NOW, policy=policy)
            item = store.outbox_item(key)
            assert item is not None and item.status == outcome
            time.sleep(0.2)  # the receiver notices the hang-up
            assert answer.sent < 32 * 1024 * 1024, f"{status}: {answer.sent / 2**20:.0f} MiB read"
            if status.startswith("500"):
                assert item.last_error is not None and len(item.last_error) <= 320


def test_a_trickling_answer_ends_at_the_request_deadline(store_url: str) -> None:
    policy = FAST.model_copy(update={"attempts_per_run": 1, "request_deadline_s": 1.0})
    ok = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
    with Store.open(store_url) as store, MisbehavingReceiver(trickle(ok, 0.25)) as hook:
        (key,) = queue(store, ["L-trickle"])
        report = deliver_pending(store, hook.url, SECRET, NOW, policy=policy)
        # 38 bytes at 0.25 s each would take 9.5 s, every read well within timeout_s (5 s):
        # only the whole-request deadline ends it.
        assert report.retry_later == 1
        item = store.outbox_item(key)
        assert item is not None
        assert item.last_error == "timeout: no complete answer within 1 s"


def test_two_senders_never_have_one_item_in_flight_at_once(store_url: str) -> None:
    """The second sender starts once the first one's lease has ended (its clock moved past the
    lease, as a sender running later would see it): by then the first has given up its POST."""
    policy = FAST.model_copy(
        update={"attempts_per_run": 1, "request_deadline_s": 1.0, "retry_base_s": 0}
    )
    ok = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
    with Store.open(store_url) as store, MisbehavingReceiver(trickle(ok, 0.25)) as hook:
        (key,) = queue(store, ["L-trickle"])

        def first_sender() -> None:
            with Store.open(store_url) as own:
                deliver_pending(own, hook.url, SECRET, policy=policy)

        first = threading.Thread(target=first_sender)
        first.start()
        deadline = time.monotonic() + 10
        while not hook.visits_for(key) and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(1.5)  # real time past the first POST's deadline
        past_lease = datetime.now(UTC) + timedelta(seconds=_lease_s(policy) + 1)
        deliver_pending(store, hook.url, SECRET, past_lease, policy=policy)
        first.join(30)
        time.sleep(0.5)  # the receiver notices the last hang-up
        visits = sorted(hook.visits_for(key), key=lambda v: v.started)
        assert len(visits) == 2
        assert visits[0].ended is not None and visits[0].ended <= visits[1].started, (
            "the first sender was still sending when the second one sent the same item"
        )
