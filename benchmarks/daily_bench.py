"""Benchmark `leadscore daily` on ~100k open leads: wall time, peak memory, store growth per run.

Simulates an export of `--leads` leads (default 140,000: about 100k of them are still open on
2026-10-20) with the project's simulator, then runs the real command twice (2026-10-20, then
2026-10-21, the second compared with the first) and the second day once more (a re-run), each in
a fresh subprocess with its own SQLite store. The model is the champion of this project's MLflow
store (run `dvc repro` first); the MQL threshold is the one its SLA report resolved.

Baseline, measured in the same run on the same export: `leadscore score` of the leads table with
its events (same model, same scorer, no validation, no comparison, no store), so the ratio shows
what the daily loop costs on top of scoring.

Peak memory is the child process's maximum resident set size (getrusage of the children: the
largest single process of the command's tree). The command's process tree is also sampled with
psutil every 0.2 s, so the peaks of the command itself (the driver) and of its Dask workers are
reported apart (sampled: a spike shorter than that can be missed).

`--engine dask` runs the daily command with `--engine dask` (a LocalCluster, one worker per core
unless params say otherwise), with its own store and artifacts; the baseline stays `leadscore
score` on pandas.

    python benchmarks/daily_bench.py                    # 140,000 leads
    python benchmarks/daily_bench.py --leads 20000 --out /tmp/dailybench
    python benchmarks/daily_bench.py --engine dask
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
DAY1, DAY2 = "2026-10-20", "2026-10-21"
TARGET_S = 60.0


def simulate(out: Path, n_leads: int) -> None:
    """The project's simulator at `n_leads` (skipped when that export is already there)."""
    marker = out / "raw" / f".n_leads_{n_leads}"
    if marker.exists():
        return
    from foundation.params import Params
    from pipeline.simulate import main

    params = Params.model_validate(
        {
            "paths": {
                "raw": str(out / "raw"),
                "truth": str(out / "truth"),
                "personas": str(ROOT / "personas.yaml"),
            },
            "simulate": {"n_leads": n_leads},
        }
    )
    started = time.perf_counter()
    main(params)
    print(f"simulated {n_leads:,} leads in {time.perf_counter() - started:.1f} s")
    marker.touch()


def bench_params(out: Path, engine: str) -> Path:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["paths"] = {
        **params["paths"],
        "raw": str(out / "raw"),
        "artifacts": str(out / f"artifacts-{engine}"),
        "personas": str(ROOT / "personas.yaml"),
        "sla": str(ROOT / "sla.yaml"),
    }
    path = out / f"params-{engine}.yaml"
    path.write_text(yaml.safe_dump(params))
    return path


def store_bytes(db: Path) -> int:
    return sum(p.stat().st_size for p in db.parent.glob(db.name + "*") if p.is_file())


# A fresh wrapper process per command: its RUSAGE_CHILDREN peak is that command's alone.
WRAPPER = (
    "import resource, subprocess, sys; rc = subprocess.run(sys.argv[1:]).returncode; "
    "print('PEAK_KB', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); "
    "sys.exit(rc)"
)


SAMPLE_SECONDS = 0.2


def sampled_peaks(proc: subprocess.Popen[str]) -> tuple[float, float]:
    """Peak RSS (MB) of the command (the wrapper's child) and of its largest other descendant
    (a Dask worker), sampled until the wrapper exits."""
    import psutil

    wrapper = psutil.Process(proc.pid)
    command = worker = 0.0
    while proc.poll() is None:
        try:
            children = wrapper.children()
            tree = [(c, c.children(recursive=True)) for c in children]
        except psutil.NoSuchProcess:
            break
        for top, below in tree:
            for p in (top, *below):
                try:
                    rss = p.memory_info().rss / 2**20
                except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                    continue
                if p is top:
                    command = max(command, rss)
                else:
                    worker = max(worker, rss)
        time.sleep(SAMPLE_SECONDS)
    return command, worker


def timed(args: list[str], env: dict[str, str]) -> tuple[float, float, str, tuple[float, float]]:
    """Wall seconds, peak RSS (MB) of the command's largest process, stdout, and the sampled
    peaks of the command and its largest worker; a failure stops the benchmark."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-c", WRAPPER, *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    import threading

    sampled: list[tuple[float, float]] = []
    sampler = threading.Thread(target=lambda: sampled.append(sampled_peaks(proc)))
    sampler.start()
    stdout, stderr = proc.communicate()
    sampler.join()
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        sys.exit(f"{' '.join(args)} failed ({proc.returncode}):\n{stdout}\n{stderr}")
    peak = re.search(r"PEAK_KB (\d+)", stderr)
    peak_mb = int(peak.group(1)) / 1024 if peak else float("nan")
    return seconds, peak_mb, stdout, sampled[0] if sampled else (float("nan"), float("nan"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=140_000)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "output" / "daily")
    parser.add_argument(
        "--engine", choices=("pandas", "dask"), default="pandas", help="engine of the daily runs"
    )
    args = parser.parse_args()
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    simulate(out, args.leads)
    params = bench_params(out, args.engine)
    db = out / f"store-{args.engine}.db"
    for p in db.parent.glob(db.name + "*"):
        p.unlink()
    env = {
        **os.environ,
        "LEADSCORE_DB_URL": f"sqlite:///{db}",
        "MLFLOW_TRACKING_URI": os.environ.get("MLFLOW_TRACKING_URI", f"sqlite:///{ROOT}/mlflow.db"),
    }
    env.pop("LEADSCORE_WEBHOOK_URL", None)

    # Baseline: the same model scoring the same export with `leadscore score` (all leads that
    # exist on day one; the daily run scores the open ones among them).
    base_s, base_mb, base_out, _ = timed(
        [
            "leadscore",
            "score",
            str(out / "raw" / "leads.parquet"),
            "--events",
            str(out / "raw" / "events.parquet"),
            "--as-of",
            f"{DAY1}T00:00:00Z",
            "--out",
            str(out / "baseline_scores.parquet"),
        ],
        env,
    )
    print(f"baseline `leadscore score`: {base_s:.1f} s, peak {base_mb:,.0f} MB")
    print("  " + base_out.strip().splitlines()[-1])

    results = []
    for label, day in (("day 1", DAY1), ("day 2", DAY2), ("day 2 re-run", DAY2)):
        before = store_bytes(db)
        seconds, peak_mb, stdout, (command_mb, worker_mb) = timed(
            [
                "leadscore",
                "daily",
                "--params",
                str(params),
                "--as-of",
                day,
                "--engine",
                args.engine,
            ],
            env,
        )
        growth = store_bytes(db) - before
        opened = re.search(r"open leads scored ([\d,]+)", stdout)
        took = re.search(r"took .*", stdout)
        results.append(
            {
                "run": label,
                "seconds": round(seconds, 1),
                "engine": args.engine,
                "peak_mb": round(peak_mb),
                "command_peak_mb_sampled": round(command_mb),
                "worker_peak_mb_sampled": round(worker_mb),
                "store_growth_mb": round(growth / 1e6, 1),
                "open_leads": opened.group(1) if opened else "?",
                "steps": took.group(0) if took else "",
            }
        )
        print(
            f"{label:<13} {seconds:6.1f} s  peak {peak_mb:6,.0f} MB  store +{growth / 1e6:6.1f} MB"
            f"  open leads {results[-1]['open_leads']}  (x{seconds / base_s:.2f} the baseline)"
        )
        print(
            f"  sampled peaks: command {command_mb:,.0f} MB, largest worker {worker_mb:,.0f} MB "
            f"(engine {args.engine})"
        )
        print(f"  {results[-1]['steps']}")
    slowest = max(r["seconds"] for r in results)
    verdict = "met" if slowest < TARGET_S else "MISSED"
    print(f"target: every run under {TARGET_S:.0f} s: {verdict} (slowest {slowest:.1f} s)")
    print(f"store after three runs: {store_bytes(db) / 1e6:.1f} MB ({db})")
    (out / f"results-{args.engine}.json").write_text(
        json.dumps({"baseline_s": base_s, "baseline_peak_mb": base_mb, "runs": results}, indent=2)
    )


if __name__ == "__main__":
    main()
