"""Benchmark: the store of record's `save_run` for one day of 100k scored leads, on SQLite and
PostgreSQL, and the store's growth per run.

    python benchmarks/store_bench.py                       # 100k scores, 3 runs, both backends
    python benchmarks/store_bench.py --leads 20000 --runs 5 --backends sqlite

Rows look like a real day: every open lead's score with three reasons in words and an activity
summary (visits, pages, downloads with topics, intent events, first/last touch), a hand-off of
0.5% of the leads with its full payload, returning/overdue flags, one outbox item per hand-off.
Each run stores a NEW date (a day's append, what the daily job does); then the same date again
(a re-run, which first deletes that date's rows). Baseline in the same process: the same score
table written once to Parquet with pandas (what a file-only daily output would cost).

"our CPU" is this process's CPU time (time.process_time): on a shared machine the wall time
swings with the load, the CPU time much less (PostgreSQL's own work is not in it).

PostgreSQL: $LEADSCORE_TEST_PG_URL (default postgres@127.0.0.1:5432); a scratch database with a
random name is created and dropped. Growth: SQLite file bytes per stored day; PostgreSQL
pg_total_relation_size of the store's tables per stored day.
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from store import OutboxItem, RunRecord, Store  # noqa: E402
from store.schema import dumps  # noqa: E402

PG_URL_ENV = "LEADSCORE_TEST_PG_URL"
DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
HANDOFF_SHARE = 0.005
FLAG_SHARE = 0.01
FIRST_DAY = date(2026, 10, 1)
TOPICS = ["security", "pricing", "integration", "case-study", "compliance"]


def day_tables(
    n: int, day: date, seed: int
) -> tuple[RunRecord, pd.DataFrame, pd.DataFrame, pd.DataFrame, list[OutboxItem]]:
    rng = np.random.default_rng(seed)
    ids = [f"L{i:07d}" for i in range(n)]
    prob = rng.beta(1.2, 6, n)
    score = np.rint(prob * 100).astype(int)
    decision = np.where(score >= 60, "mql", "nurture")
    now = datetime.combine(day, datetime.min.time(), UTC) + timedelta(hours=6)
    reasons = [
        [
            f"visited pricing {k % 5 + 1} times",
            "downloaded a security whitepaper",
            f"persona fit {k % 3 + 1}/3",
        ]
        for k in range(n)
    ]
    activity = [
        {
            "visits": int(k % 17),
            "return_visits": int(k % 5),
            "pages": int(k % 40),
            "downloads": [{"topic": TOPICS[k % 5], "ts": "2026-09-30T10:00:00Z"}],
            "newsletter": bool(k % 2),
            "webinars": int(k % 3),
            "intent": {"pricing_view": int(k % 4), "demo_request": int(k % 7 == 0)},
            "first_touch": "2026-06-01T09:00:00Z",
            "last_touch": "2026-09-30T10:00:00Z",
        }
        for k in range(n)
    ]
    scores = pd.DataFrame(
        {
            "lead_id": ids,
            "channel": rng.choice(["paid_search", "organic_search", "events"], n),
            "persona": rng.choice(["it_manager", "cfo", "developer"], n),
            "probability": prob,
            "score": score,
            "tier": np.where(score >= 60, "A", "C"),
            "decision": decision,
            "rule": "score>=60",
            "grade": "A2",
            "expected_value_eur": prob * 12_000,
            "reasons": reasons,
            "activity": activity,
        }
    )
    handed = ids[: max(int(n * HANDOFF_SHARE), 1)]
    payloads = [
        {
            **scores.iloc[k][["lead_id", "score", "tier"]].to_dict(),
            "reasons": reasons[k],
            "activity": activity[k],
        }
        for k in range(len(handed))
    ]
    handoff = pd.DataFrame(
        {
            "lead_id": handed,
            "handed_at": now,
            "followup_deadline": now + timedelta(hours=24),
            "payload": payloads,
        }
    )
    flagged = ids[-max(int(n * FLAG_SHARE), 1) :]
    flags = pd.DataFrame(
        {"lead_id": flagged, "kind": "returning", "payload": [{"pages": 3} for _ in flagged]}
    )
    outbox = [OutboxItem.new(day, i, p, now) for i, p in zip(handed, payloads, strict=True)]
    run = RunRecord(
        day,
        now,
        now,
        "lead-propensity",
        "7",
        0.6,
        n,
        int((decision == "mql").sum()),
        len(handed),
        len(flagged),
        0,
        {"mql_mtd": 123},
    )
    return run, scores, handoff, flags, outbox


def timed_save(store: Store, tables: tuple) -> tuple[float, float]:
    """Wall and this process's CPU seconds (the machine may be shared: CPU is steadier)."""
    start, cpu = time.perf_counter(), time.process_time()
    store.save_run(*tables)
    return time.perf_counter() - start, time.process_time() - cpu


def timed_read(store: Store, day: date, columns: list[str] | None) -> tuple[float, float]:
    start, cpu = time.perf_counter(), time.process_time()
    store.scores(day, columns=columns)
    return time.perf_counter() - start, time.process_time() - cpu


def parquet_baseline(scores: pd.DataFrame, runs: int) -> float:
    encoded = scores.assign(
        reasons=scores["reasons"].map(dumps), activity=scores["activity"].map(dumps)
    )
    times = []
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(runs):
            start = time.perf_counter()
            encoded.to_parquet(Path(tmp) / f"scores_{k}.parquet", index=False)
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def size_bytes(store: Store, sqlite_path: Path | None) -> int:
    if sqlite_path is not None:
        return sum(p.stat().st_size for p in sqlite_path.parent.glob(sqlite_path.name + "*"))
    import sqlalchemy as sa

    query = sa.text(
        "SELECT SUM(pg_total_relation_size(c)) FROM unnest(ARRAY['runs','scores','handoffs',"
        "'lead_flags','outbox']) AS c"
    )
    with store._engine.connect() as conn:  # benchmark-only peek at the engine
        return int(conn.execute(query).scalar_one())


def bench_backend(name: str, url: str, n: int, runs: int, sqlite_path: Path | None) -> dict:
    with Store.open(url) as store:
        append, sizes = [], []
        for k in range(runs):
            tables = day_tables(n, FIRST_DAY + timedelta(days=k), seed=k)
            append.append(timed_save(store, tables))
            if sqlite_path is not None:  # fold the WAL back into the file before measuring
                with store._engine.connect() as conn:
                    conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            sizes.append(size_bytes(store, sqlite_path))
        rerun = [timed_save(store, tables) for _ in range(runs)]  # same date again
        day = tables[0].run_date
        read_all = [timed_read(store, day, None) for _ in range(runs)]
        read_slim = [timed_read(store, day, ["lead_id", "score", "decision"]) for _ in range(runs)]
    return {
        "backend": name,
        "append_s": statistics.median(a for a, _ in append),
        "append_cpu_s": statistics.median(c for _, c in append),
        "rerun_s": statistics.median(r for r, _ in rerun),
        "read_all_s": statistics.median(w for w, _ in read_all),
        "read_all_cpu_s": statistics.median(c for _, c in read_all),
        "read_slim_s": statistics.median(w for w, _ in read_slim),
        "growth_bytes_per_run": (sizes[-1] - sizes[0]) / max(runs - 1, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args()
    backends = args.backends.split(",")

    _, scores, *_ = day_tables(args.leads, FIRST_DAY, seed=0)
    baseline = parquet_baseline(scores, args.runs)
    print(f"{args.leads:,} scores per run, {args.runs} runs each (medians)")
    print(f"baseline: the score table to Parquet: {baseline:.2f} s")
    results = []
    if "sqlite" in backends:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "leadscore.db"
            results.append(
                bench_backend("sqlite", f"sqlite:///{path}", args.leads, args.runs, path)
            )
    if "postgresql" in backends:
        import psycopg
        from sqlalchemy.engine import make_url

        from store.urls import resolve_url

        admin_url = make_url(resolve_url(os.environ.get(PG_URL_ENV, DEFAULT_PG_URL)))
        libpq = admin_url.set(drivername="postgresql").render_as_string(False)
        name = f"leadscore_bench_{secrets.token_hex(4)}"
        with psycopg.connect(libpq, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
            try:
                url = admin_url.set(database=name).render_as_string(False)
                results.append(bench_backend("postgresql", url, args.leads, args.runs, None))
            finally:
                admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    print(
        f"{'backend':<11} {'save new day':>13} {'(our CPU)':>10} {'re-run':>9} {'x parquet':>10}"
        f" {'read all':>9} {'(our CPU)':>10} {'read 3 cols':>12} {'growth/run':>11}"
    )
    for r in results:
        print(
            f"{r['backend']:<11} {r['append_s']:>11.2f} s {r['append_cpu_s']:>8.2f} s "
            f"{r['rerun_s']:>7.2f} s {r['append_s'] / baseline:>9.1f}x "
            f"{r['read_all_s']:>7.2f} s {r['read_all_cpu_s']:>8.2f} s {r['read_slim_s']:>10.2f} s "
            f"{r['growth_bytes_per_run'] / 1e6:>8.1f} MB"
        )


if __name__ == "__main__":
    main()
