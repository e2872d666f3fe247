"""Wall and CPU time of `leadscore train-table --tune N`: a git ref's code (the baseline, by
default `main`) against this checkout's, in the same sitting, on the same table.

    python benchmarks/train_table_bench.py DATA --mapping MAP [--tune 20] [--ref main] [--runs 1]
        [--out DIR]

Each run is a fresh process in its own temporary folder (artifacts and a SQLite MLflow store
there, never the project's); the baseline's code is `git archive REF` unpacked beside it and put
first on PYTHONPATH, this checkout's is this folder. Runs alternate (baseline, current, ...) so a
load change on the shared machine hits both. Prints per variant the median wall seconds, the
median CPU seconds of the process and its children, the ratio to the baseline, and the cross-
validated AUC the run reported (the chosen model's, and each candidate's when there are some).
With `--out DIR`, each run's `--json` result is kept there (`<variant>-<run>.json`).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def unpack(ref: str, into: Path) -> Path:
    """`git archive ref` as a folder: the baseline's code, untouched by this checkout."""
    archive = into / "baseline.tar"
    with archive.open("wb") as out:
        subprocess.run(["git", "-C", str(ROOT), "archive", ref], stdout=out, check=True)
    code = into / "baseline"
    with tarfile.open(archive) as tar:
        tar.extractall(code, filter="data")
    for built in (ROOT / "models").glob("_linear_treeshap*.so"):
        shutil.copy(built, code / "models")
    return code


def run_once(code: Path, data: Path, mapping: Path, trials: int) -> tuple[float, float, dict]:
    """(wall s, CPU s of the child, its --json result) for one fresh run of `code`."""
    with tempfile.TemporaryDirectory(prefix="train-table-bench-") as tmp:
        env = os.environ | {
            "PYTHONPATH": str(code),
            "MLFLOW_TRACKING_URI": f"sqlite:///{tmp}/mlflow.db",
        }
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "pipeline.cli", "train-table", str(data),
             "--mapping", str(mapping), "--tune", str(trials), "--json"],
            cwd=tmp, env=env, capture_output=True, text=True, check=False,
        )  # fmt: skip
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if done.returncode != 0:
            sys.exit(f"{code}: train-table failed\n{done.stderr[-3000:]}")
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        return wall, cpu, json.loads(done.stdout.strip().splitlines()[-1])


def figures(result: dict) -> str:
    parts = [f"model AUC {result['model']['auc_mean']:.4f}"]
    parts.append(f"logistic baseline {result['baseline']['auc_mean']:.4f}")
    for name, c in (result.get("candidates") or {}).items():
        parts.append(f"{name} {c['auc_mean']:.4f}")
    chosen = result.get("chosen")
    if chosen:
        parts.append(f"final: {chosen['chosen']}")
    return ", ".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path)
    parser.add_argument("--mapping", type=Path, required=True)
    parser.add_argument("--tune", type=int, default=20, help="trials per search")
    parser.add_argument("--ref", default="main", help="git ref of the baseline code")
    parser.add_argument("--runs", type=int, default=1, help="runs per variant (median reported)")
    parser.add_argument("--out", type=Path, help="keep each run's --json result in this folder")
    args = parser.parse_args()
    data, mapping = args.data.resolve(), args.mapping.resolve()
    with tempfile.TemporaryDirectory(prefix="train-table-bench-code-") as tmp:
        variants = {f"baseline ({args.ref})": unpack(args.ref, Path(tmp)), "current": ROOT}
        walls: dict[str, list[float]] = {name: [] for name in variants}
        cpus: dict[str, list[float]] = {name: [] for name in variants}
        for run in range(args.runs):
            for name, code in variants.items():
                wall, cpu, result = run_once(code, data, mapping, args.tune)
                if args.out is not None:
                    args.out.mkdir(parents=True, exist_ok=True)
                    slug = name.split(" ")[0]
                    (args.out / f"{slug}-{run + 1}.json").write_text(json.dumps(result, indent=1))
                walls[name].append(wall)
                cpus[name].append(cpu)
                print(f"run {run + 1} {name}: {wall:.1f} s wall, {cpu:.1f} s CPU; "
                      f"{figures(result)}", flush=True)  # fmt: skip
    base_wall = statistics.median(next(iter(walls.values())))
    base_cpu = statistics.median(next(iter(cpus.values())))
    print(f"{'variant':<20} {'median wall s':>14} {'x baseline':>11} {'median CPU s':>13} "
          f"{'x baseline':>11}")  # fmt: skip
    for name in variants:
        wall, cpu = statistics.median(walls[name]), statistics.median(cpus[name])
        print(f"{name:<20} {wall:>14.1f} {wall / base_wall:>11.2f} {cpu:>13.1f} "
              f"{cpu / base_cpu:>11.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
