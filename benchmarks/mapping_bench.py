"""Benchmark: what the event-log mapping layer costs the features of the simulated leads.

    python benchmarks/mapping_bench.py                       # 1M leads, before = main
    python benchmarks/mapping_bench.py --sizes 100000 --runs 3 --ref main

"Before" is `build_features` from a clone of `--ref` (the code without the mapping layer), "after"
is this checkout's, on the same cached simulated data (benchmarks/features_bench.py generates and
caches it under benchmarks/output/features/), at the heaviest snapshot (the latest month start),
with the default mapping (no mapping file: the simulator's vocabulary, no event families). Runs
alternate before / after, each in a fresh subprocess, in the same sitting; medians of wall and CPU
seconds are printed with the ratio after / before. Then the mapping itself: `apply_mapping` with the
spelled-out simulator mapping (configs/simulator_mapping.yaml) on the same leads and events, the
work `leadscore validate` adds when a project names a mapping, printed in seconds next to the
features' time.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.features_bench import data_dir, ensure_data  # noqa: E402

WORKER = """
import json, resource, sys, time
sys.path.insert(0, {root!r})
from features.build import build_features
from features.persona import load_personas
from foundation.params import FeatureParams
from pipeline.features import read_interim
import pandas as pd
folder = {folder!r}
leads, events = read_interim(folder, "leads"), read_interim(folder, "events")
last = events["ts"].max()
as_of = pd.Timestamp(year=last.year, month=last.month, day=1, tz="UTC")
personas = load_personas({personas!r})
usage = lambda: sum(resource.getrusage(resource.RUSAGE_SELF)[:2])
started, cpu = time.perf_counter(), usage()
table = build_features(leads, events, None, as_of, personas, FeatureParams())
print(json.dumps({{"wall_s": time.perf_counter() - started, "cpu_s": usage() - cpu,
                  "columns": table.shape[1], "rows": len(table)}}))
"""


def clone(ref: str, into: Path) -> Path:
    subprocess.run(["git", "clone", "-q", str(ROOT), str(into)], check=True)
    subprocess.run(["git", "-C", str(into), "checkout", "-q", ref], check=True)
    return into


def features_run(root: Path, folder: Path) -> dict[str, float]:
    code = WORKER.format(root=str(root), folder=str(folder), personas=str(ROOT / "personas.yaml"))
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def mapping_seconds(folder: Path) -> float:
    import pandas as pd

    from features.mapping import apply_mapping, load_mapping

    leads = pd.read_parquet(folder / "leads.parquet")
    events = pd.read_parquet(folder / "events.parquet")
    # The benchmark's cache has no stages: one row, so the target check has what it needs.
    stages = pd.DataFrame(
        {
            "lead_id": leads["lead_id"].head(1),
            "stage": "sql",
            "ts": leads["created_at"].head(1),
            "deal_value_eur": [None],
        }
    )
    mf = load_mapping(ROOT / "configs" / "simulator_mapping.yaml")
    frames = {"leads": leads, "events": events, "stages": stages}
    started = time.perf_counter()
    apply_mapping(frames, {t: t for t in frames}, mf, "sql")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--ref", default="main", help="the code before the mapping layer")
    parser.add_argument("--source", choices=["simulator", "synthetic"], default="simulator")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        before_root = clone(args.ref, Path(tmp) / "before")
        for size in args.sizes:
            ensure_data(args.source, size)
            folder = data_dir(args.source, size)
            runs: dict[str, list[dict[str, float]]] = {"before": [], "after": []}
            for _ in range(args.runs):
                runs["before"].append(features_run(before_root, folder))
                runs["after"].append(features_run(ROOT, folder))
            wall = {k: statistics.median(r["wall_s"] for r in v) for k, v in runs.items()}
            cpu = {k: statistics.median(r["cpu_s"] for r in v) for k, v in runs.items()}
            same = runs["before"][0]["columns"] == runs["after"][0]["columns"]
            print(f"{size:,} leads ({args.source}), {args.runs} runs each, alternating:")
            print(f"  before ({args.ref}): wall {wall['before']:.2f} s, cpu {cpu['before']:.2f} s")
            print(f"  after (this tree):  wall {wall['after']:.2f} s, cpu {cpu['after']:.2f} s")
            print(
                f"  ratio after/before: wall {wall['after'] / wall['before']:.3f}, "
                f"cpu {cpu['after'] / cpu['before']:.3f}; same columns: {same}"
            )
            mapping_s = mapping_seconds(folder)
            print(f"  apply_mapping (simulator mapping, at validate): {mapping_s:.2f} s")


if __name__ == "__main__":
    main()
