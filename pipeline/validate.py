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

With a mapping (params `paths.mapping`), the chunks triaged are the exports' chunks mapped onto the
contract (pipeline/mapped_exports.py), and the outputs go to a partial folder that replaces the
interim tables only once the mapping's checks, which see the whole log, have passed.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from features.persona import load_personas
from features.schemas import SCHEMAS
from features.triage import LeadIndex, TableTriage, check_required_columns
from features.vocabularies import TABLES
from foundation.chunks import (
    ParquetAppender,
    TableChunk,
    clear_output,
    has_rows,
    other_delimiter,
    table_chunks,
    table_columns,
)
from foundation.errors import DataError
from foundation.io import find_table, write_json
from foundation.params import EngineParams, Params
from pipeline.mapped_exports import (
    MAPPED_DIR,
    MAPPING_REPORT,
    MappedExports,
    kept_only_if_checked,
    map_exports,
    write_event_families,
)

SUMMARY_FILE = "validation_summary.json"
STAGING = ".validating"  # a mapped run's outputs until every check has passed
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
    chunks: Iterable[TableChunk],
    table: str,
    source: str,
    out: Path,
    leads: LeadIndex | None = None,
) -> TableTriage:
    """Triage `chunks` one by one, appending kept and quarantined rows to the files in `out`."""
    triage = TableTriage(table, source=source, leads=leads)
    kept_path, quarantine_path = output_paths(out, table)
    with ParquetAppender(kept_path) as kept, ParquetAppender(quarantine_path) as quarantined:
        for chunk in chunks:
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


def validate_files(
    raw_dir: Path, params: Params, engine: EngineParams, client: Any
) -> dict[str, dict[str, Any]]:
    """Triage the tables of a folder into data/interim: the raw exports, or with the Dask
    engine and a mapping, the mapped exports written first (the workers read files)."""
    interim = Path(params.paths.interim)
    mapped_dir = map_exports(raw_dir, params)  # None without a mapping
    paths = {table: find_table(mapped_dir or raw_dir, table) for table in TABLES}
    check_headers(paths)
    require_leads(int(has_rows(paths["leads"])), paths["leads"])  # before anything is written
    # A failed run must not leave a summary that describes other data next to new tables.
    (interim / SUMMARY_FILE).unlink(missing_ok=True)

    def chunks(table: str) -> Iterable[TableChunk]:
        return table_chunks(paths[table], engine.chunk_rows)

    leads = stream_table(chunks("leads"), "leads", str(paths["leads"]), interim)
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
            triage = stream_table(chunks(table), table, str(paths[table]), interim, index)
            summary[table] = triage.summary()
    return summary


def validate_mapped(
    exports: MappedExports, raw_dir: Path, interim: Path, engine: EngineParams
) -> dict[str, dict[str, Any]]:
    """Triage the exports through their mapping (params paths.mapping), one mapped chunk at a
    time, into data/interim. The outputs are written into a partial folder and replace the
    interim tables only once the mapping's checks and the triage have passed, so a log that
    fails a check changes nothing (pipeline/mapped_exports.py)."""
    require_leads(len(exports.mapper.leads), Path(exports.source("leads")))
    partial = interim / STAGING
    with kept_only_if_checked(partial):
        (interim / SUMMARY_FILE).unlink(missing_ok=True)
        leads = stream_table(
            exports.chunks("leads", engine.chunk_rows), "leads", exports.source("leads"), partial
        )
        summary = {"leads": leads.summary()}
        index = leads.lead_index()
        del leads
        for table in ("events", "stages"):
            chunks = exports.chunks(table, engine.chunk_rows)
            triage = stream_table(chunks, table, exports.source(table), partial, index)
            summary[table] = triage.summary()
        exports.finish(partial, raw_dir)  # raises every problem of the mapping together
    for table in TABLES:
        for made, kept in zip(
            output_paths(partial, table), output_paths(interim, table), strict=True
        ):
            kept.parent.mkdir(parents=True, exist_ok=True)
            clear_output(kept)
            if made.exists():
                made.replace(kept)
    (partial / MAPPING_REPORT).replace(interim / MAPPING_REPORT)
    shutil.rmtree(partial)
    shutil.rmtree(interim / MAPPED_DIR, ignore_errors=True)  # an earlier Dask run's copy
    return summary


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
    # tables as they stream into the triage, checking them before anything is kept
    # (pipeline/mapped_exports.py); Dask workers read files, so there the mapped tables are
    # written first.
    exports = MappedExports.open(raw_dir, params) if engine.kind == "pandas" else None
    if exports is not None:
        summary = validate_mapped(exports, raw_dir, interim, engine)
    else:
        summary = validate_files(raw_dir, params, engine, client)
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
