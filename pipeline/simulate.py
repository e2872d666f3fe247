"""DVC stage `simulate`: write simulated raw data and the hidden truth.

Writes data/raw/{leads,events,stages}.parquet, data/raw/personas.yaml (a byte copy of the agreed
personas file) and data/truth/truth.parquet, chunk by chunk as row groups, so memory stays flat
at a million leads. Training never reads the truth; evaluation uses it to report the ceiling.
"""

from __future__ import annotations

import shutil
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from features.persona import load_personas
from foundation.io import write_json
from foundation.params import Params
from pipeline.simulator import ChunkStats, simulate, summarise

RAW_TABLES = ("leads", "events", "stages")
TRUTH_FILE = "truth.parquet"
SUMMARY_FILE = "summary.json"


def output_paths(params: Params) -> dict[str, Path]:
    raw, truth = Path(params.paths.raw), Path(params.paths.truth)
    paths = {name: raw / f"{name}.parquet" for name in RAW_TABLES}
    paths["truth"] = truth / TRUTH_FILE
    return paths


def main(params: Params) -> dict[str, Any]:
    started = time.perf_counter()
    personas = load_personas(params.paths.personas)
    paths = output_paths(params)
    for path in paths.values():
        path.parent.mkdir(parents=True, exist_ok=True)

    stats = None
    with ExitStack() as stack:
        writers: dict[str, pq.ParquetWriter] = {}
        for chunk in simulate(params.simulate, personas):
            for name in (*RAW_TABLES, "truth"):
                table = getattr(chunk, name)
                if name not in writers:
                    writers[name] = stack.enter_context(pq.ParquetWriter(paths[name], table.schema))
                writers[name].write_table(table)
            stats = chunk.stats if stats is None else stats.merge(chunk.stats)
    shutil.copyfile(params.paths.personas, Path(params.paths.raw) / "personas.yaml")

    summary = summarise(stats or ChunkStats(n_snapshots=0), params.simulate)
    summary["seconds"] = round(time.perf_counter() - started, 2)
    write_json(summary, Path(params.paths.truth) / SUMMARY_FILE)
    print_summary(summary, paths)
    return summary


def print_summary(summary: dict[str, Any], paths: dict[str, Path]) -> None:
    rows = summary["rows"]
    rates = summary["funnel_rates"]
    print(
        f"simulate: {rows['leads']:,} leads, {rows['events']:,} events, "
        f"{rows['stages']:,} stage rows, {rows['truth']:,} truth rows "
        f"in {summary['seconds']} s -> {paths['leads'].parent}, {paths['truth']}"
    )
    print(
        "  funnel (mature cohort): "
        + ", ".join(f"{k} {v:.1%}" for k, v in rates.items() if k != "cohort_leads" and v)
    )
    auc = summary["ceiling_auc"]
    print(
        f"  events/lead {summary['events_per_lead']:.1f}, leads without events "
        f"{summary['share_leads_without_events']:.1%}, "
        f"ceiling AUC {'n/a' if auc is None else f'{auc:.3f}'}"
    )
