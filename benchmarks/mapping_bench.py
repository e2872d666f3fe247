"""Benchmark: what the event-log mapping layer costs on the simulated leads, before and after.

    python benchmarks/mapping_bench.py                        # 1M leads, before = main
    python benchmarks/mapping_bench.py --sizes 100000 --ref main --max-rss-gb 12

Two measurements per code version, "before" (a clone of `--ref`) and "after" (this checkout),
each in a fresh subprocess on the same cached simulated data (benchmarks/features_bench.py
generates and caches it under benchmarks/output/features/):
- mapping: `map_exports` (what `leadscore validate` runs first when params name a mapping) with
  the spelled-out simulator mapping (configs/simulator_mapping.yaml), from the Parquet exports to
  data/interim/mapped/, at params `engine.chunk_rows` (default);
- features: `build_features` at the heaviest snapshot (the latest month start) with the default
  mapping (no mapping file: the simulator's vocabulary, no event families).
Each prints wall and CPU seconds and the subprocess's peak RSS. A subprocess whose resident memory
passes `--max-rss-gb` is stopped (a shared machine must not run out of memory) and reported as
such. The mapping layer's share is mapping / (mapping + features) wall time.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.features_bench import data_dir, ensure_data  # noqa: E402

KB_PER_GB = 1024**2
POLL_S = 0.5
PRELUDE = """
import json, resource, sys, time
sys.path.insert(0, {root!r})
usage = lambda: sum(resource.getrusage(resource.RUSAGE_SELF)[:2])
"""
FEATURES = """
from features.build import build_features
from features.persona import load_personas
from foundation.params import FeatureParams
from pipeline.features import read_interim
import pandas as pd
leads, events = read_interim({folder!r}, "leads"), read_interim({folder!r}, "events")
last = events["ts"].max()
as_of = pd.Timestamp(year=last.year, month=last.month, day=1, tz="UTC")
personas = load_personas({personas!r})
started, cpu = time.perf_counter(), usage()
table = build_features(leads, events, None, as_of, personas, FeatureParams())
wall, cpu = time.perf_counter() - started, usage() - cpu
"""
MAPPING = """
from foundation.params import Params
from pipeline.mapped_exports import map_exports
params = Params.model_validate({{"paths": {{"raw": {raw!r}, "interim": {interim!r},
                                "mapping": {mapping!r}, "personas": {personas!r}}}}})
started, cpu = time.perf_counter(), usage()
map_exports(params.paths.raw, params)
wall, cpu = time.perf_counter() - started, usage() - cpu
"""
REPORT = """
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / {kb_per_gb}
print(json.dumps({{"wall_s": wall, "cpu_s": cpu, "peak_gb": peak}}))
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
    stage log; the target check needs one row to find)."""
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


def describe(result: dict[str, float | str]) -> str:
    if "stopped" in result:
        return f"stopped: {result['stopped']}"
    return (
        f"wall {result['wall_s']:.1f} s, cpu {result['cpu_s']:.1f} s, "
        f"peak RSS {result['peak_gb']:.2f} GB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--ref", default="main", help="the code before this change")
    parser.add_argument("--only", choices=["before", "after"], help="measure one side only")
    parser.add_argument("--max-rss-gb", type=float, default=12.0)
    args = parser.parse_args()
    tail = REPORT.format(kb_per_gb=KB_PER_GB)
    with tempfile.TemporaryDirectory() as tmp:
        roots = {"before": clone(args.ref, Path(tmp) / "before"), "after": ROOT}
        if args.only:
            roots = {args.only: roots[args.only]}
        for size in args.sizes:
            ensure_data("simulator", size)
            folder = data_dir("simulator", size)
            raw = raw_folder(folder, Path(tmp) / f"raw_{size}")
            print(f"{size:,} leads (simulator), one run each:", flush=True)
            for side, root in roots.items():
                personas = str(ROOT / "personas.yaml")
                head = PRELUDE.format(root=str(root))
                mapping = MAPPING.format(
                    raw=str(raw),
                    interim=str(Path(tmp) / f"interim_{side}_{size}"),
                    mapping=str(ROOT / "configs" / "simulator_mapping.yaml"),
                    personas=personas,
                )
                features = FEATURES.format(folder=str(folder), personas=personas)
                mapping, features = head + mapping + tail, head + features + tail
                mapped = run_capped(mapping, root, args.max_rss_gb)
                built = run_capped(features, root, args.max_rss_gb)
                print(f"  {side} ({args.ref if side == 'before' else 'this tree'}):")
                print(f"    mapping  (map_exports, simulator mapping): {describe(mapped)}")
                print(f"    features (build_features, default mapping): {describe(built)}")
                if "stopped" not in mapped and "stopped" not in built:
                    share = mapped["wall_s"] / (mapped["wall_s"] + built["wall_s"])
                    print(f"    mapping layer's share of mapping + features wall time: {share:.1%}")
                sys.stdout.flush()


if __name__ == "__main__":
    main()
