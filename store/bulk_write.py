"""Writing a run's rows fast and safely: DataFrame columns converted once, every text checked
against its column's length before the transaction, inserts in bounded batches (COPY-like
executemany), and new outbox items added only when their key is new.

A value that does not fit is an error naming the table, row, lead and column, and nothing is
written (the run's transaction is never half done).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import date
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from foundation.errors import DataError
from store import schema

if TYPE_CHECKING:
    import pandas as pd

    from store.records import OutboxItem

# Columns a writer must give (besides run_date, which comes from the RunRecord).
_REQUIRED = {
    "scores": ("lead_id", "probability", "score", "decision"),
    "handoffs": ("lead_id", "handed_at", "payload_json"),
    "lead_flags": ("lead_id", "kind"),
}
# Rows per IN (...) lookup; well under SQLite's and PostgreSQL's bound-parameter limits.
_CHUNK = 500
# Rows per executemany call: bounds the converted copy held in memory at once.
_INSERT_BATCH = 20_000

Columns = dict[str, list[Any]]  # a table's rows, column by column (run_date included)


def _frame_columns(
    frame: pd.DataFrame | None,
    table: sa.Table,
    run_date: date,
    what: str,
    unique: tuple[str, ...] = ("lead_id",),
) -> Columns:
    """The DataFrame as columns for `table`: decoded column names mapped to their `_json`
    column, run_date filled in, NaN/NA as NULL. Unknown or missing required columns, empty
    required values and duplicate keys are a DataError naming the row (0-based position)."""
    import pandas as pd

    if frame is None or len(frame) == 0:
        return {}
    columns = {c.name for c in table.columns}
    renamed = {name: f"{name}_json" for name in frame.columns if f"{name}_json" in columns}
    frame = frame.rename(columns=renamed).reset_index(drop=True)
    unknown = sorted(str(c) for c in frame.columns if c not in columns)
    if unknown:
        raise DataError(
            f"store: {what} has columns the store does not keep: {', '.join(unknown)} "
            f"(expected some of: {', '.join(sorted(columns))})"
        )
    missing = [c for c in _REQUIRED[table.name] if c not in frame.columns]
    if missing:
        raise DataError(f"store: {what} lacks required column(s): {', '.join(missing)}")
    if "run_date" in frame.columns:
        days = pd.to_datetime(frame["run_date"]).dt.date
        wrong = days[days != run_date]
        if len(wrong):
            raise DataError(
                f"store: {what} row {wrong.index[0]}: run_date {wrong.iloc[0]} differs from the "
                f"run's {run_date}"
            )
        frame = frame.drop(columns="run_date")
    for name in _REQUIRED[table.name]:
        nulls = frame[name].isna()
        if nulls.any():
            raise DataError(f"store: {what} row {nulls.to_numpy().argmax()}: {name} is empty")
    dupes = frame.duplicated(list(unique))
    if dupes.any():
        row = int(dupes.to_numpy().argmax())
        value = "/".join(str(frame.at[row, k]) for k in unique)
        raise DataError(f"store: {what} row {row}: duplicate {'/'.join(unique)} {value}")
    json_columns = {c.name for c in table.columns if isinstance(c.type, schema.JSONText)}
    out: Columns = {}
    for name in frame.columns:
        series = frame[name]
        # Column-wise: a row-wise to_dict of 100k rows was a third of save_run's time.
        values = series.astype(object).where(series.notna(), None).tolist()
        if name in json_columns:
            values = _json_texts(
                values, given_decoded=name in renamed.values(), what=what, name=str(name)
            )
        out[str(name)] = values
    out["run_date"] = [run_date] * len(frame)
    _check_text_fits(out, table, what)
    return out


def _check_text_fits(columns: Columns, table: sa.Table, what: str) -> None:
    """Every text value fits its column and holds no NUL, checked here the same on SQLite
    (which would keep a too-long value) and PostgreSQL (which refused the whole day with
    "value too long for type character varying(200)", naming no lead and no column). The
    error names the table, column, row and lead; validation quarantines such rows before."""
    import pandas as pd

    from foundation.text_limits import has_forbidden_character, text_problem, too_long

    lead_ids = columns.get("lead_id")
    for name, values in columns.items():
        column_type = table.c[name].type
        if not isinstance(column_type, sa.String) or isinstance(column_type, sa.Text):
            continue
        text = (
            pd.Series(values, dtype=object)
            .astype("str")
            .where(pd.Series(values, dtype=object).notna())
        )
        limit = column_type.length
        bad = has_forbidden_character(text)
        if limit is not None:
            bad |= too_long(text, limit)
        if bad.any():
            row = int(bad.to_numpy().argmax())
            lead = f" (lead {str(lead_ids[row])[:80]!r})" if lead_ids is not None else ""
            problem = text_problem(str(values[row]), limit)
            raise DataError(
                f"store: {what} row {row}{lead}: {table.name}.{name} {problem}; "
                "nothing was written (validation quarantines such rows: re-run validate)"
            )


def _json_texts(values: list[Any], given_decoded: bool, what: str, name: str) -> list[Any]:
    """JSON text for a payload column. Under its decoded name (`reasons`) every value is encoded,
    a plain string included (it becomes a JSON string); under its `_json` name a string must
    already be JSON text, and one that is not is refused here, not discovered by a reader."""
    import orjson

    if given_decoded:
        return [None if v is None else schema.dumps(v) for v in values]
    out: list[Any] = []
    for row, value in enumerate(values):
        if isinstance(value, str):
            try:
                orjson.loads(value)
            except orjson.JSONDecodeError as exc:
                raise DataError(
                    f"store: {what} row {row}: {name} is not JSON text ({exc})"
                ) from exc
            out.append(value)
        else:
            out.append(None if value is None else schema.dumps(value))
    return out


def _copy_rows(conn: Connection, table: sa.Table, names: list[str], converted: Columns) -> None:
    """PostgreSQL: COPY ... FROM STDIN on the transaction's own connection (about 10x faster than
    executemany for a day's scores; still rolled back with the rest on failure)."""
    preparer = conn.dialect.identifier_preparer
    column_list = ", ".join(preparer.quote(name) for name in names)
    statement = f"COPY {preparer.format_table(table)} ({column_list}) FROM STDIN"
    raw = conn.connection.driver_connection
    assert raw is not None
    dbapi = conn.dialect.loaded_dbapi
    try:
        with raw.cursor() as cursor, cursor.copy(statement) as copy:
            for row in zip(*(converted[name] for name in names), strict=True):
                copy.write_row(row)
    except dbapi.IntegrityError as exc:  # the same error type the INSERT path raises
        raise sa.exc.IntegrityError(statement, None, exc) from exc
    except dbapi.DataError as exc:
        raise sa.exc.DataError(statement, None, exc) from exc


def _check_flag_kinds(flags: Columns) -> None:
    for index, kind in enumerate(flags.get("kind", [])):
        if kind not in schema.FLAG_KINDS:
            raise DataError(
                f"store: flags row {index}: kind {kind!r} is not one of "
                f"{', '.join(schema.FLAG_KINDS)}"
            )


def _bulk_insert(conn: Connection, table: sa.Table, columns: Columns) -> None:
    """INSERT many rows with the driver's executemany, values converted column by column with
    the same type processors SQLAlchemy would use (JSON text, UTC timestamps, dates).

    Core's executemany builds a parameter dict per row; for a day's 100k scores that was most of
    the remaining time. The SQL is still SQLAlchemy's, compiled for the connection's dialect.
    """
    if not columns:
        return
    dialect = conn.dialect
    names = list(columns)
    converted: dict[str, list[Any]] = {}
    for name in names:
        processor = table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
        values = columns[name]
        converted[name] = values if processor is None else [processor(v) for v in values]
    n_rows = len(columns[names[0]])
    if dialect.driver == "psycopg":
        _copy_rows(conn, table, names, converted)
        return
    compiled = table.insert().compile(dialect=dialect, column_keys=names)
    for start in range(0, n_rows, _INSERT_BATCH):
        stop = min(start + _INSERT_BATCH, n_rows)
        if compiled.positiontup is not None:
            order = [converted[k][start:stop] for k in compiled.positiontup]
            params: list[Any] = list(zip(*order, strict=True))
        else:
            keys = list(compiled.params)  # bind names, in the compiled statement's terms
            sliced = [converted[k][start:stop] for k in keys]
            params = [dict(zip(keys, row, strict=True)) for row in zip(*sliced, strict=True)]
        conn.exec_driver_sql(compiled.string, params)


def _check_outbox_fits(items: list[OutboxItem]) -> None:
    """The outbox's key and lead id fit their columns (as _check_text_fits for the others)."""
    from foundation.text_limits import text_problem

    table = schema.outbox
    for row, item in enumerate(items):
        for name, value in (("key", item.key), ("lead_id", item.lead_id)):
            if not isinstance(value, str):
                continue  # a missing value: the column's NOT NULL refuses it in the transaction
            limit = getattr(table.c[name].type, "length", None)
            problem = text_problem(value, limit)
            if problem is not None:
                raise DataError(
                    f"store: outbox row {row} (lead {str(item.lead_id)[:80]!r}): outbox.{name} "
                    f"{problem}; nothing was written"
                )


def _insert_new_outbox(conn: Connection, items: list[OutboxItem]) -> None:
    if not items:
        return
    table = schema.outbox
    existing: set[str] = set()
    for chunk in _chunks([i.key for i in items], _CHUNK):
        existing.update(
            conn.execute(sa.select(table.c.key).where(table.c.key.in_(chunk))).scalars()
        )
    new = [replace(i, status="pending").to_row() for i in items if i.key not in existing]
    if new:
        conn.execute(table.insert(), new)


def _chunks(values: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]
