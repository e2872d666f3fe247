"""Benchmark: `build_features` for N leads at one snapshot -- wall time and peak memory.

    python benchmarks/features_bench.py                      # 100k and 1M leads
    python benchmarks/features_bench.py --sizes 100000 --runs 5

Data comes from the project's simulator (realistic event volumes, ~60 events per lead) and is
cached as Parquet under benchmarks/output/features/ (generating 1M leads takes a few minutes,
once); `--source synthetic` uses a quick uniform generator instead. Each size is measured in a
fresh subprocess so its peak RSS (resource.getrusage) belongs to that size alone; the peak
includes the input tables themselves. The snapshot is the latest month start in the data, where
every lead exists and has its full history: the heaviest one. The target (issue 3): 1M leads in
under 60 s and under 8 GB.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from features.build import build_features  # noqa: E402
from features.persona import load_personas  # noqa: E402
from features.vocabularies import CONTENT_TOPICS, EVENT_TYPES  # noqa: E402
from foundation.params import FeatureParams, SimulateParams  # noqa: E402
from pipeline.features import read_interim  # noqa: E402

CACHE = ROOT / "benchmarks" / "output" / "features"
PERSONAS = ROOT / "personas.yaml"
DEFAULT_SIZES = (100_000, 1_000_000)
DEFAULT_RUNS = 3  # median of these for sizes up to SINGLE_RUN_ABOVE
SINGLE_RUN_ABOVE = 200_000  # larger sizes: one run (minutes of generation, tens of seconds each)
TABLES = ("leads", "events")
KB_PER_GB = 1024**2  # ru_maxrss is in kB on Linux
# Quick synthetic generator (when the simulator is not wanted): uniform, not realistic.
SYNTHETIC_EVENTS_PER_LEAD = 30
SYNTHETIC_DAYS = 540
SECONDS_PER_DAY = 86_400
SYNTHETIC_START = pd.Timestamp("2025-01-01", tz="UTC")


def data_dir(source: str, n_leads: int) -> Path:
    return CACHE / f"{source}_{n_leads}"


def generate_simulated(n_leads: int, out: Path) -> None:
    from pipeline.simulator import simulate

    personas = load_personas(PERSONAS)
    writers: dict[str, pq.ParquetWriter] = {}
    try:
        for chunk in simulate(SimulateParams(n_leads=n_leads), personas):
            for name in TABLES:
                table = getattr(chunk, name)
                if name not in writers:
                    writers[name] = pq.ParquetWriter(out / f"{name}.parquet", table.schema)
                writers[name].write_table(table)
    finally:
        for writer in writers.values():
            writer.close()


def generate_synthetic(n_leads: int, out: Path, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    ids = np.array([f"L{i:08d}" for i in range(n_leads)], dtype=object)
    created = rng.integers(0, SYNTHETIC_DAYS * SECONDS_PER_DAY, n_leads)
    leads = pd.DataFrame(
        {
            "lead_id": ids,
            "created_at": SYNTHETIC_START + pd.to_timedelta(created, unit="s"),
            "channel": rng.choice(["organic_search", "paid_search", "email", "referral"], n_leads),
            "company_size": pd.array(rng.integers(1, 20_000, n_leads), dtype="Int64"),
            "industry": rng.choice(["software", "retail", "logistics", "media"], n_leads),
            "job_role": rng.choice(["cto", "founder", "coo", "cmo", "analyst"], n_leads),
            "country": rng.choice(["DE", "GB", "FR", "US", "PL"], n_leads),
            "email_domain": rng.choice(["acme.com", "gmail.com", "corp.de"], n_leads),
        }
    )
    n_events = n_leads * SYNTHETIC_EVENTS_PER_LEAD
    owner = rng.integers(0, n_leads, n_events)
    span = SYNTHETIC_DAYS * SECONDS_PER_DAY - created[owner]
    offset = created[owner] + (rng.random(n_events) * span).astype(np.int64)
    events = pa.table(
        {
            "lead_id": pa.array(ids).take(pa.array(owner)),
            "ts": pa.array(
                (SYNTHETIC_START + pd.to_timedelta(np.sort(offset), unit="s")).array,
            ),
            "event_type": pa.array(
                np.array(EVENT_TYPES, dtype=object)[rng.integers(0, 12, n_events)]
            ),
            "content_topic": pa.array(
                np.array(CONTENT_TOPICS, dtype=object)[
                    rng.integers(0, len(CONTENT_TOPICS), n_events)
                ]
            ),
        }
    )
    pq.write_table(pa.Table.from_pandas(leads, preserve_index=False), out / "leads.parquet")
    pq.write_table(events, out / "events.parquet")


def ensure_data(source: str, n_leads: int) -> Path:
    out = data_dir(source, n_leads)
    if all((out / f"{name}.parquet").exists() for name in TABLES):
        return out
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    print(f"generating {n_leads:,} leads ({source}) into {out} ...", flush=True)
    (generate_simulated if source == "simulator" else generate_synthetic)(n_leads, out)
    print(f"  done in {time.perf_counter() - started:.0f} s", flush=True)
    return out


def latest_month_start(events: pd.DataFrame) -> pd.Timestamp:
    last = events["ts"].max()
    return pd.Timestamp(year=last.year, month=last.month, day=1, tz="UTC")


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / KB_PER_GB


def reset_peak_rss() -> bool:
    """Linux: reset the process's peak RSS (VmHWM), so the next reading covers what follows."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def vm_hwm_gb() -> float | None:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / KB_PER_GB
    return None


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure(source: str, n_leads: int, runs: int) -> dict[str, object]:
    """Runs in the worker subprocess: load as the features stage does, time build_features
    `runs` times, report wall and CPU time (CPU time is what a busy machine does not inflate)."""
    folder = data_dir(source, n_leads)
    started = time.perf_counter()
    leads = read_interim(folder, "leads")
    events = read_interim(folder, "events")
    load_s = time.perf_counter() - started
    after_load_gb = peak_rss_gb()
    as_of = latest_month_start(events)
    personas, params = load_personas(PERSONAS), FeatureParams()
    can_reset = reset_peak_rss()
    times, cpu = [], []
    for _ in range(runs):
        started, cpu_started = time.perf_counter(), cpu_seconds()
        table = build_features(leads, events, None, as_of, personas, params)
        times.append(time.perf_counter() - started)
        cpu.append(cpu_seconds() - cpu_started)
        del table
    return {
        "source": source,
        "leads": len(leads),
        "events": len(events),
        "as_of": as_of.date().isoformat(),
        "runs": runs,
        "wall_s_median": round(statistics.median(times), 2),
        "wall_s_all": [round(t, 2) for t in times],
        "cpu_s_median": round(statistics.median(cpu), 2),
        "load_s": round(load_s, 2),
        "peak_rss_gb": round(max(after_load_gb, vm_hwm_gb() or peak_rss_gb()), 2),
        "peak_rss_load_gb": round(after_load_gb, 2),
        "peak_rss_build_gb": round(vm_hwm_gb(), 2) if can_reset else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=list(DEFAULT_SIZES))
    parser.add_argument("--runs", type=int, default=DEFAULT_RUNS)
    parser.add_argument("--source", choices=["simulator", "synthetic"], default="simulator")
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(measure(args.source, args.worker, args.runs)))
        return
    results = []
    for n in args.sizes:
        ensure_data(args.source, n)
        runs = args.runs if n <= SINGLE_RUN_ABOVE else 1
        cmd = [sys.executable, __file__, "--worker", str(n), "--runs", str(runs)]
        done = subprocess.run(
            [*cmd, "--source", args.source], check=True, capture_output=True, text=True
        )
        result = json.loads(done.stdout.strip().splitlines()[-1])
        results.append(result)
        print(
            f"{result['leads']:>9,} leads {result['events']:>11,} events  as of {result['as_of']}: "
            f"build_features {result['wall_s_median']:.1f} s wall, {result['cpu_s_median']:.1f} s "
            f"CPU (median of {result['runs']}: {result['wall_s_all']}); peak RSS "
            f"{result['peak_rss_gb']:.2f} GB overall, {result['peak_rss_build_gb']} GB during "
            f"build_features (input tables included), {result['peak_rss_load_gb']:.2f} GB "
            f"after loading ({result['load_s']:.1f} s)",
            flush=True,
        )
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
