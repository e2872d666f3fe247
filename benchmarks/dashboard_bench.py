"""Dashboard page render time with ~100k leads in the store, against a trivial route.

    python benchmarks/dashboard_bench.py [--project .] [--leads 100000] [--runs 15]

Needs a project that has run `dvc repro` (data/interim, artifacts/, the MLflow registry in
$MLFLOW_TRACKING_URI). Fills a throwaway SQLite store through the Store API (tests/
dashboard_fill.py: the project's open leads repeated under new ids up to --leads per run, three
runs), starts a real uvicorn server on a loopback port, signs in, and times each page:
- cold: with the page cache off (LEADSCORE_DASHBOARD_CACHE_S=0), every request reads the store,
  the artifacts, the history and the registry again;
- warm: with the default cache, what a second visit within the TTL costs.
Each figure is the median of --runs requests, printed with its ratio to GET /healthz served by
the same server in the same run (the machine is shared: ratios travel, absolute times do not).
Target: a page under 300 ms.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import httpx2 as httpx
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
PAGES = ["/dashboard", "/dashboard/loop", "/dashboard/model", "/dashboard/sla"]
KEY = "bench-viewer-key"


def start(project: Path, db_url: str, cache_s: str, log: Path) -> tuple[subprocess.Popen, str]:
    env = {
        **os.environ,
        "LEADSCORE_DB_URL": db_url,
        "LEADSCORE_API_KEYS": f"viewer:{KEY}",
        "LEADSCORE_DASHBOARD_CACHE_S": cache_s,
        "PYTHONPATH": str(ROOT),
    }
    code = (
        "import uvicorn; from serve.app import create_app; "
        "uvicorn.run(create_app(load_model=False), host='127.0.0.1', port=0, log_level='warning')"
    )
    out = log.open("w")
    proc = subprocess.Popen(
        [sys.executable, "-c", code], cwd=project, env=env, stdout=out, stderr=subprocess.STDOUT
    )
    # uvicorn says where it listens only at info level: find the port from /proc instead.
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited {proc.returncode}: {log.read_text()}")
        port = listening_port(proc.pid)
        if port:
            return proc, f"http://127.0.0.1:{port}"
        time.sleep(0.2)
    raise SystemExit("server did not start in 90 s")


def listening_port(pid: int) -> int | None:
    """The TCP port the process listens on (Linux /proc), None until it does."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        found = re.match(r"socket:\[(\d+)\]", target)
        if found:
            inodes.add(found.group(1))
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        parts = line.split()
        if parts[3] == "0A" and parts[9] in inodes:  # 0A: LISTEN
            return int(parts[1].split(":")[1], 16)
    return None


def signed_in_client(base: str) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=120)
    form = client.get("/signin").text
    token = re.search(r'name="csrf" value="([^"]+)"', form).group(1)
    answer = client.post("/signin", data={"api_key": KEY, "csrf": token, "next": "/dashboard"})
    assert answer.status_code == 303, answer.text
    return client


def median_ms(client: httpx.Client, path: str, runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        answer = client.get(path)
        times.append(time.perf_counter() - start)
        assert answer.status_code == 200, f"{path}: {answer.status_code}"
    return 1000 * statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", type=Path, default=Path("."))
    parser.add_argument("--leads", type=int, default=100_000, help="scored leads per run")
    parser.add_argument("--runs", type=int, default=15, help="requests per page (median)")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "tests"))
    from dashboard_fill import fill_store

    from sla.report import open_at

    project = args.project.resolve()
    stages = pd.read_parquet(next((project / "data" / "interim").glob("stages*")))
    leads = pd.read_parquet(next((project / "data" / "interim").glob("leads*")))
    end = pd.Timestamp(stages["ts"].max()).tz_convert("UTC").normalize()
    days = sorted(
        {(end - pd.Timedelta(days=40)).replace(day=1).date(), end.replace(day=1).date(), end.date()}
    )
    n_open = int(open_at(leads[leads["created_at"] <= end]["lead_id"], stages, end).sum())
    copies = max(1, math.ceil(args.leads / max(n_open, 1)))

    with tempfile.TemporaryDirectory() as tmp:
        db_url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        t0 = time.perf_counter()
        fill_store(db_url, project, [date.fromisoformat(str(d)) for d in days], lead_copies=copies)
        print(
            f"store: {len(days)} runs x {n_open * copies:,} scored leads "
            f"(filled in {time.perf_counter() - t0:.0f} s)"
        )
        for label, cache_s in (("cold (cache off)", "0"), ("warm (cache 30 s)", "30")):
            proc, base = start(project, db_url, cache_s, Path(tmp) / f"server-{cache_s}.log")
            try:
                client = signed_in_client(base)
                for path in PAGES:  # first request: imports and connections, not timed
                    client.get(path)
                trivial = median_ms(client, "/healthz", args.runs)
                print(f"\n{label}: GET /healthz median {trivial:.1f} ms")
                for path in PAGES:
                    ms = median_ms(client, path, args.runs)
                    flag = "ok" if ms < 300 else "OVER 300 ms"
                    print(f"  {path:<18} median {ms:7.1f} ms  x{ms / trivial:6.1f}  {flag}")
                client.close()
            finally:
                proc.terminate()
                proc.wait(timeout=15)


if __name__ == "__main__":
    main()
