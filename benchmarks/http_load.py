"""The load of benchmarks/serve_bench.py: `wrk` when installed (apt-get install wrk), else a small
asyncio raw-socket HTTP/1.1 client; each measurement is requests per second with p50 and p99.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

API_KEY = "bench-key"


@dataclass(frozen=True)
class Load:
    """One measurement: requests (or leads) per second, p50 and p99 latency in ms."""

    rate: float
    p50_ms: float
    p99_ms: float


WRK_SCRIPT = """
wrk.method = "POST"
local f = io.open("{body}", "rb")
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-API-Key"] = "{key}"
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %d %d %d %d %d\\n", summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.status + e.timeout))
end
"""


def run_wrk(port: int, path: str, body: Path, concurrency: int, seconds: float) -> Load:
    script = body.with_suffix(".lua")
    script.write_text(WRK_SCRIPT.format(body=body, key=API_KEY))
    cmd = [
        "wrk", "-t1", f"-c{concurrency}", f"-d{max(1, round(seconds))}s", "--timeout", "10s",
        "-s", str(script), f"http://127.0.0.1:{port}{path}",
    ]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"wrk failed: {done.stderr or done.stdout}")
    out = done.stdout
    line = next(x for x in out.splitlines() if x.startswith("RESULT "))
    n, duration_us, p50_us, p99_us, errors = (int(v) for v in line.split()[1:])
    if errors:
        raise SystemExit(f"{errors} failed or non-2xx answers on {path}\n{out}")
    return Load(n / (duration_us / 1e6), p50_us / 1000, p99_us / 1000)


def run_asyncio(port: int, path: str, body: Path, concurrency: int, seconds: float) -> Load:
    """The same measurement without wrk: keep-alive raw-socket HTTP/1.1 client (slower)."""
    payload = body.read_bytes()
    request = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: {API_KEY}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
    ).encode() + payload
    latencies: list[float] = []
    errors = 0

    async def worker(stop: float) -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while time.perf_counter() < stop:
                start = time.perf_counter()
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    int(h[15:]) for h in head.split(b"\r\n") if h[:15].lower() == b"content-length:"
                )
                await reader.readexactly(length)
                latencies.append(time.perf_counter() - start)
                errors += head[9:12] != b"200"
        finally:
            writer.close()

    async def main() -> float:
        t0 = time.perf_counter()
        await asyncio.gather(*(worker(t0 + seconds) for _ in range(concurrency)))
        return time.perf_counter() - t0

    elapsed = asyncio.run(main())
    if errors:
        raise SystemExit(f"{errors} non-200 answers on {path}")
    return Load(
        len(latencies) / elapsed,
        float(np.percentile(latencies, 50) * 1000),
        float(np.percentile(latencies, 99) * 1000),
    )


def measure(port: int, path: str, body: Path, concurrency: int, seconds: float) -> Load:
    run = run_wrk if shutil.which("wrk") else run_asyncio
    return run(port, path, body, concurrency, seconds)
