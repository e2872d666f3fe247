"""Benchmark: what the bounds of issue 31 cost and save, against a baseline in the same sitting.

    python benchmarks/robustness_bench.py                  # 5 repeats of each
    python benchmarks/robustness_bench.py --repeats 3 --body-mb 100

1. Delivery against a real loopback receiver answering with a huge body (`--body-mb`, default
   300 MB; a 200 and a 500): the sender's peak traced memory (tracemalloc) and wall time, next
   to the same delivery answered with an empty 200 (the baseline).
2. One lead with 250,000 stages sent to the scoring service's parser: refused by the list limit
   on the decoded JSON (serve/list_limits.py, what the service does first now), by the request
   model's list ceiling (the second guard), against validating every stage (what the service
   did before: the list had no bound), medians of `--repeats`.

Prints medians and ratios; a shared machine swings, so compare within one sitting.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, date, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import orjson  # noqa: E402
import pandas as pd  # noqa: E402

from delivery import deliver_pending  # noqa: E402
from foundation.params import DeliveryParams  # noqa: E402
from store import OutboxItem, RunRecord, Store  # noqa: E402
from tests.misbehaving_receiver import EndlessBody, MisbehavingReceiver, headers_only  # noqa: E402
from tests.webhook_receiver import whsec_for  # noqa: E402

DAY = date(2026, 10, 21)
NOW = datetime(2026, 10, 21, 6, tzinfo=UTC)
SECRET = whsec_for("bench")


def one_delivery(answer: object, folder: Path, n: int) -> tuple[float, float]:
    """(peak traced MiB, seconds) of delivering one queued hand-off to `answer`."""
    with Store.open(f"sqlite:///{folder / f'store-{n}.db'}") as store:
        run = RunRecord(DAY, NOW, NOW, "m", "1", 0.3, 1, 1, 1, 0, 0, {})
        scores = pd.DataFrame(
            {"lead_id": ["L1"], "probability": 0.8, "score": 80, "decision": "mql"}
        )
        store.save_run(run, scores, None, None, [OutboxItem.new(DAY, "L1", {"lead_id": "L1"}, NOW)])
        policy = DeliveryParams(attempts_per_run=1)
        with MisbehavingReceiver(answer) as hook:  # type: ignore[arg-type]
            tracemalloc.start()
            started = time.perf_counter()
            deliver_pending(store, hook.url, SECRET, NOW, policy=policy)
            took = time.perf_counter() - started
            peak = tracemalloc.get_traced_memory()[1] / 2**20
            tracemalloc.stop()
    return peak, took


def delivery(repeats: int, body_mb: int) -> None:
    size = body_mb * 2**20
    cases = {
        "empty 200 (baseline)": lambda: headers_only("200 OK"),
        f"{body_mb} MB 200": lambda: EndlessBody("200 OK", size),
        f"{body_mb} MB 500": lambda: EndlessBody("500 Internal Server Error", size),
    }
    print(f"delivery, {repeats} repeats: peak traced memory and wall time (medians)")
    base: tuple[float, float] | None = None
    with tempfile.TemporaryDirectory() as tmp:
        for name, make in cases.items():
            runs = [one_delivery(make(), Path(tmp), i) for i in range(repeats)]
            peak = statistics.median(r[0] for r in runs)
            took = statistics.median(r[1] for r in runs)
            base = base or (peak, took)
            print(
                f"  {name:<22} peak {peak:7.2f} MiB ({peak / base[0]:5.1f}x)   "
                f"{1000 * took:8.1f} ms ({took / base[1]:5.1f}x)"
            )


def stages(repeats: int) -> None:
    from pydantic import TypeAdapter, ValidationError

    from serve.errors import InputError
    from serve.list_limits import ListLimits, check_lead_lists
    from serve.schemas import LeadStage, ScoreRequest

    stage = {"lead_id": "L1", "stage": "mql", "ts": "2026-01-02T00:00:00Z"}
    body = {"lead": {"created_at": "2026-01-01T00:00:00Z"}, "stages": [stage] * 250_000}
    data = orjson.loads(orjson.dumps(body))
    limits = ListLimits(events=5000, stages=100)

    def refused_by_limit() -> None:
        try:
            check_lead_lists(data, limits)
        except InputError:
            return
        raise AssertionError("the limit should refuse it")

    every_stage = TypeAdapter(list[LeadStage])  # the list without a bound: as before

    def validated_whole() -> None:
        every_stage.validate_python(data["stages"])

    def refused_by_schema() -> None:
        try:
            ScoreRequest.model_validate(data)
        except ValidationError:
            return
        raise AssertionError("the schema ceiling should refuse it")

    print("one lead with 250,000 stages (13 MB of JSON, decoded once beforehand), medians:")
    times = {}
    for name, work in (
        ("validated (before)", validated_whole),
        ("schema ceiling", refused_by_schema),
        ("list limit (now)", refused_by_limit),
    ):
        laps = []
        for _ in range(repeats):
            started = time.perf_counter()
            work()
            laps.append(time.perf_counter() - started)
        times[name] = statistics.median(laps)
    before = times["validated (before)"]
    for name, took in times.items():
        print(f"  {name:<20} {1000 * took:10.3f} ms   ({before / took:,.0f}x faster than before)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--body-mb", type=int, default=300)
    args = parser.parse_args()
    delivery(args.repeats, args.body_mb)
    stages(args.repeats)


if __name__ == "__main__":
    main()
