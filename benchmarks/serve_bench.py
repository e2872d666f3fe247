"""Load benchmark of the scoring service: a real uvicorn (one worker) on loopback, a bounded load.

    python benchmarks/serve_bench.py [--model artifacts/train/model.joblib] [--seconds 4]

Scenarios (concurrency 16 for single leads, 4 for batches; keep-alive HTTP/1.1 connections):
- one lead as a feature row, without reasons;
- one lead as profile + 50 events (features computed in the request), without reasons;
- one lead as a feature row, with reasons (SHAP);
- batches of 1000 feature rows, row form and columnar form.
Each runs `--repeats` times for `--seconds`; the medians of req/s, p50 and p99 are printed, with
the same work done in-process (no HTTP) as the baseline and the ratio between them.

The client is a small asyncio raw-socket HTTP/1.1 client (pre-encoded requests, Content-Length
framing): a full HTTP library would cost more CPU than the server on a 2-core machine.
Without `--model`, a model is trained on synthetic leads with the pipeline's own features.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

API_KEY = "bench-key"
TARGETS = {
    "feature row": "target >= 1500 req/s, p99 < 20 ms",
    "profile + 50 events": "target >= 500 req/s",
    "batch 1000 columnar": "target >= 50000 leads/s",
}


# ---- a model and requests ---------------------------------------------------------------------


def train_synthetic_model(path: Path, n_leads: int = 6000, seed: int = 0) -> Path:
    """A realistic-size LeadModel (a few hundred trees) on the pipeline's features."""
    import joblib
    import pandas as pd

    from features.build import build_features, feature_spec
    from features.persona import load_personas
    from features.schemas import CONTENT_TOPICS, EVENT_TYPES
    from foundation.params import FeatureParams, LightGBMParams, TrainParams
    from models.propensity import fit_propensity

    rng = np.random.default_rng(seed)
    t = pd.Timestamp("2025-06-01", tz="UTC")
    leads, events = synthetic_leads(rng, n_leads, t)
    params = FeatureParams()
    table = build_features(leads, events, t, load_personas(ROOT / "personas.yaml"), params)
    logit = -3.0 + 4.0 * table["engagement_score"] + 2.0 * table["fit_score"]
    table["label"] = (rng.uniform(size=len(table)) < 1 / (1 + np.exp(-logit))).astype(int)
    spec = feature_spec(params)
    cut = int(len(table) * 0.75)
    train = TrainParams(lightgbm=LightGBMParams(n_estimators=400, early_stopping_rounds=400))
    model, _ = fit_propensity(
        table.iloc[:cut], table.iloc[cut:], spec.numeric, spec.categorical, "label", train
    )
    joblib.dump(model, path)
    del CONTENT_TOPICS, EVENT_TYPES
    return path


def synthetic_leads(rng: np.random.Generator, n: int, t: Any) -> tuple[Any, Any]:
    import pandas as pd

    from features.schemas import CONTENT_TOPICS, EVENT_TYPES

    def pick(values: list[Any], k: int = n) -> list[Any]:
        return [values[i] for i in rng.integers(0, len(values), k)]

    leads = pd.DataFrame(
        {
            "lead_id": [f"B{i}" for i in range(n)],
            "created_at": t - pd.to_timedelta(rng.integers(86400, 300 * 86400, n), unit="s"),
            "channel": pick(["organic_search", "paid_search", "email", "events", None]),
            "company_size": pd.array(pick([None, 8, 40, 300, 2500, 8000]), dtype="Int64"),
            "industry": pick(["software", "manufacturing", "retail", "healthcare", None]),
            "job_role": pick(["cto", "head_of_operations", "founder", "cmo", None]),
            "country": pick(["DE", "GB", "FR", "US", None]),
            "email_domain": pick(["acme.com", "gmail.com", "logi.pl", None]),
        }
    )
    owner = np.repeat(np.arange(n), rng.poisson(rng.gamma(1.0, 10.0, n)))
    k = len(owner)
    events = pd.DataFrame(
        {
            "lead_id": leads["lead_id"].to_numpy()[owner],
            "ts": t - pd.to_timedelta(rng.integers(0, 120 * 86400, k), unit="s"),
            "event_type": pick(list(EVENT_TYPES), k),
            "content_topic": pick(list(CONTENT_TOPICS), k),
        }
    )
    return leads, events


def request_bodies(n_rows: int = 1000, seed: int = 1) -> dict[str, Any]:
    """Feature rows, a profile + 50 events lead, and batch bodies."""
    import pandas as pd

    from features.build import build_features
    from features.persona import load_personas
    from features.schemas import EVENT_TYPES
    from foundation.params import FeatureParams

    rng = np.random.default_rng(seed)
    t = pd.Timestamp("2025-06-01", tz="UTC")
    leads, events = synthetic_leads(rng, n_rows, t)
    table = build_features(leads, events, t, load_personas(ROOT / "personas.yaml"), FeatureParams())
    rows = [
        {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in r.items()}
        for r in table.drop(columns=["lead_id"]).astype(object).to_dict("records")
    ]
    now = datetime(2025, 6, 1, tzinfo=UTC)
    lead = {
        "lead_id": "B-50",
        "created_at": (now - timedelta(days=90)).isoformat(),
        "channel": "paid_search",
        "company_size": 300,
        "industry": "manufacturing",
        "job_role": "head_of_operations",
        "country": "DE",
        "email_domain": "example-gmbh.de",
    }
    evs = [
        {
            "ts": (now - timedelta(minutes=int(m))).isoformat(),
            "event_type": EVENT_TYPES[int(e)],
            "content_topic": "case_study",
        }
        for m, e in zip(
            rng.integers(1, 80 * 24 * 60, 50), rng.integers(0, len(EVENT_TYPES), 50), strict=True
        )
    ]
    columns = {k: [r[k] for r in rows] for k in rows[0]}
    ids = [f"B{i}" for i in range(n_rows)]
    return {
        "row": {"features": rows[0], "lead_id": "B0", "explain": False},
        "row_explain": {"features": rows[0], "lead_id": "B0", "explain": True},
        "events50": {"lead": lead, "events": evs, "as_of": now.isoformat(), "explain": False},
        "batch_rows": {
            "leads": [{"features": r, "lead_id": i} for r, i in zip(rows, ids, strict=True)]
        },
        "batch_columns": {"columns": columns, "lead_ids": ids},
    }


# ---- the server -------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(model: Path, port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "LEADSCORE_MODEL_URI": str(model),
        "LEADSCORE_API_KEYS": API_KEY,
        "LEADSCORE_MQL_THRESHOLD": "40",
        "LEADSCORE_PARAMS_PATH": str(ROOT / "params.yaml"),
        "LEADSCORE_PERSONAS_PATH": str(ROOT / "personas.yaml"),
        "LEADSCORE_SLA_PATH": str(ROOT / "sla.yaml"),
    }
    cmd = [
        sys.executable, "-m", "uvicorn", "serve.app:create_app", "--factory",
        "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
        "--no-access-log", "--log-level", "warning",
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(b"GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n")
                if b" 200 " in s.recv(4096):
                    return proc
        except OSError:
            pass
        time.sleep(0.3)
    proc.terminate()
    raise SystemExit("server not ready within 90 s")


# ---- the client -------------------------------------------------------------------------------


def http_request(path: str, body: dict[str, Any]) -> bytes:
    payload = orjson.dumps(body)
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: {API_KEY}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
    )
    return head.encode() + payload


async def read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    await reader.readexactly(length)
    return status


async def drive(port: int, request: bytes, concurrency: int, seconds: float) -> list[float]:
    """Send `request` over `concurrency` keep-alive connections for `seconds`; latencies (s)."""
    latencies: list[float] = []
    stop = time.perf_counter() + seconds
    errors = 0

    async def worker() -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while time.perf_counter() < stop:
                start = time.perf_counter()
                writer.write(request)
                status = await read_response(reader)
                latencies.append(time.perf_counter() - start)
                errors += status != 200
        finally:
            writer.close()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    if errors:
        raise SystemExit(f"{errors} non-200 answers")
    return latencies


@dataclass
class Result:
    name: str
    per_second: float  # requests (or leads for batches) per second
    p50_ms: float
    p99_ms: float
    in_process: float  # the same unit, without HTTP


def run_http(
    port: int, request: bytes, concurrency: int, seconds: float, repeats: int, per_request: int
) -> tuple[float, float, float]:
    asyncio.run(drive(port, request, concurrency, min(1.0, seconds)))  # warm-up
    rates, p50s, p99s = [], [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        lat = asyncio.run(drive(port, request, concurrency, seconds))
        elapsed = time.perf_counter() - t0
        rates.append(len(lat) * per_request / elapsed)
        p50s.append(float(np.percentile(lat, 50) * 1000))
        p99s.append(float(np.percentile(lat, 99) * 1000))
    return statistics.median(rates), statistics.median(p50s), statistics.median(p99s)


def run_in_process(work: Callable[[], Any], per_call: int, seconds: float, repeats: int) -> float:
    work()
    rates = []
    for _ in range(repeats):
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            work()
            n += 1
        rates.append(n * per_call / (time.perf_counter() - t0))
    return statistics.median(rates)


def in_process_scorer(model: Path) -> Any:
    from models.registry import load_lead_model
    from serve.scorer import Scorer, load_context
    from serve.settings import Settings

    settings = Settings(
        model_uri=str(model),
        mql_threshold=40.0,
        params_path=ROOT / "params.yaml",
        personas_path=ROOT / "personas.yaml",
        sla_path=ROOT / "sla.yaml",
    )
    return Scorer(load_lead_model(str(model)), load_context(settings))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, help="model.joblib (default: train a synthetic one)")
    parser.add_argument("--seconds", type=float, default=4.0, help="per repeat")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()

    from serve.batch import score_batch
    from serve.schemas import ScoreRequest

    tmp = Path(tempfile.mkdtemp(prefix="serve-bench-"))
    model = args.model or train_synthetic_model(tmp / "model.joblib")
    bodies = request_bodies()
    scorer = in_process_scorer(model)
    now = datetime.now(UTC)

    def single(name: str) -> Callable[[], Any]:
        raw = orjson.dumps(bodies[name])

        def work() -> Any:
            item = ScoreRequest.model_validate_json(raw)
            return orjson.dumps(scorer.score_one(item, item.explain, now))

        return work

    def batch(name: str) -> Callable[[], Any]:
        raw = orjson.dumps(bodies[name])
        return lambda: orjson.dumps(score_batch(scorer, orjson.loads(raw), 1000, 5000, now))

    c = args.concurrency
    scenarios = [
        ("feature row", "/v1/score", "row", c, 1, single("row")),
        ("profile + 50 events", "/v1/score", "events50", c, 1, single("events50")),
        ("feature row + reasons", "/v1/score", "row_explain", c, 1, single("row_explain")),
        ("batch 1000 rows", "/v1/score/batch", "batch_rows", 4, 1000, batch("batch_rows")),
        (
            "batch 1000 columnar",
            "/v1/score/batch",
            "batch_columns",
            4,
            1000,
            batch("batch_columns"),
        ),
    ]
    port = free_port()
    server = start_server(model, port)
    results = []
    try:
        for name, path, key, concurrency, per_request, work in scenarios:
            request = http_request(path, bodies[key])
            rate, p50, p99 = run_http(
                port, request, concurrency, args.seconds, args.repeats, per_request
            )
            base = run_in_process(work, per_request, min(args.seconds, 2.0), args.repeats)
            results.append(Result(name, rate, p50, p99, base))
            print(f"  done: {name}", file=sys.stderr)
    finally:
        server.terminate()
        server.wait(timeout=15)

    print(
        f"\nleadscore serve benchmark: 1 uvicorn worker, {os.cpu_count()} cores, "
        f"{args.repeats} x {args.seconds:.0f} s per scenario (medians), model {model}"
    )
    print(
        f"{'scenario':<24}{'HTTP /s':>10}{'p50 ms':>9}{'p99 ms':>9}{'in-proc /s':>12}{'ratio':>7}"
        "  target"
    )
    for r in results:
        unit = " leads" if r.name.startswith("batch") else ""
        print(
            f"{r.name:<24}{r.per_second:>10,.0f}{r.p50_ms:>9.2f}{r.p99_ms:>9.2f}"
            f"{r.in_process:>12,.0f}{r.per_second / r.in_process:>7.2f}  "
            f"{TARGETS.get(r.name, '')}{unit and ' (per second = leads)'}"
        )


if __name__ == "__main__":
    main()
