"""Where a columnar batch of 1000 leads spends its time, step by step, against the bare service.

    python benchmarks/batch_steps_bench.py [--model artifacts/train/model.joblib] [--repeats 7]

Runs in one process, single-threaded, and times each step with the thread's CPU clock (medians of
`--repeats`), so other work on a shared machine disturbs it less than wall time. The bare
service's steps (benchmarks/bare_service.py) are the JSON decode, the list -> float64 columns and
`Booster.predict`; leadscore's are its columnar read (simdjson straight to float64 columns,
serve/column_json.py; orjson when that is off), then `score_batch` (encode, range checks,
compiled trees, calibration, SLA rules) and the JSON answer. The last lines give the ratio of the
two totals and the ceiling any service has while it decodes the same JSON: bare total / (decode +
bare conversion), the ratio reached if everything after the conversion cost nothing.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def cpu_ms(fn: Callable[[], Any], repeats: int, inner: int = 10) -> float:
    """Median CPU milliseconds of one call (after one warm-up call)."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.thread_time()
        for _ in range(inner):
            fn()
        times.append((time.thread_time() - start) / inner * 1e3)
    return statistics.median(times)


def model_arguments(description: str) -> argparse.Namespace:
    """`--model` and `--repeats`, checked, and the service settings an in-process scorer of
    this checkout needs (shared with benchmarks/reasons_bench.py)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--model", type=Path, default=ROOT / "artifacts" / "train" / "model.joblib")
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    if not args.model.exists():
        raise SystemExit(f"{args.model}: no model (run `dvc repro` or pass --model)")
    os.environ.setdefault("LEADSCORE_MQL_THRESHOLD", "40")
    for name in ("params", "personas", "sla"):
        os.environ.setdefault(f"LEADSCORE_{name.upper()}_PATH", str(ROOT / f"{name}.yaml"))
    return args


def main() -> None:
    args = model_arguments(__doc__.split("\n")[0])

    from benchmarks.bare_service import BareModel
    from benchmarks.serve_bench import request_bodies
    from serve.batch import score_batch
    from serve.column_json import read_columnar
    from serve.errors import json_response
    from serve.settings import Settings
    from serve.state import build_serving

    settings = Settings(model_uri=str(args.model))
    scorer = build_serving(settings).scorer
    bare = BareModel(str(args.model))
    body = orjson.dumps(request_bodies()["batch_columns"])
    data = orjson.loads(body)
    columns, n = data["columns"], len(data["lead_ids"])
    now = datetime.now(UTC)
    X = bare.columns(columns, n)
    result = score_batch(scorer, data, settings.max_batch, settings.max_events_per_lead, now, body)
    r = args.repeats
    print(f"columnar batch of {n} leads, {len(columns)} columns, body {len(body) / 1e3:.0f} kB")
    print(f"trees: {'compiled' if scorer._compiled is not None else 'booster'}")

    decode = cpu_ms(lambda: orjson.loads(body), r)
    bare_steps = {
        "JSON decode (orjson)": decode,
        "lists -> float64 columns": cpu_ms(lambda: bare.columns(columns, n), r),
        "Booster.predict, 1 thread": cpu_ms(lambda: bare.predict(X), r),
        "JSON answer": cpu_ms(
            lambda: orjson.dumps({"lead_id": data["lead_ids"], "raw_score": list(range(n))}), r
        ),
    }
    fast = read_columnar(body, scorer.numeric_names)
    if fast is None:
        print("fast columnar reader off (pysimdjson missing?): leadscore decodes with orjson")
    read = fast or data
    ours = {
        "JSON decode (simdjson -> float64 columns)" if fast else "JSON decode (orjson)": cpu_ms(
            lambda: read_columnar(body, scorer.numeric_names) or orjson.loads(body), r
        ),
        "score_batch (encode, checks, trees, rules)": cpu_ms(
            lambda: score_batch(
                scorer, read, settings.max_batch, settings.max_events_per_lead, now, body
            ),
            r,
        ),
        "JSON answer": cpu_ms(lambda: json_response(result), r),
    }
    encoded, _ = scorer.encode_columns(read["columns"], n)
    parts = {
        "  of which encode_columns": cpu_ms(lambda: scorer.encode_columns(read["columns"], n), r),
        "  of which trees (raw scores)": cpu_ms(lambda: scorer.predict(encoded), r),
    }
    for title, steps in (("bare service", bare_steps), ("leadscore", {**ours, **parts})):
        print(f"\n{title} (CPU ms per batch, median of {r})")
        for name, ms in steps.items():
            print(f"  {name:45s} {ms:8.2f}")
    bare_total = sum(bare_steps.values())
    ours_total = sum(ours.values())
    shared = decode + bare_steps["lists -> float64 columns"]
    print(f"\nbare total {bare_total:.2f} ms, leadscore total {ours_total:.2f} ms")
    print(f"leadscore / bare throughput, one thread: {bare_total / ours_total:.2f}x")
    print(
        f"ceiling with the same JSON (bare total / (decode + conversion)): "
        f"{bare_total / shared:.2f}x"
    )


if __name__ == "__main__":
    main()
