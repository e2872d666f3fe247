"""Shared by the real-time events tests: a real `leadscore serve` process that a test may kill,
Segment messages of a lead who becomes an MQL, and waiting on the store and the receiver."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx2 as httpx

from tests.live_server import free_port
from tests.webhook_receiver import whsec_for

INGEST_KEY = "ik-events-test-0123456789"
ADMIN_KEY = "ak-events-test-0123456789"
SECRET = whsec_for("events-test")
START_TIMEOUT_S = 180

# A mid-market operations head with a business address (persona midmarket_ops, fit A).
TRAITS = {
    "channel": "paid_search",
    "company_size": 250,
    "industry": "manufacturing",
    "job_role": "head_of_operations",
    "country": "DE",
    "email": "anna@example-gmbh.de",
}
# What a prospect does on the way to a demo: the last ones push the score over the threshold.
JOURNEY = ("site_visit", "page_view", "pricing_view", "pricing_view", "demo_request")


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    base: str

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.base, headers={"X-API-Key": INGEST_KEY}, timeout=30)

    def kill(self) -> None:
        """SIGKILL: no shutdown, no flush; what was acknowledged must already be durable."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)


def serve_env(project_env: Mapping[str, str], db_url: str, hook_url: str) -> dict[str, str]:
    return {
        **project_env,
        "LEADSCORE_API_KEYS": f"ingest:{INGEST_KEY},admin:{ADMIN_KEY}",
        "LEADSCORE_DB_URL": db_url,
        "LEADSCORE_WEBHOOK_URL": hook_url,
        "LEADSCORE_WEBHOOK_SECRET": SECRET,
        "PYTHONUNBUFFERED": "1",
    }


@contextmanager
def serving(cwd: Path, env: Mapping[str, str], log: Path) -> Iterator[Server]:
    """`leadscore serve` on a free port, ready; always stopped (killed if it will not stop)."""
    port = free_port()
    with log.open("a") as out:
        proc = subprocess.Popen(
            ["leadscore", "serve", "--port", str(port)],
            cwd=cwd,
            env=dict(env),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = Server(proc, f"http://127.0.0.1:{port}")
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if proc.poll() is not None:
                raise AssertionError(f"leadscore serve exited {proc.returncode}\n{log.read_text()}")
            try:
                if httpx.get(f"{server.base}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"not ready in {START_TIMEOUT_S} s\n{log.read_text()}")
            time.sleep(0.2)
        yield server
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)


def identify(lead_id: str, at: datetime, message_id: str | None = None) -> dict[str, Any]:
    return {
        "type": "identify",
        "messageId": message_id or f"{lead_id}-identify",
        "userId": lead_id,
        "timestamp": at.isoformat(),
        "traits": {**TRAITS, "created_at": at.isoformat()},
    }


def track(lead_id: str, event: str, at: datetime, n: int) -> dict[str, Any]:
    return {
        "type": "track",
        "messageId": f"{lead_id}-{n}-{event}",
        "userId": lead_id,
        "event": event,
        "timestamp": at.isoformat(),
        "properties": {"content_topic": "pricing"} if event == "pricing_view" else {},
    }


def journey(lead_id: str, start: datetime) -> list[dict[str, Any]]:
    """identify, then JOURNEY one hour apart."""
    return [identify(lead_id, start)] + [
        track(lead_id, event, start + timedelta(hours=n + 1), n) for n, event in enumerate(JOURNEY)
    ]


def wait_for(check: Callable[[], Any], timeout_s: float, step_s: float = 0.05) -> Any:
    """`check()` once it is truthy; its last value after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(step_s)


def settled(server: Server, timeout_s: float = 60) -> dict[str, Any]:
    """/v1/status once nothing waits for re-scoring and no alert is pending; fails otherwise."""

    def status() -> dict[str, Any] | None:
        with server.client() as client:
            events = client.get("/v1/status").json()["events"]
        done = events["waiting"] == 0 and events["outbox"]["pending"] == 0
        return events if done else None

    found = wait_for(status, timeout_s, 0.2)
    assert found, f"not settled within {timeout_s} s"
    return found
