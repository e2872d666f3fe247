"""DVC stage `features`: the validated tables in, the point-in-time training table out.

Reads data/interim/{leads,events,stages}.parquet and data/interim/personas.yaml (written by
`leadscore validate`), writes data/features/training_table.parquet and summary.json, and prints
rows and positive rate per snapshot. The logic is features/snapshots.py `training_table`.

With `engine.kind: dask` (or --engine dask) the same function runs per lead_id partition on a
Dask cluster (engine/features.py) and the table is written as a folder of part files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq

from features.persona import load_personas
from features.snapshots import summarise, training_table
from foundation.chunks import clear_output, parquet_files
from foundation.io import find_table, read_table, write_json, write_table
from foundation.params import EngineParams, Params

TABLES: tuple[str, ...] = ("leads", "events", "stages")
# Read dictionary-encoded (pandas categorical): each lead id repeats tens of times and there are
# a dozen event types, so this halves the memory of a large events table and lets the features
# look each distinct id up once instead of once per event.
DICTIONARY_COLUMNS: dict[str, tuple[str, ...]] = {
    "events": ("lead_id", "event_type", "content_topic"),
    "stages": ("lead_id", "stage"),
}
TRAINING_TABLE = "training_table.parquet"
SUMMARY = "summary.json"
PERSONAS = "personas.yaml"


def output_paths(params: Params) -> tuple[Path, Path]:
    return params.paths.features / TRAINING_TABLE, params.paths.features / SUMMARY


def format_summary(summary: dict[str, Any]) -> str:
    """One line per snapshot; incomplete horizons are shown but marked as left out."""
    lines = [
        f"target: {summary['target_stage']} within {summary['horizon_days']} days; "
        f"data ends {summary['data_end']}",
        f"{'snapshot':<12}{'rows':>8}{'positives':>11}{'rate':>9}",
    ]
    for s in summary["snapshots"]:
        if s["horizon_complete"]:
            rate = f"{s['positive_rate']:.2%}" if s["positive_rate"] is not None else "-"
            lines.append(f"{s['snapshot']:<12}{s['rows']:>8}{s['positives']:>11}{rate:>9}")
        else:
            lines.append(f"{s['snapshot']:<12}{s['rows']:>8}   (horizon incomplete: left out)")
    t = summary["totals"]
    rate = f"{t['positive_rate']:.2%}" if t["positive_rate"] is not None else "-"
    lines.append(
        f"{'total':<12}{t['rows']:>8}{t['positives']:>11}{rate:>9}"
        f"  ({t['snapshots_in_table']} of {t['snapshots']} snapshots in the table)"
    )
    return "\n".join(lines)


def read_interim(directory: Path, name: str) -> pd.DataFrame:
    """One validated table; Parquet columns in DICTIONARY_COLUMNS come back as categoricals."""
    path = find_table(directory, name)
    wanted = DICTIONARY_COLUMNS.get(name, ())
    if path.suffix != ".parquet" or not wanted:
        return read_table(path)
    # A folder of parts when the Dask engine validated: its first part has the schema.
    present = set(pq.read_schema(parquet_files(path)[0]).names)
    dictionary = [c for c in wanted if c in present]
    return pq.read_table(path, read_dictionary=dictionary).to_pandas()


def main(params: Params, engine: EngineParams | None = None) -> dict[str, Any]:
    """`engine` overrides params.engine (the CLI's --engine / --scheduler)."""
    engine = engine or params.engine
    interim = params.paths.interim
    personas = load_personas(interim / PERSONAS)
    table_path, summary_path = output_paths(params)
    if engine.kind == "dask":
        from engine.cluster import dask_client
        from engine.features import training_table_partitioned

        with dask_client(engine) as client:
            result = training_table_partitioned(
                client, interim, personas, params.features, engine, table_path
            )
        rows = int(result.snapshots.loc[result.snapshots["horizon_complete"], "rows"].sum())
        written = f"{rows} rows in part files"
    else:
        leads, events, stages = (read_interim(interim, name) for name in TABLES)
        result = training_table(leads, events, stages, personas, params.features)
        del leads, events, stages
        clear_output(table_path)  # a folder of parts from a Dask run
        write_table(result.table, table_path)
        written = f"{len(result.table)} rows, {result.table.shape[1]} columns"
    summary = summarise(result, params.features)
    write_json(summary, summary_path)
    print(format_summary(summary))
    print(f"wrote {table_path} ({written})")
    return summary
