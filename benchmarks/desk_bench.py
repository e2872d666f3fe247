"""Benchmark: the sales desk's board (sales/service.py `desk_board`: every handed-over lead's
owner, attempts and next attempt due) read from a SQLite store, for a month of hand-offs.

    python benchmarks/desk_bench.py                      # 30 days x 50 hand-offs, 5 repeats
    python benchmarks/desk_bench.py --days 90 --per-day 100

Each handed-over lead has an assignment and 0-3 contacts; one in ten is closed, one in twenty
snoozed. Baseline in the same sitting: reading the same hand-offs alone (store.handed_over()),
the read every overdue list needed before the desk. Prints medians (wall and this process's CPU)
and the ratio to the baseline.
"""

from __future__ import annotations

import argparse
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

from sales.service import desk_board  # noqa: E402
from sla.agreement import load_agreement  # noqa: E402
from store import RunRecord, Store  # noqa: E402
from store.actions import LeadAction, record_actions  # noqa: E402


def fill(store: Store, days: int, per_day: int, seed: int = 0) -> datetime:
    rng = np.random.default_rng(seed)
    first = date(2026, 10, 1)
    actions: list[LeadAction] = []
    for d in range(days):
        day = first + timedelta(days=d)
        at = datetime(day.year, day.month, day.day, tzinfo=UTC)
        ids = [f"L{d:03d}-{i:04d}" for i in range(per_day)]
        run = RunRecord(day, at, at, "m", "1", 10.0, per_day, per_day, per_day, 0, 0, {})
        scores = pd.DataFrame({"lead_id": ids, "probability": 0.3, "score": 30, "decision": "mql"})
        tiers = rng.choice(["A", "B", "C"], per_day)
        handoff = pd.DataFrame(
            {
                "lead_id": ids,
                "handed_at": at,
                "followup_deadline": at + timedelta(hours=24),
                "payload": [{"lead_id": i, "tier": t} for i, t in zip(ids, tiers, strict=True)],
            }
        )
        store.save_run(run, scores, handoff, None, [])
        for lead in ids:
            actions.append(LeadAction(lead, "assigned", at, "leadscore", "leadscore", owner="anna"))
            for k in range(int(rng.integers(0, 4))):
                when = at + timedelta(hours=int(rng.integers(1, 24)) + 48 * k)
                actions.append(LeadAction(lead, "contacted", when, "anna", "api", channel="phone"))
            if rng.random() < 0.1:
                actions.append(
                    LeadAction(
                        lead, "closed", at + timedelta(days=5), "anna", "api", reason="no_budget"
                    )
                )
            elif rng.random() < 0.05:
                actions.append(
                    LeadAction(
                        lead,
                        "snoozed",
                        at + timedelta(hours=2),
                        "anna",
                        "api",
                        until=day + timedelta(days=7),
                    )
                )
    record_actions(store, actions)
    return datetime(first.year, first.month, first.day, tzinfo=UTC) + timedelta(days=days)


def timed(call, repeats: int) -> tuple[float, float]:
    wall, cpu = [], []
    for _ in range(repeats):
        w, c = time.perf_counter(), time.process_time()
        call()
        wall.append(time.perf_counter() - w)
        cpu.append(time.process_time() - c)
    return statistics.median(wall), statistics.median(cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--per-day", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    desk = load_agreement(ROOT / "sla.yaml").sales_desk
    with tempfile.TemporaryDirectory() as tmp, Store.open(f"sqlite:///{tmp}/s.db") as store:
        at = fill(store, args.days, args.per_day)
        n = args.days * args.per_day
        base = timed(store.handed_over, args.repeats)
        board = timed(lambda: desk_board(store, desk, at), args.repeats)
        print(f"{n:,} handed-over leads, {args.repeats} repeats, medians:")
        print(f"  baseline store.handed_over(): wall {base[0]:.3f} s, cpu {base[1]:.3f} s")
        print(f"  desk_board():                 wall {board[0]:.3f} s, cpu {board[1]:.3f} s")
        print(f"  ratio (wall): {board[0] / base[0]:.1f}x; per lead {1e3 * board[0] / n:.2f} ms")


if __name__ == "__main__":
    main()
