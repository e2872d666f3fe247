"""Benchmark the re-scoring worker alone: how many stored events per second one worker re-scores,
and where a step's time goes, with no HTTP, no sender and no receiver competing for the cores.

The project's simulated log in time order (ingest/replay.py) is stored first (EventStore.add, in
requests of --batch messages); then the worker (ingest/worker.py, the project's champion, the
service's scorer settings) drains it step by step, as the service's thread does. Every step is
timed by phase; `--profile` prints the cProfile of the drain as well.

Figures: messages re-scored per second of draining (median of --repeat fresh stores), each
phase's share, alerts, and the ratio against the baseline measured in the same run: the store's
own write rate for the same messages (what storing alone costs).

    python benchmarks/events_worker_bench.py --project /tmp/ev-proj --messages 20000
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def load_scorer(project: Path) -> Any:
    """The champion as `leadscore serve` builds it (serve/state.py), from the project folder."""
    from serve.settings import Settings
    from serve.state import build_serving

    os.chdir(project)
    uri = f"sqlite:///{project / 'mlflow.db'}"
    os.environ.setdefault("MLFLOW_TRACKING_URI", uri)
    os.environ.setdefault("MLFLOW_REGISTRY_URI", uri)
    return build_serving(Settings()).scorer


def store_messages(url: str, messages: list[dict], batch: int) -> float:
    """Store the messages as POST /v1/events would; the seconds it took."""
    from features.mapping_file import load_mapping
    from features.mapping_one import EventNamer
    from ingest.segment import messages_of as parse
    from store import Store
    from store.events import EventStore, Identify

    namer = EventNamer(load_mapping(None))
    with Store.open(url) as store:
        live = EventStore(store)
        started = time.perf_counter()
        for first in range(0, len(messages), batch):
            now = datetime.now(UTC)
            parsed = parse({"batch": messages[first : first + batch]}, namer, now, batch)
            who = [
                Identify(m.message_id, m.lead_id, m.anonymous_id, m.profile)
                for m in parsed
                if m.profile is not None
            ]
            live.add([m.row(now) for m in parsed], who, now)
        return time.perf_counter() - started


def drain(url: str, scorer: Any, project: Path, profile: bool) -> dict[str, Any]:
    """Re-score everything waiting, step by step; seconds, events, alerts, phase times."""
    from foundation.params import DeliveryParams, load_params
    from ingest.rescore import Rules
    from ingest.worker import Worker
    from sla.agreement import load_agreement
    from store import Store

    params = load_params(project / "params.yaml")
    agreement = load_agreement(project / "sla.yaml")
    rules = Rules(follow_up_hours=agreement.follow_up_hours, quiet_days=params.daily.quiet_days)
    with Store.open(url) as store:
        worker = Worker(store, lambda: scorer, rules, params.ingest, None, DeliveryParams())
        profiler = cProfile.Profile() if profile else None
        started = time.perf_counter()
        if profiler:
            profiler.enable()
        done = 0
        while (n := worker.step()) > 0:
            done += n
        if profiler:
            profiler.disable()
        seconds = time.perf_counter() - started
    if profiler:
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(40)
    measures = getattr(worker, "measures", None)  # None: a checkout from before it existed
    counters, phases = (worker.counters, {}) if measures is None else measures.snapshot()[:2]
    return {
        "seconds": seconds,
        "events": done,
        "alerts": counters.alerts,
        "steps": counters.steps,
        "phases": phases,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", type=Path, required=True, help="a folder after `dvc repro`")
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=100, help="messages per stored request")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--profile", action="store_true", help="cProfile the last drain")
    args = parser.parse_args()
    from ingest.replay import load_messages

    raw = args.project / "data" / "raw"
    messages = load_messages(raw / "events.parquet", raw / "leads.parquet")[: args.messages]
    scorer = load_scorer(args.project)
    print(f"{len(messages):,} messages (time order), {os.cpu_count()} cores, one worker")
    rates, writes, runs = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for n in range(args.repeat):
            url = f"sqlite:///{Path(tmp) / f'run{n}.db'}"
            writes.append(len(messages) / store_messages(url, messages, args.batch))
            run = drain(url, scorer, args.project, args.profile and n == args.repeat - 1)
            rates.append(run["events"] / run["seconds"])
            runs.append(run)
    last = runs[-1]
    base = statistics.median(writes)
    rate = statistics.median(rates)
    print(f"baseline: store writes alone {base:,.0f} messages/s (median of {args.repeat})")
    print(
        f"re-scored: {rate:,.0f} messages/s (median of {args.repeat}: "
        + ", ".join(f"{r:,.0f}" for r in rates)
        + f"); {rate / base:.2f}x the baseline's write rate"
    )
    print(
        f"last drain: {last['events']:,} events in {last['steps']} steps, "
        f"{last['alerts']} alerts; time per phase:"
    )
    total = sum(last["phases"].values()) or 1.0
    for phase, seconds in last["phases"].items():
        print(f"  {phase:<12} {seconds:7.2f} s  {100 * seconds / total:5.1f}%")


if __name__ == "__main__":
    main()
