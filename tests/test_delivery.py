"""Webhook delivery against a real HTTP receiver on loopback, on SQLite and PostgreSQL stores:
refusals retried, every hand-off processed exactly once by Idempotency-Key, signatures verify,
a crash between sending and recording the acknowledgement ends in a deduplicated re-send."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import socket
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from delivery import deliver_pending, sign, signed_headers, verify_signature
from delivery.signing import verify_headers
from foundation.params import DeliveryParams
from pipeline.cli import app
from store import OutboxItem, RunRecord, Store, outbox_key
from tests.store_fixtures import pg_database, store_url
from tests.webhook_receiver import WebhookReceiver, whsec_for

__all__ = ["pg_database", "store_url"]  # fixtures, imported for pytest

ROOT = Path(__file__).resolve().parents[1]
SECRET = whsec_for("test-4d2f")
DAY = date(2026, 10, 21)
NOW = datetime(2026, 10, 21, 6, 0, tzinfo=UTC)
LEADS = ["L1", "L2", "L3"]
# Fast retries for tests; the shape (attempts per run, doubling, caps) is the production one.
FAST = DeliveryParams(
    timeout_s=5, attempts_per_run=3, backoff_base_s=0.02, backoff_cap_s=0.1, retry_base_s=300
)


def queue_handoff(store: Store, leads: list[str] = LEADS, day: date = DAY) -> list[str]:
    """Store a run whose hand-off is `leads`, queuing one outbox item each; return the keys."""
    run = RunRecord(
        day, NOW, NOW, "lead-propensity", "3", 0.3, len(leads), len(leads), len(leads), 0, 0, {}
    )
    scores = pd.DataFrame({"lead_id": leads, "probability": 0.8, "score": 80, "decision": "mql"})
    handoff = pd.DataFrame(
        {
            "lead_id": leads,
            "handed_at": NOW,
            "payload": [{"lead_id": i, "score": 80, "reasons": ["pricing page x3"]} for i in leads],
        }
    )
    items = [OutboxItem.new(day, i, {"lead_id": i, "score": 80}, NOW) for i in leads]
    store.save_run(run, scores, handoff, None, items)
    return [outbox_key(day, i) for i in leads]


# ----------------------------------------------------------------------------- signing
def test_signature_is_hmac_sha256_over_timestamp_dot_body() -> None:
    body = b'{"lead_id":"L1"}'
    expected = hmac.new(SECRET.encode(), b"1761026400." + body, hashlib.sha256).hexdigest()
    assert sign(SECRET, 1761026400, body) == f"sha256={expected}"


def test_verify_signature_refuses_tampering_replays_and_wrong_secrets() -> None:
    body = b'{"lead_id":"L1","score":80}'
    headers = signed_headers(SECRET, body, "2026-10-21:L1", timestamp=1_000_000)
    ts, sig = headers["X-Leadscore-Timestamp"], headers["X-Leadscore-Signature"]
    assert verify_signature(SECRET, body, ts, sig, now=1_000_010)
    assert verify_headers(SECRET, body, {k.lower(): v for k, v in headers.items()}, now=1_000_010)
    assert not verify_signature(SECRET, body.replace(b"80", b"99"), ts, sig, now=1_000_010)
    assert not verify_signature(SECRET, body, ts, sig, now=1_000_000 + 301)  # replayed late
    assert not verify_signature("other", body, ts, sig, now=1_000_010)
    assert not verify_signature(SECRET, body, "not-a-time", sig, now=1_000_010)
    assert not verify_signature(SECRET, body, ts, None, now=1_000_010)
    # Rotation: the receiver accepts old and new secret; several signatures may be offered.
    assert verify_signature(["new", SECRET], body, ts, sig, now=1_000_010)
    assert verify_signature(SECRET, body, ts, f"sha256=00ff, {sig}", now=1_000_010)


def test_backoff_doubles_up_to_its_cap_and_retry_after_is_read_in_both_forms() -> None:
    from delivery.bounded_post import retry_after_s
    from delivery.sender import _backoff

    assert [_backoff(n, 1, 30) for n in range(1, 8)] == [1, 2, 4, 8, 16, 30, 30]
    assert retry_after_s({"retry-after": "120"}, cap_s=3600) == 120
    in_a_minute = datetime.now(UTC) + timedelta(seconds=60)
    when = in_a_minute.strftime("%a, %d %b %Y %H:%M:%S GMT")
    assert 55 <= retry_after_s({"retry-after": when}, cap_s=3600) <= 61  # type: ignore[operator]
    assert retry_after_s({"retry-after": "soon"}, cap_s=3600) is None
    assert retry_after_s({}, cap_s=3600) is None


def test_retry_after_is_capped_at_the_documented_longest_wait() -> None:
    from delivery.bounded_post import retry_after_s

    six_hours = DeliveryParams().retry_cap_s
    assert six_hours == 6 * 3600
    assert retry_after_s({"retry-after": "999999999"}, cap_s=six_hours) == six_hours
    far = "Fri, 01 Jan 2100 00:00:00 GMT"
    assert retry_after_s({"retry-after": far}, cap_s=six_hours) == six_hours
    assert retry_after_s({"retry-after": "-5"}, cap_s=six_hours) == 0
    assert retry_after_s({"retry-after": "nan"}, cap_s=six_hours) is None


# ----------------------------------------------------------------------------- delivery
def test_receiver_refusing_twice_gets_every_handoff_exactly_once_signed(store_url: str) -> None:
    with Store.open(store_url) as store, WebhookReceiver(SECRET, refuse_first=2) as hook:
        keys = queue_handoff(store)
        waits: list[float] = []

        def sleep(seconds: float) -> None:  # the real wait, recorded
            waits.append(seconds)
            time.sleep(seconds)

        report = deliver_pending(store, hook.url, SECRET, NOW, policy=FAST, sleep=sleep)

        assert (report.delivered, report.pending, report.failed_permanent) == (3, 0, 0)
        assert waits == [0.02, 0.04]  # base x 2^(n-1) between tries
        assert report.attempts == 5  # 503, 503, then three acceptances
        assert hook.processed_keys() == sorted(keys)
        assert all(r.signature_ok for r in hook.requests)
        assert [r.status for r in hook.requests] == [503, 503, 200, 200, 200]
        first = store.outbox_item(keys[0])
        assert first is not None and (first.status, first.attempts) == ("delivered", 3)
        assert first.acknowledged_at is not None and first.acknowledged_at >= NOW
        body = json.loads(hook.requests[-1].body)
        assert body["event"] == "leadscore.handoff"
        assert body["idempotency_key"] == keys[-1] and body["handoff"]["lead_id"] == "L3"

        # Acknowledged means never again: another run and a re-run of the day send nothing.
        queue_handoff(store)
        again = deliver_pending(store, hook.url, SECRET, NOW + timedelta(days=1), policy=FAST)
        assert again.attempts == 0
        assert len(hook.requests) == 5


def test_a_receiver_that_stays_down_loses_nothing(store_url: str) -> None:
    with Store.open(store_url) as store, WebhookReceiver(SECRET, refuse_first=10) as hook:
        keys = queue_handoff(store)
        report = deliver_pending(store, hook.url, SECRET, NOW, policy=FAST)
        # The first item used its attempts; the others wait for the next run untouched.
        assert (report.delivered, report.retry_later, report.not_tried) == (0, 1, 2)
        assert len(hook.requests) == FAST.attempts_per_run
        first = store.outbox_item(keys[0])
        assert first is not None and first.status == "pending" and first.attempts == 3
        assert first.last_error is not None and first.last_error.startswith("HTTP 503")
        assert first.next_attempt_at is not None
        assert first.next_attempt_at >= NOW + timedelta(seconds=FAST.retry_base_s)

        # Before it is due, a run skips it; the receiver recovers; later everything arrives.
        hook.refuse_first = 0
        soon = deliver_pending(store, hook.url, SECRET, NOW + timedelta(seconds=1), policy=FAST)
        assert soon.delivered == 2 and store.outbox_item(keys[0]).status == "pending"  # type: ignore[union-attr]
        later = deliver_pending(store, hook.url, SECRET, NOW + timedelta(hours=1), policy=FAST)
        assert later.delivered == 1
        assert hook.processed_keys() == sorted(keys)
        assert store.outbox_counts() == {"pending": 0, "delivered": 3, "failed-permanent": 0}


def test_a_4xx_is_failed_permanent_and_a_dead_port_stays_pending(store_url: str) -> None:
    refusal = (422, '{"error":"email is required"}')
    with (
        Store.open(store_url) as store,
        WebhookReceiver(SECRET, status_for_lead={"L2": refusal, "L3": (429, "slow down")}) as hook,
    ):
        keys = queue_handoff(store)
        report = deliver_pending(store, hook.url, SECRET, NOW, policy=FAST)
        assert (report.delivered, report.failed_permanent, report.retry_later) == (1, 1, 1)
        failed = store.outbox_item(keys[1])
        assert failed is not None and failed.status == "failed-permanent"
        assert failed.last_error == 'HTTP 422: {"error":"email is required"}'
        assert failed.attempts == 1  # a 4xx is not retried within the run
        throttled = store.outbox_item(keys[2])
        assert throttled is not None and throttled.status == "pending"  # 429 is transient

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}/hook"
    with Store.open(store_url) as store:
        later = NOW + timedelta(days=1)
        report = deliver_pending(store, dead, SECRET, later, policy=FAST)
        assert report.retry_later == 1 and report.delivered == 0
        item = store.outbox_item(keys[2])
        assert item is not None and item.status == "pending"
        assert item.last_error is not None and item.last_error.startswith("connection error")


@pytest.mark.e2e
def test_a_crash_between_sending_and_recording_ends_in_a_deduplicated_resend(
    store_url: str,
) -> None:
    with Store.open(store_url) as store:
        keys = queue_handoff(store)
    with WebhookReceiver(SECRET, stall_first=True) as hook:
        # A real sender process, killed (SIGKILL) after the receiver took the first hand-off and
        # before its answer came back: the acknowledgement is never recorded.
        script = (
            "import sys\n"
            "from datetime import datetime\n"
            "from delivery import deliver_pending\n"
            "from store import Store\n"
            "from foundation.params import DeliveryParams\n"
            "with Store.open(sys.argv[1]) as store:\n"
            "    deliver_pending(store, sys.argv[2], sys.argv[3],\n"
            "                    datetime.fromisoformat(sys.argv[4]), policy=DeliveryParams())\n"
        )
        sender = subprocess.Popen(
            [sys.executable, "-c", script, store_url, hook.url, SECRET, NOW.isoformat()],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        try:
            assert hook.got_request.wait(30), "the sender never reached the receiver"
            sender.kill()
            assert sender.wait(10) != 0
        finally:
            if sender.poll() is None:
                sender.kill()
        hook.release.set()
        time.sleep(0.05)

        with Store.open(store_url) as store:
            crashed = store.outbox_item(keys[0])
            assert crashed is not None and crashed.status == "pending"
            assert crashed.acknowledged_at is None
            assert hook.processed_keys() == [keys[0]]  # the receiver did act on it

            # The dead sender's claim holds the item until its lease ends; the rest go now.
            report = deliver_pending(store, hook.url, SECRET, NOW, policy=FAST)
            assert (report.delivered, report.pending) == (2, 0)
            assert crashed.next_attempt_at is not None and crashed.next_attempt_at > NOW
            report = deliver_pending(store, hook.url, SECRET, crashed.next_attempt_at, policy=FAST)
            assert report.delivered == 1
            assert store.outbox_counts()["delivered"] == 3

        resent = hook.requests_for(keys[0])
        assert len(resent) == 2  # sent twice (at least once) ...
        assert resent[0].headers["Idempotency-Key"] == resent[1].headers["Idempotency-Key"]
        assert hook.processed_keys() == sorted(keys)  # ... processed once (deduplicated by key)
        assert all(r.signature_ok for r in hook.requests)


def test_two_senders_at_once_send_each_handoff_once(store_url: str) -> None:
    import threading

    with Store.open(store_url) as store, WebhookReceiver(SECRET, delay_s=0.05) as hook:
        keys = queue_handoff(store, [f"L{i}" for i in range(12)])
        reports = []
        start = threading.Barrier(2)

        def send() -> None:
            with Store.open(store_url) as own:  # each sender its own connection pool
                start.wait(30)  # both list the same 12 due items
                reports.append(deliver_pending(own, hook.url, SECRET, NOW, policy=FAST))

        senders = [threading.Thread(target=send) for _ in range(2)]
        for sender in senders:
            sender.start()
        for sender in senders:
            sender.join(60)
        assert sum(r.delivered for r in reports) == 12
        assert sum(r.skipped for r in reports) >= 1  # they did overlap
        assert len(hook.requests) == 12 and hook.processed_keys() == sorted(keys)


# ----------------------------------------------------------------------------- the command
def test_leadscore_deliver_needs_a_url_and_a_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LEADSCORE_WEBHOOK_URL", raising=False)
    monkeypatch.delenv("LEADSCORE_WEBHOOK_SECRET", raising=False)
    runner = CliRunner()
    params = str(ROOT / "params.yaml")
    done = runner.invoke(app, ["deliver", "--params", params])
    assert done.exit_code == 2
    assert "no webhook URL configured" in done.output
    monkeypatch.setenv("LEADSCORE_WEBHOOK_URL", "http://env.example/hook")
    hook_url = "https://hooks.example.com/services/T0/B0/s3cr3tpath"
    done = runner.invoke(app, ["deliver", "--params", params, "--url", hook_url])
    assert done.exit_code == 2
    # The flag wins over the environment, and a credential in the URL's path is not printed.
    assert "https://hooks.example.com/... is set but LEADSCORE_WEBHOOK_SECRET is empty" in (
        done.output
    )
    assert "s3cr3tpath" not in done.output


def test_leadscore_deliver_resends_what_is_pending_and_prints_counts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db_url = f"sqlite:///{tmp_path / 'leadscore.db'}"
    with Store.open(db_url) as store:
        keys = queue_handoff(store)
    monkeypatch.setenv("LEADSCORE_DB_URL", db_url)
    monkeypatch.setenv("LEADSCORE_WEBHOOK_SECRET", SECRET)
    with WebhookReceiver(SECRET, status_for_lead={"L3": (400, "unknown owner")}) as hook:
        monkeypatch.setenv("LEADSCORE_WEBHOOK_URL", hook.url)
        done = CliRunner().invoke(app, ["deliver", "--params", str(ROOT / "params.yaml")])
        assert done.exit_code == 1, done.output  # one failed permanently: a human must look
        assert "delivered 2 of 3 due" in done.output
        assert "2 delivered, 0 pending" in done.output and "1 failed permanently" in done.output
        assert "HTTP 400: unknown owner" in done.output

        hook.status_for_lead.clear()  # the receiver was fixed
        done = CliRunner().invoke(
            app, ["deliver", "--params", str(ROOT / "params.yaml"), "--retry-failed"]
        )
        assert done.exit_code == 0, done.output
        assert "re-queued 1" in done.output and "3 delivered, 0 pending" in done.output
        assert hook.processed_keys() == sorted(keys)
