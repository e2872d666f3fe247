"""Load benchmark of the scoring service against a bare FastAPI + booster service, same model.

    python benchmarks/serve_bench.py [--model artifacts/train/model.joblib] [--runs 3]
                                     [--before GIT_REF]

Every figure is printed with the same figure of the bare service (benchmarks/bare_service.py:
dict -> numpy -> `Booster.predict`, nothing else) measured in the same run, and the ratio between
them, so figures from noisy machines stay comparable. Each run starts a fresh server of each
kind (one uvicorn worker), interleaved, and measures in this order:
- row cold: one lead as a feature row, c=16, the first `--cold-seconds` after /readyz said 200;
- row steady: the same for `--seconds`;
- profile + 50 events (features computed in the request), row + reasons (leadscore only);
- batch 1000 columnar, c=4 (leads/s);
- row after reload: POST /v1/admin/reload, then the first `--cold-seconds` of single leads.
`--before REF` adds the service as it was at a commit (exported with `git archive`), so a change's
"before" figure is measured in the same sitting. The load comes from `wrk` (apt-get install wrk)
when installed, else from a small asyncio raw-socket client. Medians of `--runs` are printed.
Without `--model`: artifacts/train/model.joblib if the pipeline ran, else a synthetic model.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.http_load import API_KEY, Load, measure  # noqa: E402

ADMIN_KEY = "bench-admin"


# ---- a model and requests ---------------------------------------------------------------------


def train_synthetic_model(path: Path, n_leads: int = 6000, seed: int = 0) -> Path:
    """A realistic-size LeadModel (a few hundred trees) on the pipeline's features."""
    import joblib
    import pandas as pd

    from features.build import build_features, feature_spec
    from features.persona import load_personas
    from features.vocabularies import CONTENT_TOPICS, EVENT_TYPES
    from foundation.params import FeatureParams, LightGBMParams, TrainParams
    from models.propensity import fit_propensity

    rng = np.random.default_rng(seed)
    t = pd.Timestamp("2025-06-01", tz="UTC")
    leads, events = synthetic_leads(rng, n_leads, t)
    params = FeatureParams()
    table = build_features(leads, events, None, t, load_personas(ROOT / "personas.yaml"), params)
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

    from features.vocabularies import CONTENT_TOPICS, EVENT_TYPES

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
    from features.vocabularies import EVENT_TYPES
    from foundation.params import FeatureParams

    rng = np.random.default_rng(seed)
    t = pd.Timestamp("2025-06-01", tz="UTC")
    leads, events = synthetic_leads(rng, n_rows, t)
    table = build_features(
        leads, events, None, t, load_personas(ROOT / "personas.yaml"), FeatureParams()
    )
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


# ---- the servers ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http_get_status(port: int, path: str) -> int | None:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
            head = s.recv(4096)
            return int(head[9:12]) if head.startswith(b"HTTP/1.1 ") else None
    except OSError:
        return None


def http_post(port: int, path: str, key: str, timeout: float = 120) -> tuple[int, bytes]:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(
            f"POST {path} HTTP/1.1\r\nHost: x\r\nX-API-Key: {key}\r\nContent-Type: "
            "application/json\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode()
        )
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    return int(data[9:12]), data.split(b"\r\n\r\n", 1)[-1]


@dataclass
class Server:
    kind: str  # "bare" | "leadscore" | "before"
    proc: subprocess.Popen[bytes]
    port: int
    started_s: float  # process start -> /readyz 200

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def start_server(kind: str, model: Path, tree: Path = ROOT) -> Server:
    """One uvicorn worker; returns the moment /readyz first answers 200 (polled every 20 ms)."""
    port = free_port()
    env = {
        **os.environ,
        "LEADSCORE_MODEL_URI": str(model),
        "LEADSCORE_API_KEYS": f"{API_KEY},admin:{ADMIN_KEY}",
        "LEADSCORE_MQL_THRESHOLD": "40",
        "LEADSCORE_PARAMS_PATH": str(tree / "params.yaml"),  # the tree's own, for --before
        "LEADSCORE_PERSONAS_PATH": str(tree / "personas.yaml"),
        "LEADSCORE_SLA_PATH": str(tree / "sla.yaml"),
        "BARE_MODEL": str(model),
        "PYTHONPATH": str(tree),
    }
    factory = "benchmarks.bare_service:create_app" if kind == "bare" else "serve.app:create_app"
    cmd = [
        sys.executable, "-m", "uvicorn", factory, "--factory",
        "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
        "--no-access-log", "--log-level", "warning",
    ]  # fmt: skip
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=tree, env=env)
    while time.monotonic() < t0 + 120:
        if proc.poll() is not None:
            raise SystemExit(f"{kind} server exited with {proc.returncode}")
        if http_get_status(port, "/readyz") == 200:
            return Server(kind, proc, port, time.monotonic() - t0)
        time.sleep(0.02)
    proc.terminate()
    raise SystemExit(f"{kind} server not ready within 120 s")


def reload(server: Server) -> float:
    """POST /v1/admin/reload; seconds until it answered 200 (the new model is then serving)."""
    t0 = time.monotonic()
    for key in (ADMIN_KEY, f"admin:{ADMIN_KEY}"):  # role-prefixed key, or a plain-key build
        status, body = http_post(server.port, "/v1/admin/reload", key)
        if status == 200:
            if b'"reloaded":false' in body:
                raise SystemExit(f"{server.kind}: reload refused: {body[:300]!r}")
            return time.monotonic() - t0
    raise SystemExit(f"{server.kind}: reload answered {status}: {body[:300]!r}")


def export_tree(ref: str) -> Path:
    """The repository at `ref` in a temporary folder (the "before" service runs from there)."""
    dest = Path(tempfile.mkdtemp(prefix="serve-bench-before-"))
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", ref], capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return dest


# ---- scenarios --------------------------------------------------------------------------------

# (scenario, path, body, concurrency, leads per request, which servers run it)
ALL = ("bare", "leadscore", "before")
SCENARIOS: tuple[tuple[str, str, str, int, int, tuple[str, ...]], ...] = (
    ("row cold", "/v1/score", "row", 16, 1, ALL),
    ("row steady", "/v1/score", "row", 16, 1, ALL),
    ("profile + 50 events", "/v1/score", "events50", 16, 1, ("leadscore", "before")),
    ("row + reasons", "/v1/score", "row_explain", 16, 1, ("leadscore", "before")),
    ("batch 1000 columnar", "/v1/score/batch", "batch_columns", 4, 1000, ALL),
    ("row after reload", "/v1/score", "row", 16, 1, ALL),
)
# What each leadscore figure is compared with: the bare service's figure in that scenario.
BARE_REFERENCE = {
    "row cold": "row cold",
    "row steady": "row steady",
    "profile + 50 events": "row steady",
    "row + reasons": "row steady",
    "batch 1000 columnar": "batch 1000 columnar",
    "row after reload": "row after reload",
}


def one_run(kind: str, model: Path, bodies: dict[str, Path], args: Any, tree: Path) -> dict:
    """Start a fresh server, measure every scenario it serves in order, stop it."""
    server = start_server(kind, model, tree)
    out: dict[str, Load] = {}
    try:
        for name, path, body, concurrency, per_request, kinds in SCENARIOS:
            if kind not in kinds:
                continue
            if name == "row after reload":
                reload(server)
            cold = name in ("row cold", "row after reload")
            seconds = args.cold_seconds if cold else args.seconds
            load = measure(server.port, path, bodies[body], concurrency, seconds)
            out[name] = Load(load.rate * per_request, load.p50_ms, load.p99_ms)
    finally:
        server.stop()
    return out


def median_load(loads: list[Load]) -> Load:
    return Load(
        statistics.median(x.rate for x in loads),
        statistics.median(x.p50_ms for x in loads),
        statistics.median(x.p99_ms for x in loads),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, help="model.joblib (default: see above)")
    parser.add_argument("--runs", type=int, default=3, help="fresh servers per kind (medians)")
    parser.add_argument("--seconds", type=float, default=8.0, help="per steady scenario")
    parser.add_argument("--cold-seconds", type=float, default=5.0, help="after ready / reload")
    parser.add_argument(
        "--before", metavar="GIT_REF", help="also measure the service as it was at this commit"
    )
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="serve-bench-"))
    default_model = ROOT / "artifacts" / "train" / "model.joblib"
    model = args.model or (
        default_model if default_model.exists() else train_synthetic_model(tmp / "model.joblib")
    )
    bodies = {}
    for key, body in request_bodies().items():
        bodies[key] = tmp / f"{key}.json"
        bodies[key].write_bytes(orjson.dumps(body))
    kinds = {"bare": ROOT, "leadscore": ROOT}
    if args.before:
        kinds["before"] = export_tree(args.before)
    runs: dict[str, list[dict[str, Load]]] = {k: [] for k in kinds}
    for i in range(args.runs):
        for kind, tree in kinds.items():  # interleaved, so drift hits every kind alike
            runs[kind].append(one_run(kind, model, bodies, args, tree))
            print(f"  run {i + 1}/{args.runs}: {kind} done", file=sys.stderr)
    report(runs, model, args)


def report(runs: dict[str, list[dict[str, Load]]], model: Path, args: Any) -> None:
    med = {k: {s: median_load([r[s] for r in v]) for s in v[0]} for k, v in runs.items()}
    tool = "wrk" if shutil.which("wrk") else "asyncio client"
    print(
        f"\nleadscore vs bare FastAPI + booster: 1 uvicorn worker each, {os.cpu_count()} cores, "
        f"{tool}, medians of {args.runs} fresh servers ({args.cold_seconds:.0f} s cold / after "
        f"reload, {args.seconds:.0f} s steady), model {model}"
    )
    header = (
        f"{'scenario':<22}{'/s':>9}{'p50 ms':>8}{'p99 ms':>8} | {'bare /s':>8}{'p50':>7}{'p99':>7}"
        f" | {'x rate':>7}{'x p50':>7}{'x p99':>7}"
    )
    print(header + (" | before /s    p99 x rate" if "before" in med else ""))
    for name, *_ in SCENARIOS:
        mine = med["leadscore"].get(name)
        if mine is None:
            continue
        bare = med["bare"][BARE_REFERENCE[name]]
        ref = "" if BARE_REFERENCE[name] == name else f" (bare: {BARE_REFERENCE[name]})"
        line = (
            f"{name:<22}{mine.rate:>9,.0f}{mine.p50_ms:>8.2f}{mine.p99_ms:>8.2f} | "
            f"{bare.rate:>8,.0f}{bare.p50_ms:>7.2f}{bare.p99_ms:>7.2f} | "
            f"{mine.rate / bare.rate:>7.2f}{mine.p50_ms / bare.p50_ms:>7.2f}"
            f"{mine.p99_ms / bare.p99_ms:>7.2f}"
        )
        before = med.get("before", {}).get(name)
        if before is not None:
            line += f" | {before.rate:>9,.0f}{before.p99_ms:>7.1f}{mine.rate / before.rate:>7.2f}"
        print(line + ref)
    print("\nper run (rate / p99 ms):")
    for kind, rs in runs.items():
        for name in rs[0]:
            cells = "  ".join(f"{r[name].rate:,.0f}/{r[name].p99_ms:.1f}" for r in rs)
            print(f"  {kind:<10}{name:<22}{cells}")
    print("\nacceptance (issue 15):")
    ls, bare = med["leadscore"], med["bare"]
    checks = [
        ("row steady >= 0.8x bare", ls["row steady"].rate >= 0.8 * bare["row steady"].rate),
        ("row cold p99 <= 2x bare cold p99", ls["row cold"].p99_ms <= 2 * bare["row cold"].p99_ms),
        (
            "row after reload p99 <= 2x bare after reload",
            ls["row after reload"].p99_ms <= 2 * bare["row after reload"].p99_ms,
        ),
        ("profile + 50 events >= 600 /s", ls["profile + 50 events"].rate >= 600),
        (
            "profile + 50 events p99 <= 3x bare row p99",
            ls["profile + 50 events"].p99_ms <= 3 * bare["row steady"].p99_ms,
        ),
        ("batch columnar >= 50,000 leads/s", ls["batch 1000 columnar"].rate >= 50_000),
        (
            "batch columnar >= 1.5x bare",
            ls["batch 1000 columnar"].rate >= 1.5 * bare["batch 1000 columnar"].rate,
        ),
    ]
    if "before" in med:
        checks.append(
            (
                "reasons >= 3x before",
                ls["row + reasons"].rate >= 3 * med["before"]["row + reasons"].rate,
            )
        )
    for text, ok in checks:
        print(f"  {'PASS' if ok else 'FAIL'}  {text}")


if __name__ == "__main__":
    main()
