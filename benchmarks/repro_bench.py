"""How long the default `dvc repro` takes on a clean clone, stage by stage.

    python benchmarks/repro_bench.py [--ref HEAD] [--runs 1] [--keep]

Clones the committed tree at REF into a temporary folder (nothing of this checkout's outputs,
MLflow store or DVC cache comes along), then runs every stage of `dvc.yaml` in pipeline order
with `dvc repro --single-item STAGE`, so each stage's wall time and the CPU time of its process
tree are measured on their own. With `--runs N` the whole clean-clone repro is repeated N times
and the median of each figure printed. The last row also gives a plain `dvc repro` of the whole
pipeline on a fresh clone (what a user types), to show the per-stage runs add no hidden cost.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def stage_names() -> list[str]:
    """Stages in the order `dvc.yaml` lists them, which is their dependency order."""
    return list(yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"])


def clone_env(checkout: Path) -> dict[str, str]:
    """The environment a clone's stages run in: its own code first on the import path.

    `leadscore` is an editable install of some other checkout, and a PYTHONPATH set for a
    worktree would win too: without this, every --ref would measure the same code."""
    return {**os.environ, "PYTHONPATH": str(checkout)}


def timed(argv: list[str], cwd: Path) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system of the whole child tree) of one command."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, env=clone_env(cwd), capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        sys.exit(f"{' '.join(argv)} failed in {cwd}:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def clean_clone(ref: str, into: Path) -> Path:
    checkout = into / "leadscore"
    subprocess.run(["git", "clone", "-q", "--no-checkout", str(REPO), str(checkout)], check=True)
    subprocess.run(["git", "checkout", "-q", ref], cwd=checkout, check=True)
    # the clone is a sibling-less folder: data the project reads from ../shared stays reachable
    shared = REPO.parent / "shared"
    if shared.exists() and not (into / "shared").exists():
        (into / "shared").symlink_to(shared)
    return checkout


def one_run(ref: str, stages: list[str]) -> dict[str, tuple[float, float]]:
    figures: dict[str, tuple[float, float]] = {}
    with tempfile.TemporaryDirectory(prefix="repro-bench-") as tmp:
        checkout = clean_clone(ref, Path(tmp))
        env_note = os.environ.get("MLFLOW_TRACKING_URI")
        if env_note:
            print(f"note: MLFLOW_TRACKING_URI={env_note} is set and used by the stages")
        for stage in stages:
            figures[stage] = timed(["dvc", "repro", "--single-item", stage], checkout)
            print(
                f"  {stage:<12} {figures[stage][0]:6.1f} s wall {figures[stage][1]:6.1f} s CPU",
                flush=True,
            )
    with tempfile.TemporaryDirectory(prefix="repro-bench-") as tmp:
        checkout = clean_clone(ref, Path(tmp))
        figures["dvc repro (whole)"] = timed(["dvc", "repro"], checkout)
        print(f"  whole repro  {figures['dvc repro (whole)'][0]:6.1f} s wall", flush=True)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ref", default="HEAD", help="commit to clone (default HEAD)")
    parser.add_argument("--runs", type=int, default=1, help="clean-clone repros (median printed)")
    args = parser.parse_args()
    if shutil.which("dvc") is None:
        sys.exit("dvc is not on PATH: pip install -c requirements.lock -e '.[dev]' first")
    stages = stage_names()
    runs = []
    for number in range(args.runs):
        print(f"run {number + 1}/{args.runs} ({args.ref})", flush=True)
        runs.append(one_run(args.ref, stages))
    print(f"\n{'stage':<18} {'median wall s':>14} {'median CPU s':>13}")
    for stage in [*stages, "dvc repro (whole)"]:
        wall = statistics.median(run[stage][0] for run in runs)
        cpu = statistics.median(run[stage][1] for run in runs)
        print(f"{stage:<18} {wall:>14.1f} {cpu:>13.1f}")
    total_wall = sum(statistics.median(run[s][0] for run in runs) for s in stages)
    print(f"{'sum of stages':<18} {total_wall:>14.1f}")


if __name__ == "__main__":
    main()
