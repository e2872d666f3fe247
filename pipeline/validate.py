"""DVC stage `validate`: raw exports in, typed tables the other stages can trust out.

Reads leads, events and stages (CSV or Parquet) and personas.yaml, triages each table with
features/schemas.py, and writes data/interim/{table}.parquet, quarantine/{table}.parquet (always,
possibly empty, so a stale quarantine never survives a fixed export), personas.yaml and
validation_summary.json. Leads go first: events and stages are checked against the kept leads.

Tables stream: read a chunk (params `engine.chunk_rows` rows, or a CSV block), triage it, append
its kept and quarantined rows to the outputs, let go. Memory follows the chunk size plus the kept
lead ids, not the export's size. With `engine.kind: dask` events and stages are triaged one row
group (or CSV block) per task on a Dask cluster (engine/validate.py), written as folders of part
files; the leads stay here, in order, because duplicates are found across the whole table.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

import pandas as pd

from features.persona import load_personas
from features.schemas import SCHEMAS
from features.triage import LeadIndex, TableTriage, check_required_columns
from features.vocabularies import TABLES
from foundation.chunks import (
    ParquetAppender,
    has_rows,
    other_delimiter,
    table_chunks,
    table_columns,
)
from foundation.errors import DataError
from foundation.io import find_table, write_json
from foundation.params import EngineParams, Params
from pipeline.mapped_exports import map_exports, write_event_families

SUMMARY_FILE = "validation_summary.json"
TOP_REASONS = 3
EMPTY_HINT = {
    "leads": "nothing can be scored or trained without leads",
    "events": "features will see no behaviour: every lead looks inactive",
    "stages": "no lead ever converts: training has no positives",
}


def personas_source(raw_dir: Path, params: Params) -> Path:
    """The personas shipped with the export win over the project's file: they belong together."""
    shipped = raw_dir / "personas.yaml"
    return shipped if shipped.exists() else Path(params.paths.personas)


def check_reconciles(summary: dict[str, dict[str, Any]]) -> None:
    """rows in = kept + quarantined, for every table: nothing may disappear silently."""
    for table, counts in summary.items():
        if counts["rows_in"] != counts["rows_kept"] + counts["rows_quarantined"]:
            raise RuntimeError(
                f"{table}: {counts['rows_in']} rows in but {counts['rows_kept']} kept + "
                f"{counts['rows_quarantined']} quarantined (a validation bug)"
            )


def format_summary(summary: dict[str, dict[str, Any]]) -> str:
    """The console report: one line per table, then the warnings worth a look."""
    header = f"{'table':<8} {'rows in':>12} {'kept':>12} {'quarantined':>12}  top reasons"
    lines = [header, "-" * len(header)]
    for table, s in summary.items():
        top = ", ".join(f"{k} {v:,}" for k, v in list(s["reasons"].items())[:TOP_REASONS])
        lines.append(
            f"{table:<8} {s['rows_in']:>12,} {s['rows_kept']:>12,} "
            f"{s['rows_quarantined']:>12,}  {top or '-'}"
        )
    for table, s in summary.items():
        if s.get("empty"):
            lines.append(
                f"warning: {table}: the file has a header and no rows ({EMPTY_HINT[table]})"
            )
        for kind, count in s["warnings"].items():
            column = kind.removesuffix("_unknown")
            examples = s["unknown_values"].get(column, {})
            shown = ", ".join(f"{v!r} {n:,}" for v, n in examples.items())
            lines.append(
                f"warning: {table}: {kind} {count:,} rows kept" + (f" ({shown})" * bool(shown))
            )
        if s["ignored_columns"]:
            lines.append(f"note: {table}: ignored columns {', '.join(s['ignored_columns'])}")
        if s["missing_optional_columns"]:
            missing = ", ".join(s["missing_optional_columns"])
            lines.append(f"note: {table}: optional columns absent, left empty: {missing}")
    return "\n".join(lines)


def check_headers(paths: dict[str, Path]) -> None:
    """Required columns present in every header; a header that splits on another delimiter
    (`;`, tab, `|`) says so instead of listing every column as missing."""
    for table, path in paths.items():
        header = pd.DataFrame(columns=[str(c).strip() for c in table_columns(path)])
        try:
            check_required_columns(header, SCHEMAS[table], str(path))
        except DataError:
            schema = SCHEMAS[table]
            delimiter = other_delimiter(path, tuple(schema.columns))
            if delimiter is None:
                raise
            raise DataError(
                f"{path}: the fields are separated by {delimiter}, not by a comma; export the "
                "file comma-separated (the contract's CSV is RFC 4180, UTF-8)"
            ) from None


def output_paths(interim: Path, table: str) -> tuple[Path, Path]:
    return interim / f"{table}.parquet", interim / "quarantine" / f"{table}.parquet"


def stream_table(
    path: Path,
    table: str,
    interim: Path,
    chunk_rows: int,
    leads: LeadIndex | None = None,
) -> TableTriage:
    """Triage `path` chunk by chunk, appending kept and quarantined rows to the interim files."""
    triage = TableTriage(table, source=str(path), leads=leads)
    kept_path, quarantine_path = output_paths(interim, table)
    with ParquetAppender(kept_path) as kept, ParquetAppender(quarantine_path) as quarantined:
        for chunk in table_chunks(path, chunk_rows):
            result = triage.add(chunk)
            kept.write(result.kept)
            quarantined.write(result.quarantined)
            del result
    return triage


def require_leads(rows_in: int, path: Path) -> None:
    """Leads are the one table that may not be empty: every other stage starts from them."""
    if rows_in == 0:
        raise DataError(
            f"{path}: the file has a header and no rows; leads are required (export at least "
            "one lead)"
        )


def main(
    params: Params,
    raw_dir: Path | None = None,
    engine: EngineParams | None = None,
    client: Any = None,
) -> dict[str, dict[str, Any]]:
    """Validate the raw exports; return the summary written to validation_summary.json.
    `engine` overrides params.engine (the CLI's --engine / --scheduler); `client`: a Dask
    client the caller already holds (`leadscore daily` validates and scores on one cluster)."""
    started = time.perf_counter()
    engine = engine or params.engine
    raw_dir = Path(raw_dir) if raw_dir is not None else Path(params.paths.raw)
    interim = Path(params.paths.interim)
    personas_path = personas_source(raw_dir, params)
    personas = load_personas(personas_path)  # a broken personas file stops before any heavy work
    # A mapping (params paths.mapping) turns the exports' own vocabulary into the contract's
    # tables first, checking them before anything is written (pipeline/mapped_exports.py).
    mapped_dir = map_exports(raw_dir, params)
    paths = {table: find_table(mapped_dir or raw_dir, table) for table in TABLES}
    check_headers(paths)
    require_leads(int(has_rows(paths["leads"])), paths["leads"])  # before anything is written
    # A failed run must not leave a summary that describes other data next to new tables.
    (interim / SUMMARY_FILE).unlink(missing_ok=True)

    leads = stream_table(paths["leads"], "leads", interim, engine.chunk_rows)
    summary = {"leads": leads.summary()}
    index = leads.lead_index()
    del leads
    if engine.kind == "dask":
        from contextlib import nullcontext

        from engine.cluster import dask_client
        from engine.validate import validate_partitioned

        with nullcontext(client) if client is not None else dask_client(engine) as client:
            for table in ("events", "stages"):
                kept, quarantine = output_paths(interim, table)
                summary[table] = validate_partitioned(
                    client, paths[table], table, index, kept, quarantine, engine
                )
    else:
        for table in ("events", "stages"):
            summary[table] = stream_table(
                paths[table], table, interim, engine.chunk_rows, index
            ).summary()

    check_reconciles(summary)
    interim.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(personas_path, interim / "personas.yaml")
    families = write_event_families(interim, params)
    write_json(summary, interim / SUMMARY_FILE)
    elapsed = time.perf_counter() - started
    print(
        f"validate: {raw_dir} -> {interim} ({len(personas.personas)} personas, "
        f"engine {engine.kind}, {elapsed:.1f} s)"
    )
    print(format_summary(summary))
    if families:
        print(f"event families (unmapped types, features of their own): {', '.join(families)}")
    return summary
