"""Benchmark `leadscore simulate`: wall time, peak memory and rows per table by lead count.

Each size runs in a fresh subprocess; wall time depends on what else the machine runs, so
CPU seconds (user + system) are printed too. Peak memory is that process's maximum resident set
size (getrusage), because tracemalloc does not see numpy's and Arrow's allocations.

    python benchmarks/simulate_bench.py                     # 100,000 and 1,000,000 leads
    python benchmarks/simulate_bench.py --leads 20000 --out /tmp/simbench
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = """
import json, resource, sys, time
from pathlib import Path
from foundation.params import Params
from pipeline.simulate import main

out, n = Path(sys.argv[1]), int(sys.argv[2])
params = Params.model_validate({
    "paths": {"raw": str(out / "raw"), "truth": str(out / "truth"), "personas": sys.argv[3]},
    "simulate": {"n_leads": n},
})
started = time.perf_counter()
summary = main(params)
seconds = time.perf_counter() - started
usage = resource.getrusage(resource.RUSAGE_SELF)
peak_mb = usage.ru_maxrss / 1024  # KiB on Linux
cpu = usage.ru_utime + usage.ru_stime
sizes = {p.name: p.stat().st_size for p in out.rglob("*.parquet")}
print("BENCH " + json.dumps({"seconds": seconds, "cpu_seconds": cpu, "peak_mb": peak_mb,
                             "rows": summary["rows"], "bytes": sizes}))
"""


def run_one(n_leads: int, out: Path) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", CHILD, str(out), str(n_leads), str(ROOT / "personas.yaml")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    line = next(x for x in result.stdout.splitlines() if x.startswith("BENCH "))
    return json.loads(line.removeprefix("BENCH "))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--out", type=Path, help="output folder (default: a temporary one)")
    args = parser.parse_args()
    print(
        f"{'leads':>10} {'wall s':>8} {'cpu s':>8} {'peak MB':>8} {'events':>12} {'stages':>9} "
        f"{'truth':>11} {'MB on disk':>10}"
    )
    for n in args.leads:
        with tempfile.TemporaryDirectory() as tmp:
            out = (args.out or Path(tmp)) / f"leads_{n}"
            r = run_one(n, out)
        rows = r["rows"]
        print(
            f"{n:>10,} {r['seconds']:>8.1f} {r['cpu_seconds']:>8.1f} {r['peak_mb']:>8.0f} "
            f"{rows['events']:>12,} {rows['stages']:>9,} {rows['truth']:>11,} "
            f"{sum(r['bytes'].values()) / 2**20:>10.0f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
