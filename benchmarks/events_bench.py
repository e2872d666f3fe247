"""Benchmark events as they happen: replay the simulated log to `POST /v1/events` at increasing
rates on ONE service worker, and measure what was accepted, how fast re-scoring keeps up, how
long an alert takes from the event to the receiver, and how the store grows.

For each rate, a fresh store (SQLite file by default, or --db-url) and a fresh `leadscore serve`
(one uvicorn worker, the project's champion, a loopback webhook receiver that verifies every
signature). The messages are the project's simulated log in time order (ingest/replay.py: one
identify per lead at its creation, one track per event), sent in requests of --batch messages,
paced to the rate, for --seconds. Then the sender stops and the benchmark waits until nothing
waits for re-scoring and no alert is pending.

Figures per rate:
- accepted/s: messages acknowledged (200) per second of sending (a 429 is waited out and resent);
- re-scored/s: messages re-scored per second from the first request until the backlog is empty
  (sustained re-scoring with every lead re-scored from its whole stored history). It cannot
  exceed the rate offered: a rate above what one worker sustains shows what it sustains;
- event to alert p50/p99: receiver arrival minus the moment the request carrying the lead's
  latest message before that alert was sent;
- store bytes per message (database file + WAL after the run, divided by messages stored);
- server CPU ms per 1,000 messages (all threads of the service process: HTTP, storing,
  re-scoring, sending), and the worker's time per part of its steps (from GET /metrics).

Baseline, same sitting: the store's own write rate (EventStore.add of the same batches, no HTTP,
no re-scoring), so the ratio shows what the service and re-scoring cost on top of storing.

    python benchmarks/events_bench.py --project /tmp/ev-proj --rates 250,500,1000,2000
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx2 as httpx  # noqa: E402

from tests.live_server import free_port  # noqa: E402
from tests.webhook_receiver import WebhookReceiver, whsec_for  # noqa: E402

KEY = "bench-ingest-key-0123456789"
SECRET = whsec_for("bench")


def messages_of(project: Path, limit: int) -> list[dict]:
    from ingest.replay import load_messages

    raw = project / "data" / "raw"
    return load_messages(raw / "events.parquet", raw / "leads.parquet")[:limit]


def start_server(
    project: Path, db_url: str, hook_url: str, log: Path
) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": f"sqlite:///{project / 'mlflow.db'}",
        "LEADSCORE_API_KEYS": f"ingest:{KEY}",
        "LEADSCORE_DB_URL": db_url,
        "LEADSCORE_WEBHOOK_URL": hook_url,
        "LEADSCORE_WEBHOOK_SECRET": SECRET,
        "LEADSCORE_LOG_LEVEL": "warning",
    }
    proc = subprocess.Popen(
        ["leadscore", "serve", "--port", str(port)],
        cwd=project,
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    proc.kill()
    raise SystemExit(f"server not ready\n{log.read_text()}")


def run_rate(
    project: Path,
    messages: list[dict],
    rate: float,
    seconds: float,
    batch: int,
    db_url: str | None,
    work: Path,
) -> dict:
    db_file = work / f"rate{int(rate)}.db"
    url = db_url or f"sqlite:///{db_file}"
    n = min(len(messages), int(rate * seconds))
    todo = messages[:n]
    sent_at: dict[str, list[float]] = {}  # lead -> send times of requests carrying its messages
    with WebhookReceiver(secret=SECRET) as hook:
        proc, base = start_server(project, url, hook.url, work / f"serve{int(rate)}.log")
        try:
            headers = {"X-API-Key": KEY}
            accepted = busy = 0
            cpu_before = cpu_seconds(proc.pid)
            started = time.monotonic()
            with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
                for first in range(0, n, batch):
                    chunk = todo[first : first + batch]
                    due = started + first / rate
                    wait = due - time.monotonic()
                    if wait > 0:
                        time.sleep(wait)
                    while True:
                        t = time.monotonic()
                        answer = client.post("/v1/events", json={"batch": chunk})
                        if answer.status_code != 429:
                            break
                        busy += 1
                        time.sleep(float(answer.headers.get("Retry-After", "1")))
                    answer.raise_for_status()
                    accepted += len(chunk)
                    for m in chunk:
                        sent_at.setdefault(m["userId"], []).append(t)
                sending = time.monotonic() - started
                while True:
                    events = client.get("/v1/status").json()["events"]
                    if events["waiting"] == 0 and events["outbox"]["pending"] == 0:
                        break
                    time.sleep(0.05)
                drained = time.monotonic() - started
                cpu = cpu_seconds(proc.pid) - cpu_before
                phases = worker_phases(client)
        finally:
            proc.terminate()
            proc.wait(30)
        latencies = []
        for r in hook.requests:
            import json

            lead = json.loads(r.body)["lead_id"]
            before = [t for t in sent_at.get(lead, []) if t <= r.at]
            if before and r.status == 200:
                latencies.append(r.at - before[-1])
        alerts = len(hook.processed_keys())
    size = sum(p.stat().st_size for p in work.glob(f"rate{int(rate)}.db*")) if not db_url else 0
    q = sorted(latencies)
    return {
        "rate": rate,
        "messages": n,
        "accepted_per_s": accepted / sending,
        "rescored_per_s": n / drained,
        "drain_after_send_s": drained - sending,
        "busy_429": busy,
        "alerts": alerts,
        "p50_s": statistics.median(q) if q else None,
        "p99_s": q[min(len(q) - 1, int(0.99 * len(q)))] if q else None,
        "store_bytes_per_message": size / n if size else None,
        "server_cpu_ms_per_1k": 1e6 * cpu / n,
        "phases": phases,
    }


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux /proc), all its threads."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def worker_phases(client: httpx.Client) -> dict[str, float]:
    """Seconds the re-scoring worker spent per part of its steps (GET /metrics; empty when
    the service has no /metrics, as before it existed)."""
    answer = client.get("/metrics")
    if answer.status_code != 200:
        return {}
    prefix = 'leadscore_rescore_phase_seconds_total{phase="'
    return {
        line[len(prefix) :].partition('"')[0]: float(line.rpartition(" ")[2])
        for line in answer.text.splitlines()
        if line.startswith(prefix)
    }


def baseline(messages: list[dict], batch: int, work: Path) -> float:
    """Messages/s the store itself writes (EventStore.add, same batches, no HTTP, no scoring)."""
    from benchmarks.events_worker_bench import store_messages

    return len(messages) / store_messages(f"sqlite:///{work / 'baseline.db'}", messages, batch)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", type=Path, default=ROOT, help="a folder after `dvc repro`")
    parser.add_argument("--rates", default="250,500,1000,2000")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--batch", type=int, default=20)
    parser.add_argument("--db-url", default=None, help="default: a fresh SQLite file per rate")
    args = parser.parse_args()
    rates = [float(r) for r in args.rates.split(",")]
    messages = messages_of(args.project, int(max(rates) * args.seconds))
    print(
        f"{len(messages):,} messages from {args.project}/data/raw (time order); one worker; "
        f"{os.cpu_count()} cores; batch {args.batch}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        base = baseline(messages[: int(rates[0] * args.seconds)], args.batch, work)
        print(f"baseline: store writes alone {base:,.0f} messages/s")
        print(
            "rate/s  messages  accepted/s  re-scored/s  drain s  429s  alerts  p50 ms  p99 ms"
            "  bytes/msg  server CPU ms/1k msgs"
        )
        phases_by_rate = {}
        for rate in rates:
            r = run_rate(args.project, messages, rate, args.seconds, args.batch, args.db_url, work)
            p50 = "-" if r["p50_s"] is None else f"{1000 * r['p50_s']:.0f}"
            p99 = "-" if r["p99_s"] is None else f"{1000 * r['p99_s']:.0f}"
            size = (
                "-"
                if r["store_bytes_per_message"] is None
                else f"{r['store_bytes_per_message']:.0f}"
            )
            print(
                f"{rate:6.0f}  {r['messages']:8,}  {r['accepted_per_s']:10,.0f}  "
                f"{r['rescored_per_s']:11,.0f}  {r['drain_after_send_s']:7.1f}  "
                f"{r['busy_429']:4}  {r['alerts']:6}  {p50:>6}  {p99:>6}  {size:>9}  "
                f"{r['server_cpu_ms_per_1k']:21,.0f}  "
                f"(re-scored {r['rescored_per_s'] / base:.2f}x the baseline's write rate)"
            )
            phases_by_rate[rate] = r["phases"]
        for rate, phases in phases_by_rate.items():
            total = sum(phases.values())
            if total:
                shares = ", ".join(f"{k} {100 * v / total:.0f}%" for k, v in phases.items())
                print(f"worker at {rate:.0f}/s: {total:.1f} s in steps ({shares})")


if __name__ == "__main__":
    main()
