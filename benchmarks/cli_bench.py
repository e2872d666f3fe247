"""How quickly `leadscore --help` answers, against the interpreter starting and doing nothing.

    python benchmarks/cli_bench.py [--runs 9]

Prints the median wall time of `python -c pass`, `leadscore --help` and a few subcommands'
`--help`, each as a ratio to the bare interpreter (the machine is shared: ratios travel, absolute
times do not). Every run is a fresh process, as a user's shell would start it.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time

COMMANDS: dict[str, list[str]] = {
    "leadscore --help": ["--help"],
    "leadscore train --help": ["train", "--help"],
    "leadscore serve --help": ["serve", "--help"],
    "leadscore sla report --help": ["sla", "report", "--help"],
}


def wall_times(argv: list[str], runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9, help="runs per command (median reported)")
    args = parser.parse_args()
    leadscore = shutil.which("leadscore")
    if leadscore is None:
        sys.exit("leadscore is not on PATH: pip install -c requirements.lock -e '.[dev]' first")
    baseline = statistics.median(wall_times([sys.executable, "-c", "pass"], args.runs))
    print(f"{'command':<32} {'median s':>9} {'x python -c pass':>17}")
    print(f"{'python -c pass':<32} {baseline:>9.3f} {1.0:>17.1f}")
    for label, rest in COMMANDS.items():
        median = statistics.median(wall_times([leadscore, *rest], args.runs))
        print(f"{label:<32} {median:>9.3f} {median / baseline:>17.1f}")


if __name__ == "__main__":
    main()
