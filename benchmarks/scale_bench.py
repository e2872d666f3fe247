"""Benchmark `leadscore validate` and `leadscore features` at scale, pandas vs Dask: wall time,
CPU time and peak memory of every process (the command and, with Dask, its cluster's workers).

Each step runs as the real command in a subprocess; a sampler walks its process tree with psutil
every 0.2 s and keeps, per process, the highest resident set size and the last CPU times seen
(a process that lives less than 0.2 s may be missed: none of the heavy ones do). The baseline is
the pandas engine on the same data in the same run; ratios are Dask / pandas.

Data: simulated exports cached under benchmarks/output/leads_<N>/raw (simulating 1M leads takes
about 5 minutes, 3M about 15; see benchmarks/simulate_bench.py, or pass --simulate to make them).

    python benchmarks/scale_bench.py                       # 1M and 3M leads, both engines
    python benchmarks/scale_bench.py --leads 1000000 --engines dask
    python benchmarks/scale_bench.py --leads 1000000 --engines dask --steps features \
        --partition-rows 1000000 2000000 4000000     # worker memory by partition size
    python benchmarks/scale_bench.py --leads 3000000 --engines pandas --steps features \
        --max-gb 18                           # a run that cannot fit is killed, not swapped
    python benchmarks/scale_bench.py --leads 1000000 --one-partition 15 30 60
        # one partition's build alone in a process (what a worker does per partition)

A run whose processes together pass --max-gb (default 20) is killed and reported with the size
and time it had reached. A features-only run reads the validated tables of an earlier
validate run of the same engine (benchmarks/output/scale/<N>_<engine>_default/interim).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import sys
import time
from pathlib import Path

import psutil
import yaml

ROOT = Path(__file__).resolve().parents[1]
OUTPUT = ROOT / "benchmarks" / "output"
SAMPLE_SECONDS = 0.2


def simulate(n_leads: int, folder: Path) -> None:
    code = (
        "import sys; from pathlib import Path; from foundation.params import Params; "
        "from pipeline.simulate import main; out = Path(sys.argv[1]); "
        "main(Params.model_validate({'paths': {'raw': str(out / 'raw'), "
        "'truth': str(out / 'truth'), 'personas': 'personas.yaml'}, "
        "'simulate': {'n_leads': int(sys.argv[2])}}))"
    )
    subprocess.run([sys.executable, "-c", code, str(folder), str(n_leads)], cwd=ROOT, check=True)


def measure(command: list[str], log: Path, max_gb: float) -> dict:
    """Run `command`; wall time, CPU seconds summed over the tree, peak RSS of each process.
    The memory guard: when the tree's resident memory passes `max_gb`, every process in it is
    killed (the run is reported as killed, with the size and time it had reached) before the
    machine starts swapping or the kernel picks a victim."""
    peaks: dict[int, dict] = {}
    killed = None
    started = time.perf_counter()
    with open(log, "w") as out:
        proc = subprocess.Popen(command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
        root = psutil.Process(proc.pid)
        while proc.poll() is None:
            try:
                tree = [root, *root.children(recursive=True)]
            except psutil.NoSuchProcess:
                break
            total = 0.0
            for p in tree:
                try:
                    with p.oneshot():
                        rss = p.memory_info().rss
                        cpu = p.cpu_times()
                        name = " ".join(p.cmdline()[1:4])[:60]
                except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                    continue
                seen = peaks.setdefault(p.pid, {"name": name, "peak_mb": 0.0, "cpu_s": 0.0})
                seen["peak_mb"] = max(seen["peak_mb"], rss / 2**20)
                seen["cpu_s"] = max(seen["cpu_s"], cpu.user + cpu.system)
                total += rss / 2**30
            if total > max_gb and killed is None:
                seconds = time.perf_counter() - started
                killed = f"killed by the guard at {total:.1f} GB after {seconds:.0f} s"
                for p in reversed(tree):
                    with contextlib.suppress(psutil.NoSuchProcess):
                        p.kill()
            time.sleep(SAMPLE_SECONDS)
    wall = time.perf_counter() - started
    heavy = sorted(peaks.values(), key=lambda p: -p["peak_mb"])
    return {
        "ok": proc.returncode == 0,
        "killed": killed,
        "wall_s": wall,
        "cpu_s": sum(p["cpu_s"] for p in heavy),
        "max_process_mb": heavy[0]["peak_mb"] if heavy else 0.0,
        "processes": [p for p in heavy if p["peak_mb"] > 100],
    }


def params_file(
    run: Path, engine: str, workers: int, partition_rows: int | None, interim: Path
) -> Path:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["paths"].update({"interim": str(interim), "features": str(run / "features")})
    params["engine"].update({"kind": engine, "workers": workers})
    if partition_rows:
        params["engine"]["partition_rows"] = partition_rows
    path = run / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    return path


TABLES = ("leads", "events", "stages")
# What a worker runs per lead partition, alone in a fresh process: its peak is the build's.
ONE_PARTITION = (
    "import sys; from pathlib import Path; import pandas as pd; "
    "from engine.features import partition_training_table; "
    "from features.persona import load_personas; from foundation.params import load_params; "
    "scratch = Path(sys.argv[1]); "
    "params = load_params(Path('params.yaml')).features.model_copy("
    "update={'data_end': pd.Timestamp(sys.argv[2]).to_pydatetime()}); "
    "partition_training_table(scratch, 0, load_personas(Path(sys.argv[3])), params, "
    "scratch / 'table.parquet')"
)


def cut_partition(interim: Path, parts: int, scratch: Path) -> tuple[dict[str, int], str]:
    """One lead partition out of `parts` (the leads whose lead_id hash is 0 modulo `parts`, a
    share like the shuffle's), written as the shuffle writes part 0 of each table (file order
    in ROW, the hash in BUCKET); returns its rows per table and the whole data's end."""
    import numpy as np
    import pandas as pd
    import pyarrow.parquet as pq

    from engine.partition import BUCKET, ROW, lead_bucket, part_name
    from foundation.chunks import parquet_files

    rows, end = {}, None
    for table in TABLES:
        pieces, start = [], 0
        for path in parquet_files(interim / f"{table}.parquet"):
            file = pq.ParquetFile(path)
            for group in range(file.num_row_groups):
                frame = file.read_row_group(group).to_pandas()
                bucket = lead_bucket(frame["lead_id"])
                keep = bucket % parts == 0
                numbers = np.arange(start, start + len(frame), dtype=np.int64)
                pieces.append(frame.loc[keep].assign(**{ROW: numbers[keep], BUCKET: bucket[keep]}))
                start += len(frame)
                if table != "leads" and len(frame):
                    latest = frame["ts"].max()
                    end = latest if end is None or latest > end else end
        part = pd.concat(pieces, ignore_index=True)
        (scratch / table).mkdir(parents=True, exist_ok=True)
        part.to_parquet(scratch / table / part_name(0), index=False)
        rows[table] = len(part)
    return rows, pd.Timestamp(end).isoformat()


def partition_memory(n: int, parts_list: list[int], max_gb: float) -> None:
    """Peak memory of one partition's build (what each Dask worker does per partition) for
    several partition counts at `n` leads: the per-worker memory against partition size."""
    interim = OUTPUT / "scale" / f"{n}_dask_default" / "interim"
    personas = interim / "personas.yaml"
    print(
        f"{'leads':>10} {'partitions':>10} {'events':>10} {'leads/part':>10} {'wall s':>8} "
        f"{'cpu s':>8} {'peak MB':>8}",
        flush=True,
    )
    for parts in parts_list:
        scratch = OUTPUT / "scale" / f"{n}_one_partition_of_{parts}"
        rows, end = cut_partition(interim, parts, scratch)
        command = [sys.executable, "-c", ONE_PARTITION, str(scratch), end, str(personas)]
        r = measure(command, scratch / "build.log", max_gb)
        status = "" if r["ok"] else f"  FAILED (see {scratch / 'build.log'})"
        print(
            f"{n:>10,} {parts:>10} {rows['events']:>10,} {rows['leads']:>10,} "
            f"{r['wall_s']:>8.1f} {r['cpu_s']:>8.1f} {r['max_process_mb']:>8.0f}{status}",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, nargs="+", default=[1_000_000, 3_000_000])
    parser.add_argument("--engines", nargs="+", default=["dask", "pandas"])
    parser.add_argument("--steps", nargs="+", default=["validate", "features"])
    parser.add_argument("--workers", type=int, default=2, help="LocalCluster workers")
    parser.add_argument("--partition-rows", type=int, nargs="+", default=[None])
    parser.add_argument("--simulate", action="store_true", help="make missing data first")
    parser.add_argument(
        "--max-gb", type=float, default=20.0, help="kill a run whose processes pass this (GB)"
    )
    parser.add_argument("--json", type=Path, default=OUTPUT / "scale_bench.jsonl")
    parser.add_argument(
        "--one-partition",
        type=int,
        nargs="+",
        metavar="PARTITIONS",
        help="instead: peak memory of one partition's build, for these partition counts",
    )
    args = parser.parse_args()
    if args.one_partition:
        for n in args.leads:
            partition_memory(n, args.one_partition, args.max_gb)
        return
    print(
        f"{'leads':>10} {'step':<9} {'engine':<7} {'part rows':>9} {'wall s':>8} {'cpu s':>8} "
        f"{'max proc MB':>11} {'procs':>5}  per process peak MB",
        flush=True,
    )
    baseline: dict[tuple[int, str], float] = {}
    for n in args.leads:
        data = OUTPUT / f"leads_{n}"
        if not (data / "raw" / "events.parquet").exists():
            if not args.simulate:
                print(f"{n:>10,} no data in {data}/raw (run with --simulate)", flush=True)
                continue
            simulate(n, data)
        for engine in args.engines:
            for rows in args.partition_rows if engine == "dask" else [None]:
                run = OUTPUT / "scale" / f"{n}_{engine}_{rows or 'default'}"
                run.mkdir(parents=True, exist_ok=True)
                # Features without validate in this run: the validated tables of an earlier one.
                interim = run / "interim"
                if "validate" not in args.steps:
                    interim = OUTPUT / "scale" / f"{n}_{engine}_default" / "interim"
                params = params_file(run, engine, args.workers, rows, interim)
                for step in args.steps:
                    command = ["leadscore", step, "--params", str(params)]
                    if step == "validate":
                        command += ["--raw", str(data / "raw")]
                    r = measure(command, run / f"{step}.log", args.max_gb)
                    key = (n, step)
                    ratio = ""
                    if engine == "pandas" and r["ok"]:
                        baseline[key] = r["wall_s"]
                    elif key in baseline and r["ok"]:
                        ratio = f"  x{r['wall_s'] / baseline[key]:.2f} wall vs pandas"
                    procs = ", ".join(f"{p['peak_mb']:.0f}" for p in r["processes"])
                    status = "" if r["ok"] else f"  FAILED (see {run / (step + '.log')})"
                    if r["killed"]:
                        status = f"  {r['killed']}"
                    print(
                        f"{n:>10,} {step:<9} {engine:<7} {rows or '-':>9} {r['wall_s']:>8.1f} "
                        f"{r['cpu_s']:>8.1f} {r['max_process_mb']:>11.0f} "
                        f"{len(r['processes']):>5}  {procs}{ratio}{status}",
                        flush=True,
                    )
                    with open(args.json, "a") as out:
                        record = {"leads": n, "step": step, "engine": engine, "rows": rows}
                        out.write(json.dumps(record | r) + "\n")
                    if not r["ok"]:
                        break


if __name__ == "__main__":
    main()
