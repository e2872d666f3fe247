"""DVC stage `validate`: raw exports in, typed tables the other stages can trust out.

Reads leads, events and stages (CSV or Parquet) and personas.yaml, triages each table with
features/schemas.py, and writes data/interim/{table}.parquet, quarantine/{table}.parquet (always,
possibly empty, so a stale quarantine never survives a fixed export), personas.yaml and
validation_summary.json. Leads go first: events and stages are checked against the kept leads.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq

from features.persona import load_personas
from features.schemas import (
    SCHEMAS,
    TABLES,
    TableResult,
    check_required_columns,
    validate_events,
    validate_leads,
    validate_stages,
)
from foundation.errors import DataError
from foundation.io import find_table, read_table, write_json, write_table
from foundation.params import Params

SUMMARY_FILE = "validation_summary.json"
TOP_REASONS = 3


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


def table_columns(path: Path) -> list[str]:
    """Header only, so a missing column stops the stage before minutes of work on other tables."""
    try:
        if path.suffix == ".parquet":
            return list(pq.read_schema(path).names)
        return list(pd.read_csv(path, nrows=0, dtype=str).columns)
    except Exception as exc:  # pandas/pyarrow raise many types; the user needs the file name
        raise DataError(f"{path}: cannot read ({type(exc).__name__}: {exc})") from exc


def check_headers(paths: dict[str, Path]) -> None:
    for table, path in paths.items():
        header = pd.DataFrame(columns=[str(c).strip() for c in table_columns(path)])
        check_required_columns(header, SCHEMAS[table], str(path))


def write_result(result: TableResult, interim: Path) -> None:
    write_table(result.kept, interim / f"{result.table}.parquet")
    write_table(result.quarantined, interim / "quarantine" / f"{result.table}.parquet")


def main(params: Params, raw_dir: Path | None = None) -> dict[str, dict[str, Any]]:
    """Validate the raw exports; return the summary written to validation_summary.json."""
    started = time.perf_counter()
    raw_dir = Path(raw_dir) if raw_dir is not None else Path(params.paths.raw)
    interim = Path(params.paths.interim)
    personas_path = personas_source(raw_dir, params)
    personas = load_personas(personas_path)  # a broken personas file stops before any heavy work
    paths = {table: find_table(raw_dir, table) for table in TABLES}
    check_headers(paths)
    # A failed run must not leave a summary that describes other data next to new tables.
    (interim / SUMMARY_FILE).unlink(missing_ok=True)

    leads = validate_leads(read_table(paths["leads"]), source=str(paths["leads"]))
    write_result(leads, interim)
    summary = {"leads": leads.summary()}
    # Events are the big table: read, triage, write, and let go before stages.
    for table, validate in (("events", validate_events), ("stages", validate_stages)):
        result = validate(read_table(paths[table]), leads, source=str(paths[table]))
        write_result(result, interim)
        summary[table] = result.summary()
        del result

    check_reconciles(summary)
    interim.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(personas_path, interim / "personas.yaml")
    write_json(summary, interim / SUMMARY_FILE)
    elapsed = time.perf_counter() - started
    print(f"validate: {raw_dir} -> {interim} ({len(personas.personas)} personas, {elapsed:.1f} s)")
    print(format_summary(summary))
    return summary
