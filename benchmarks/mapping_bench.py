"""Benchmark: what the event-log mapping layer costs on the simulated leads, validate + features.

    python benchmarks/mapping_bench.py                              # 1M leads, 3 repeats, ref main
    python benchmarks/mapping_bench.py --sizes 200000 --repeats 1 --ref none

The same cached simulated exports (benchmarks/features_bench.py generates them under
benchmarks/output/features/) go through `leadscore validate` and then `build_features` at the
heaviest snapshot (the latest month start), each side in a fresh subprocess:
- plain: no mapping (params paths.mapping null): validate reads the exports as they are;
- mapped: the simulator's vocabulary spelled out as a mapping (configs/simulator_mapping.yaml),
  what every team with its own log runs: validate applies the mapping first;
- ref (`--ref`, default main): the mapped side on a clone of that revision, the code before.
The sides alternate within each repeat, so a busy spell on the shared machine hits them alike;
the figures are medians over `--repeats`. Features run on the tables each side's validate wrote:
the mapped and plain interim tables are compared (they must be equal), so the features' work is
the same and only the validate step can differ.

The mapping layer's cost is what naming the mapping adds to validate, mapped - plain, and its
share is that over the mapped side's validate + features (wall time; CPU seconds beside it, which
a busy machine inflates less). A subprocess whose resident memory passes `--max-rss-gb` is
stopped and reported as such, so no side can take the shared machine down.
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

import pandas as pd
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.features_bench import data_dir, ensure_data  # noqa: E402

KB_PER_GB = 1024**2
POLL_S = 0.5
COMPARED_BATCH_ROWS = 1_000_000
SIDE = """
import contextlib, io, json, resource, sys, time
sys.path.insert(0, {root!r})
import pandas as pd
from features.build import build_features
from features.persona import load_personas
from foundation.params import FeatureParams, Params
from pipeline import validate
from pipeline.features import read_interim

usage = lambda: sum(resource.getrusage(resource.RUSAGE_SELF)[:2])
params = Params.model_validate({{"paths": {{"raw": {raw!r}, "interim": {interim!r},
                                "mapping": {mapping!r}, "personas": {personas!r}}}}})
started, cpu = time.perf_counter(), usage()
with contextlib.redirect_stdout(io.StringIO()):
    validate.main(params)
validate_wall, validate_cpu = time.perf_counter() - started, usage() - cpu
leads, events = read_interim({interim!r}, "leads"), read_interim({interim!r}, "events")
last = events["ts"].max()
as_of = pd.Timestamp(year=last.year, month=last.month, day=1, tz="UTC")
personas = load_personas({personas!r})
started, cpu = time.perf_counter(), usage()
table = build_features(leads, events, None, as_of, personas, FeatureParams())
features_wall, features_cpu = time.perf_counter() - started, usage() - cpu
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / {kb_per_gb}
print(json.dumps({{"validate_wall": validate_wall, "validate_cpu": validate_cpu,
                  "features_wall": features_wall, "features_cpu": features_cpu,
                  "peak_gb": peak}}))
"""


def clone(ref: str, into: Path) -> Path:
    subprocess.run(["git", "clone", "-q", str(ROOT), str(into)], check=True)
    subprocess.run(["git", "-C", str(into), "checkout", "-q", ref], check=True)
    for lib in (ROOT / "models").glob("_linear_treeshap*.so"):  # built, not in git
        (into / "models" / lib.name).write_bytes(lib.read_bytes())
    return into


def rss_gb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / KB_PER_GB
    except OSError:
        pass
    return 0.0


def run_capped(code: str, root: Path, max_rss_gb: float) -> dict[str, float | str]:
    """Run `code` in a fresh interpreter; stop it if its RSS passes the cap."""
    env = {"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"}
    proc = subprocess.Popen(
        [sys.executable, "-c", code], cwd=root, env=env, stdout=subprocess.PIPE, text=True
    )
    started, seen = time.perf_counter(), 0.0
    while proc.poll() is None:
        seen = max(seen, rss_gb(proc.pid))
        if seen > max_rss_gb:
            proc.kill()
            proc.wait()
            return {
                "stopped": f"RSS passed the {max_rss_gb:g} GB cap after "
                f"{time.perf_counter() - started:.0f} s"
            }
        time.sleep(POLL_S)
    out = proc.stdout.read() if proc.stdout else ""
    if proc.returncode:
        return {"stopped": f"exit {proc.returncode}"}
    return json.loads(out.strip().splitlines()[-1])


def raw_folder(folder: Path, into: Path) -> Path:
    """The cached leads and events as an export folder, with one stage row (the cache has no
    stage log; the mapping's target check needs one row to find)."""
    into.mkdir(parents=True, exist_ok=True)
    for table in ("leads", "events"):
        (into / f"{table}.parquet").symlink_to(folder / f"{table}.parquet")
    leads = pd.read_parquet(folder / "leads.parquet", columns=["lead_id", "created_at"])
    pd.DataFrame(
        {
            "lead_id": leads["lead_id"].head(1),
            "stage": "sql",
            "ts": leads["created_at"].head(1),
            "deal_value_eur": [None],
        }
    ).to_parquet(into / "stages.parquet")
    return into


def same_table(a: Path, b: Path) -> bool:
    """Two Parquet tables hold the same rows and values, compared batch by batch (a 57M-row
    table whole would take gigabytes twice)."""
    fa, fb = pq.ParquetFile(a), pq.ParquetFile(b)
    columns = fa.schema_arrow.names
    if fa.metadata.num_rows != fb.metadata.num_rows or columns != fb.schema_arrow.names:
        return False
    batches = zip(
        fa.iter_batches(COMPARED_BATCH_ROWS, columns=columns),
        fb.iter_batches(COMPARED_BATCH_ROWS, columns=columns),
        strict=True,
    )
    for x, y in batches:
        for name in columns:
            left, right = x.column(name), y.column(name)
            if left.type != right.type:
                right = right.cast(left.type)
            if not left.equals(right):
                return False
    return True


def median(runs: list[dict[str, float | str]], key: str) -> float:
    return statistics.median(float(r[key]) for r in runs)


def report(name: str, runs: list[dict[str, float | str]]) -> str:
    done = [r for r in runs if "stopped" not in r]
    if len(done) < len(runs):
        return f"  {name}: stopped ({next(r['stopped'] for r in runs if 'stopped' in r)})"
    return (
        f"  {name}: validate wall {median(done, 'validate_wall'):.1f} s "
        f"(cpu {median(done, 'validate_cpu'):.1f}), features wall "
        f"{median(done, 'features_wall'):.1f} s (cpu {median(done, 'features_cpu'):.1f}), "
        f"peak RSS {max(float(r['peak_gb']) for r in done):.2f} GB"
    )


def share(mapped: list[dict], plain: list[dict], kind: str) -> tuple[float, float]:
    """The mapping's cost (mapped - plain validate, medians) and its share of the mapped side's
    validate + features."""
    cost = median(mapped, f"validate_{kind}") - median(plain, f"validate_{kind}")
    total = median(mapped, f"validate_{kind}") + median(mapped, f"features_{kind}")
    return cost, cost / total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--ref", default="main", help="the code before ('none': skip that side)")
    parser.add_argument("--max-rss-gb", type=float, default=12.0)
    args = parser.parse_args()
    personas = str(ROOT / "personas.yaml")
    with tempfile.TemporaryDirectory() as tmp:
        sides: dict[str, tuple[Path, str | None]] = {"plain": (ROOT, None)}
        roots = {"mapped": ROOT}
        if args.ref != "none":
            roots["ref"] = clone(args.ref, Path(tmp) / "ref")
        for side, root in roots.items():  # each code its own mapping file (its own contract)
            sides[side] = (root, str(root / "configs" / "simulator_mapping.yaml"))
        for size in args.sizes:
            ensure_data("simulator", size)
            raw = raw_folder(data_dir("simulator", size), Path(tmp) / f"raw_{size}")
            print(
                f"{size:,} leads (simulator): validate + build_features at the latest month, "
                f"median of {args.repeats}",
                flush=True,
            )
            runs: dict[str, list[dict[str, float | str]]] = {side: [] for side in sides}
            for _ in range(args.repeats):
                for side, (root, mapped) in sides.items():
                    code = SIDE.format(
                        root=str(root),
                        raw=str(raw),
                        interim=str(Path(tmp) / f"interim_{side}_{size}"),
                        mapping=mapped,
                        personas=personas,
                        kb_per_gb=KB_PER_GB,
                    )
                    runs[side].append(run_capped(code, root, args.max_rss_gb))
            for side in sides:
                where = args.ref if side == "ref" else "this tree"
                print(report(f"{side} ({where})", runs[side]))
            done = {s: r for s, r in runs.items() if all("stopped" not in x for x in r)}
            if {"plain", "mapped"} <= done.keys():
                interim = {s: Path(tmp) / f"interim_{s}_{size}" for s in ("plain", "mapped")}
                same = all(
                    same_table(
                        interim["plain"] / f"{t}.parquet", interim["mapped"] / f"{t}.parquet"
                    )
                    for t in ("leads", "events", "stages")
                )
                print(f"  mapped and plain interim tables equal: {'yes' if same else 'NO'}")
            for side in ("mapped", "ref"):
                if side in done and "plain" in done:
                    (wall, wall_share), (cpu, cpu_share) = (
                        share(done[side], done["plain"], kind) for kind in ("wall", "cpu")
                    )
                    print(
                        f"  mapping layer ({side}): +{wall:.1f} s wall, {wall_share:.1%} of "
                        f"validate + features (cpu +{cpu:.1f} s, {cpu_share:.1%})"
                    )
            sys.stdout.flush()


if __name__ == "__main__":
    main()
