"""Benchmark: what counting the CRMs' stages adds to a daily run, against the step every run
already does with the same stage history in the same sitting.

    python benchmarks/crm_stages_bench.py                     # 100k leads, 10k CRM stages
    python benchmarks/crm_stages_bench.py --leads 1000000 --crm 50000 --repeat 7

Synthetic stage history shaped like the simulator's (about 2.5 rows per lead: mql, contacted,
sql, ...), typed as data/interim types it. Measured, each `--repeat` times (median printed):
- baseline: `sla.report.first_stage_times` on the exports' stages (what the recap and the SLA
  report compute from the history on every run);
- merge: `sla.crm_stages.with_crm_stages` of `--crm` CRM rows (half new stages, half a stage
  the export has, a third of those earlier) into the same stages;
- read: `store.crm_inbox.crm_stage_frame` of those rows from a SQLite store in a temp folder.
Prints seconds and the merge's ratio to the baseline.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sla.crm_stages import with_crm_stages  # noqa: E402
from sla.report import first_stage_times  # noqa: E402
from store import Store  # noqa: E402
from store.crm_inbox import CrmMessage, CrmStage, crm_stage_frame, record_messages  # noqa: E402

STAGES = np.array(["prospect", "mql", "contacted", "sql", "opportunity", "customer"])
START = pd.Timestamp("2026-01-01", tz="UTC")


def exports(leads: int, rng: np.random.Generator) -> pd.DataFrame:
    """About 2.5 stage rows per lead, in the validated dtypes."""
    per_lead = rng.integers(1, 5, size=leads)
    lead = np.repeat(np.arange(leads), per_lead)
    rank = np.concatenate([np.arange(n) for n in per_lead])
    seconds = rng.integers(0, 300 * 86_400, size=len(lead))
    return pd.DataFrame(
        {
            "lead_id": pd.Series([f"L{i:07d}" for i in lead], dtype="str"),
            "stage": pd.Series(STAGES[rank], dtype="str"),
            "ts": (START + pd.to_timedelta(seconds, unit="s")).astype("datetime64[us, UTC]"),
            "deal_value_eur": np.where(STAGES[rank] == "customer", 20_000.0, np.nan),
        }
    )


def crm_rows(stages: pd.DataFrame, n: int, rng: np.random.Generator) -> pd.DataFrame:
    """Half a stage the export has (a third of those earlier), half a stage it has not."""
    known = stages.sample(n // 2, random_state=1)
    shift = np.where(rng.random(len(known)) < 1 / 3, -3600, 3600)
    known = known.assign(ts=known["ts"] + pd.to_timedelta(shift, unit="s"))
    new = pd.DataFrame(
        {
            "lead_id": [f"C{i:07d}" for i in range(n - len(known))],
            "stage": "contacted",
            "ts": START + pd.to_timedelta(rng.integers(0, 300 * 86_400, n - len(known)), unit="s"),
        }
    )
    return pd.concat([known[["lead_id", "stage", "ts"]], new], ignore_index=True)


def median_s(run: object, repeat: int) -> float:
    took = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()  # type: ignore[operator]
        took.append(time.perf_counter() - started)
    return statistics.median(took)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--crm", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    rng = np.random.default_rng(7)
    stages = exports(args.leads, rng)
    crm = crm_rows(stages, args.crm, rng)

    baseline = median_s(lambda: first_stage_times(stages), args.repeat)
    merge = median_s(lambda: with_crm_stages(stages, crm), args.repeat)
    merged = with_crm_stages(stages, crm)
    with (
        tempfile.TemporaryDirectory() as folder,
        Store.open(f"sqlite:///{Path(folder) / 'leadscore.db'}") as store,
    ):
        rows = [
            CrmStage(r.lead_id, r.stage, r.ts.to_pydatetime(), "s")
            for r in crm.itertuples(index=False)
        ]
        messages = [  # a Salesforce message holds up to 100 notifications
            CrmMessage("salesforce", f"m{i}", "bench", stages=tuple(rows[i : i + 100]))
            for i in range(0, len(rows), 100)
        ]
        record_messages(store, messages, datetime.now(UTC))
        read = median_s(lambda: crm_stage_frame(store), args.repeat)

    print(f"stage rows {len(stages):,} ({args.leads:,} leads); CRM stages {len(crm):,}")
    print(f"  merge counted: {merged.added:,} new, {merged.earlier:,} earlier")
    print(f"  baseline first_stage_times  median {baseline:.3f} s")
    print(f"  with_crm_stages             median {merge:.3f} s  ({merge / baseline:.2f}x baseline)")
    print(f"  crm_stage_frame (SQLite)    median {read:.3f} s  ({read / baseline:.2f}x baseline)")


if __name__ == "__main__":
    main()
