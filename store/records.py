"""The store of record: what each daily run decided, what was handed to sales, and the delivery
outbox, in one database (SQLite file by default, any SQLAlchemy URL for a team).

Readers get pandas DataFrames whose columns are the table's, with the JSON text columns decoded
and named without their `_json` suffix (`reasons_json` -> `reasons`, `payload_json` -> `payload`,
`recap_json` -> `recap`). Writers may pass either form.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, field, replace
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from foundation.errors import ConfigError, DataError
from store import schema
from store.urls import redact, resolve_url

if TYPE_CHECKING:
    import pandas as pd

# A constant key for PostgreSQL's advisory lock: two processes opening a fresh database at once
# (the daily job and the dashboard) must not both try to create the tables.
_MIGRATION_LOCK_KEY = 7_402_113_311
# Rows per IN (...) lookup; well under SQLite's and PostgreSQL's bound-parameter limits.
_CHUNK = 500
# Rows per executemany call: bounds the converted copy held in memory at once.
_INSERT_BATCH = 20_000
# How long a SQLite connection waits for another's lock (a daily write, a new file's WAL switch)
# before it reports "database is locked", and how often it looks again while switching to WAL.
SQLITE_LOCK_WAIT_S = 30.0
SQLITE_LOCK_RETRY_S = 0.01


def outbox_key(run_date: date, lead_id: str) -> str:
    """The idempotency key of a hand-off delivery: one per lead and run day."""
    return f"{run_date.isoformat()}:{lead_id}"


@dataclass(frozen=True)
class RunRecord:
    """One daily run: when, with which model and threshold, and what it found."""

    run_date: date
    started_at: datetime
    finished_at: datetime
    model_name: str
    model_version: str
    threshold: float
    n_open: int
    n_mql: int
    n_handoff: int
    n_returning: int
    n_overdue: int
    recap: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # A datetime or pandas Timestamp is a date too, but would not compare equal to the
        # stored DATE: keep the day only.
        if isinstance(self.run_date, datetime):
            object.__setattr__(self, "run_date", self.run_date.date())

    def to_row(self) -> dict[str, Any]:
        row = asdict(self)
        row["recap_json"] = row.pop("recap")
        return row

    @classmethod
    def from_row(cls, row: sa.RowMapping) -> RunRecord:
        values = dict(row)
        values["recap"] = values.pop("recap_json") or {}
        values["run_date"] = _as_date(values["run_date"])
        return cls(**values)


@dataclass(frozen=True)
class OutboxItem:
    """One hand-off waiting for (or done with) delivery to the webhook receiver."""

    key: str
    run_date: date
    lead_id: str
    payload: dict[str, Any]
    created_at: datetime
    attempts: int = 0
    next_attempt_at: datetime | None = None
    last_error: str | None = None
    acknowledged_at: datetime | None = None
    status: str = "pending"

    @classmethod
    def new(
        cls, run_date: date, lead_id: str, payload: dict[str, Any], created_at: datetime
    ) -> OutboxItem:
        """A fresh pending item keyed `<run_date>:<lead_id>`."""
        return cls(
            key=outbox_key(run_date, lead_id),
            run_date=run_date,
            lead_id=str(lead_id),
            payload=payload,
            created_at=created_at,
        )

    def to_row(self) -> dict[str, Any]:
        row = asdict(self)
        row["payload_json"] = row.pop("payload")
        return row

    @classmethod
    def from_row(cls, row: sa.RowMapping) -> OutboxItem:
        values = dict(row)
        values["payload"] = values.pop("payload_json")
        values["run_date"] = _as_date(values["run_date"])
        return cls(**values)


# Columns a writer must give (besides run_date, which comes from the RunRecord).
_REQUIRED = {
    "scores": ("lead_id", "probability", "score", "decision"),
    "handoffs": ("lead_id", "handed_at", "payload_json"),
    "lead_flags": ("lead_id", "kind"),
}


class Store:
    """The store of record. Open with `Store.open(url)`; use as a context manager to close."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    # ----------------------------------------------------------------- opening and closing
    @classmethod
    def open(cls, url: str | None = None) -> Store:
        """Open (creating if needed) the store and migrate its schema to this version's head.

        `url`: any SQLAlchemy URL; default $LEADSCORE_DB_URL, else sqlite:///leadscore.db.
        """
        resolved = resolve_url(url)
        engine = _create_engine(resolved)
        try:
            migrate(engine)
        except ConfigError:
            engine.dispose()
            raise
        except sa.exc.OperationalError as exc:
            engine.dispose()
            raise ConfigError(
                f"cannot open the store at {redact(resolved)}: {_first_line(exc)} "
                f"(set LEADSCORE_DB_URL to a reachable database)"
            ) from exc
        return cls(engine)

    @property
    def url(self) -> str:
        """The database URL, password hidden."""
        return self._engine.url.render_as_string(hide_password=True)

    @property
    def engine(self) -> Engine:
        """The engine, for the store's own reader modules (store/month_targets.py)."""
        return self._engine

    @property
    def dialect(self) -> str:
        return self._engine.dialect.name

    def revision(self) -> str | None:
        """The database's Alembic revision (head right after open)."""
        from alembic.migration import MigrationContext

        with self._engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()

    def close(self) -> None:
        self._engine.dispose()

    def daily_run_lock(self, run_date: date) -> AbstractContextManager[None]:
        """Hold the lock of that date's daily run (store/run_lock.py); ConfigError when
        another run of the date holds it, on this machine or (PostgreSQL) any other."""
        from store.run_lock import daily_run_lock

        return daily_run_lock(self._engine, run_date)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----------------------------------------------------------------- writing a run
    def save_run(
        self,
        run: RunRecord,
        scores: pd.DataFrame,
        handoff: pd.DataFrame | None,
        flags: pd.DataFrame | None,
        outbox: Sequence[OutboxItem] = (),
    ) -> None:
        """Record one run in ONE transaction.

        That run_date's runs/scores/handoffs/lead_flags rows are replaced (a re-run of a date
        leaves exactly one copy); outbox items are inserted only when their key is new, so a
        re-run never re-queues a delivery that was already acknowledged. Any failure rolls back:
        the store is as it was before the call.
        """
        day = run.run_date
        score_rows = _frame_columns(scores, schema.scores, day, "scores")
        handoff_rows = _frame_columns(handoff, schema.handoffs, day, "handoff")
        flag_rows = _frame_columns(flags, schema.lead_flags, day, "flags", ("lead_id", "kind"))
        _check_flag_kinds(flag_rows)
        items = list(outbox)
        keys = [i.key for i in items]
        if len(set(keys)) != len(keys):
            row = next(n for n, k in enumerate(keys) if k in keys[:n])
            raise DataError(f"store: outbox row {row}: duplicate key {keys[row]}")
        _check_outbox_fits(items)
        try:
            with self._engine.begin() as conn:
                for table in (schema.lead_flags, schema.handoffs, schema.scores, schema.runs):
                    conn.execute(table.delete().where(table.c.run_date == day))
                conn.execute(schema.runs.insert(), [run.to_row()])
                for table, rows in (
                    (schema.scores, score_rows),
                    (schema.handoffs, handoff_rows),
                    (schema.lead_flags, flag_rows),
                ):
                    _bulk_insert(conn, table, rows)
                _insert_new_outbox(conn, items)
        except (sa.exc.IntegrityError, sa.exc.DataError) as exc:
            raise DataError(
                f"store: run {day} was not saved (nothing written): {_first_line(exc)}"
            ) from exc

    def prune_scores(self, before: date) -> int:
        """Delete the per-lead score rows of runs before `before`; return how many.

        Scores are nearly all of the store's growth (every open lead, every day, with its
        reasons and activity); runs, hand-offs, flags and the outbox are small and kept, so the
        hand-off ledger and month-to-date figures stay whole. SQLite reuses the freed pages for
        later runs (the file stops growing; VACUUM shrinks it).
        """
        table = schema.scores
        with self._engine.begin() as conn:
            return conn.execute(table.delete().where(table.c.run_date < before)).rowcount

    # ----------------------------------------------------------------- reading runs
    def last_run(self, before: date | None = None) -> RunRecord | None:
        """The latest stored run, or the latest strictly before `before`."""
        query = sa.select(schema.runs).order_by(schema.runs.c.run_date.desc()).limit(1)
        if before is not None:
            query = query.where(schema.runs.c.run_date < before)
        with self._engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        return None if row is None else RunRecord.from_row(row)

    def run(self, run_date: date) -> RunRecord | None:
        """The run of that date, if stored."""
        query = sa.select(schema.runs).where(schema.runs.c.run_date == run_date)
        with self._engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        return None if row is None else RunRecord.from_row(row)

    def runs(self) -> pd.DataFrame:
        """Every stored run, oldest first (recap decoded in the `recap` column)."""
        return self._frame(sa.select(schema.runs).order_by(schema.runs.c.run_date), schema.runs)

    def scores(self, run_date: date, columns: Sequence[str] | None = None) -> pd.DataFrame:
        """That run's score of every open lead; `columns` (output names, e.g. ["lead_id",
        "score", "decision"]) reads only those: decoding every lead's reasons and activity is
        most of the cost of a 100k-lead read."""
        table = schema.scores
        names = _table_names(table, columns)
        query = (
            sa.select(*(table.c[n] for n in names))
            .where(table.c.run_date == run_date)
            .order_by(table.c.lead_id)
        )
        return self._frame(query, table, columns=names)

    def handoff(self, run_date: date) -> pd.DataFrame:
        """That run's hand-off (payload decoded)."""
        table = schema.handoffs
        query = sa.select(table).where(table.c.run_date == run_date).order_by(table.c.lead_id)
        return self._frame(query, table)

    def flags(self, run_date: date, kind: str) -> pd.DataFrame:
        """That run's returning or overdue leads."""
        if kind not in schema.FLAG_KINDS:
            raise ValueError(f"kind must be one of {schema.FLAG_KINDS}, not {kind!r}")
        table = schema.lead_flags
        query = (
            sa.select(table)
            .where(table.c.run_date == run_date, table.c.kind == kind)
            .order_by(table.c.lead_id)
        )
        return self._frame(query, table)

    # ----------------------------------------------------------------- reading leads
    def lead(self, lead_id: str) -> dict[str, Any] | None:
        """The lead's latest stored score row (reasons and activity decoded), with its first
        hand-off under `handoff` (None if never handed over); None for an unknown lead."""
        from foundation.text_limits import LEAD_ID_MAX, text_problem

        if text_problem(str(lead_id), LEAD_ID_MAX) is not None:
            return None  # no stored lead has such an id (and PostgreSQL refuses a NUL in it)
        table = schema.scores
        query = (
            sa.select(table)
            .where(table.c.lead_id == str(lead_id))
            .order_by(table.c.run_date.desc())
            .limit(1)
        )
        handed = (
            sa.select(schema.handoffs)
            .where(schema.handoffs.c.lead_id == str(lead_id))
            .order_by(schema.handoffs.c.run_date)
            .limit(1)
        )
        with self._engine.connect() as conn:
            row = conn.execute(query).mappings().first()
            if row is None:
                return None
            first = conn.execute(handed).mappings().first()
        out = _decoded(row)
        out["handoff"] = None if first is None else _decoded(first)
        return out

    def lead_history(self, lead_id: str, limit: int = 30) -> pd.DataFrame:
        """The lead's score per run date, oldest first, the last `limit` runs."""
        table = schema.scores
        cols = [table.c[name] for name in _HISTORY_COLUMNS]
        query = (
            sa.select(*cols)
            .where(table.c.lead_id == str(lead_id))
            .order_by(table.c.run_date.desc())
            .limit(limit)
        )
        frame = self._frame(query, table, columns=_HISTORY_COLUMNS)
        return frame.iloc[::-1].reset_index(drop=True)

    def handed_over(self) -> pd.DataFrame:
        """Every lead ever handed over, once: lead_id, run_date of its first hand-off and that
        hand-off's followup_deadline."""
        table = schema.handoffs
        query = sa.select(table.c.lead_id, table.c.run_date, table.c.followup_deadline).order_by(
            table.c.lead_id, table.c.run_date
        )
        frame = self._frame(query, table, columns=("lead_id", "run_date", "followup_deadline"))
        if frame.empty:
            return frame
        return frame.drop_duplicates("lead_id", keep="first").reset_index(drop=True)

    # ----------------------------------------------------------------- the outbox
    def pending_outbox(self, now: datetime | None = None) -> list[OutboxItem]:
        """Pending deliveries due at `now` (all pending ones when now is None): items never
        tried first, then those that failed before, oldest first within each. An item the
        receiver keeps failing on then never holds up the hand-offs queued after it."""
        table = schema.outbox
        query = sa.select(table).where(table.c.status == "pending")
        if now is not None:
            due = schema.to_utc(now)
            query = query.where(
                sa.or_(table.c.next_attempt_at.is_(None), table.c.next_attempt_at <= due)
            )
        tried_before = sa.case((table.c.attempts > 0, 1), else_=0)
        query = query.order_by(tried_before, table.c.created_at, table.c.key)
        with self._engine.connect() as conn:
            return [OutboxItem.from_row(row) for row in conn.execute(query).mappings()]

    def outbox_item(self, key: str) -> OutboxItem | None:
        query = sa.select(schema.outbox).where(schema.outbox.c.key == key)
        with self._engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        return None if row is None else OutboxItem.from_row(row)

    def outbox(self) -> pd.DataFrame:
        """Every outbox row (payload decoded), oldest first."""
        table = schema.outbox
        return self._frame(sa.select(table).order_by(table.c.created_at, table.c.key), table)

    def outbox_counts(self) -> dict[str, int]:
        """Number of outbox rows per status (every status present, zero included)."""
        table = schema.outbox
        query = sa.select(table.c.status, sa.func.count()).group_by(table.c.status)
        counts = dict.fromkeys(schema.OUTBOX_STATUSES, 0)
        with self._engine.connect() as conn:
            counts.update({status: int(n) for status, n in conn.execute(query)})
        return counts

    def mark_attempt(
        self,
        key: str,
        ok: bool,
        error: str | None,
        now: datetime,
        next_attempt_at: datetime | None = None,
        *,
        permanent: bool = False,
    ) -> None:
        """Record one delivery attempt.

        ok=True: acknowledged (status delivered, acknowledged_at=now). ok=False: stays pending
        until `next_attempt_at`, or becomes failed-permanent when `permanent` (a 4xx the
        receiver will keep refusing). An acknowledged item is never reopened by a late failure.
        """
        table = schema.outbox
        values: dict[str, Any] = {"attempts": table.c.attempts + 1, "last_error": error}
        if ok:
            values.update(status="delivered", acknowledged_at=now, next_attempt_at=None)
        elif permanent:
            values.update(status="failed-permanent", next_attempt_at=None)
        else:
            values.update(next_attempt_at=next_attempt_at)
        self._update_outbox(key, values)

    def claim_outbox(self, key: str, now: datetime, until: datetime) -> bool:
        """Take a pending item that is due at `now` for one sender until `until` (its
        next_attempt_at moves there); False when another sender holds it or it is no longer
        pending. One UPDATE, so two senders running at once never both send an item."""
        table = schema.outbox
        update = (
            table.update()
            .where(
                table.c.key == key,
                table.c.status == "pending",
                sa.or_(table.c.next_attempt_at.is_(None), table.c.next_attempt_at <= now),
            )
            .values(next_attempt_at=until)
        )
        with self._engine.begin() as conn:
            return conn.execute(update).rowcount == 1

    def mark_acknowledged(self, key: str, now: datetime) -> None:
        """The receiver answered 2xx: delivered, never sent again."""
        self._update_outbox(
            key, {"status": "delivered", "acknowledged_at": now, "next_attempt_at": None}
        )

    def requeue_failed(self, now: datetime) -> int:
        """Put failed-permanent items back in the queue (after the receiver was fixed)."""
        table = schema.outbox
        update = (
            table.update()
            .where(table.c.status == "failed-permanent")
            .values(status="pending", next_attempt_at=now)
        )
        with self._engine.begin() as conn:
            return conn.execute(update).rowcount

    def _update_outbox(self, key: str, values: dict[str, Any]) -> None:
        table = schema.outbox
        update = (
            table.update().where(table.c.key == key, table.c.status != "delivered").values(**values)
        )
        with self._engine.begin() as conn:
            if conn.execute(update).rowcount == 0:
                exists = conn.execute(sa.select(table.c.key).where(table.c.key == key)).first()
                if exists is None:
                    raise KeyError(f"no outbox item with key {key!r}")

    # ----------------------------------------------------------------- helpers
    def _frame(
        self, query: sa.Select[Any], table: sa.Table, columns: Sequence[str] | None = None
    ) -> pd.DataFrame:
        import pandas as pd

        names = list(columns) if columns is not None else [c.name for c in table.columns]
        with self._engine.connect() as conn:
            result = conn.execute(query)
            keys = list(result.keys())
            rows = result.all()
        assert keys == names, (keys, names)
        # Column by column: a dict per row cost seconds for a day's 100k scores.
        values = list(zip(*rows, strict=True)) if rows else [() for _ in names]
        frame = pd.DataFrame(
            {_decoded_name(n): list(v) for n, v in zip(names, values, strict=True)},
            columns=[_decoded_name(n) for n in names],
        )
        for name in names:
            if isinstance(table.c[name].type, schema.UTCDateTime):
                frame[name] = pd.to_datetime(frame[name], utc=True)
        return frame


_HISTORY_COLUMNS = ("run_date", "probability", "score", "tier", "decision")


def _table_names(table: sa.Table, columns: Sequence[str] | None) -> list[str]:
    """Table column names for requested output names (`reasons` -> `reasons_json`)."""
    all_names = [c.name for c in table.columns]
    if columns is None:
        return all_names
    by_output = {_decoded_name(n): n for n in all_names}
    unknown = [c for c in columns if c not in by_output and c not in all_names]
    if unknown:
        raise ValueError(f"unknown {table.name} column(s) {unknown}; known: {sorted(by_output)}")
    return [by_output.get(c, c) for c in columns]


def migrate(engine: Engine) -> None:
    """Bring the database to this version's head revision (no-op when already there)."""
    from alembic import command
    from alembic.migration import MigrationContext
    from alembic.util.exc import CommandError

    from store.migrations_config import alembic_config, head_revision

    # Already at head (every open but the first after an upgrade): a plain read, no write lock,
    # so the dashboard opening the store never waits for the daily job's write.
    with engine.connect() as conn:
        if MigrationContext.configure(conn).get_current_revision() == head_revision():
            return
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            # Take the write lock first: two processes opening a new file at once then migrate
            # one after the other, and the DDL is part of the transaction (rolled back on error).
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        elif conn.dialect.name == "postgresql":
            lock = sa.text("SELECT pg_advisory_xact_lock(:key)")
            conn.execute(lock, {"key": _MIGRATION_LOCK_KEY})
        config.attributes["connection"] = conn
        try:
            command.upgrade(config, "head")
        except CommandError as exc:
            raise ConfigError(
                f"the store at {redact(str(engine.url))} is at a schema revision this leadscore "
                f"does not know ({exc}); it was probably migrated by a newer leadscore: "
                "upgrade leadscore, or point LEADSCORE_DB_URL at another database"
            ) from exc


def _create_engine(url: str) -> Engine:
    parsed = sa.engine.make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        # Wait for another writer's lock instead of failing at once (the dashboard may be reading
        # while the daily job writes).
        engine = sa.create_engine(url, connect_args={"timeout": SQLITE_LOCK_WAIT_S})
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return sa.create_engine(url, pool_pre_ping=True)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    """WAL: readers (dashboard, HTTP reads) never block the daily job's write, nor it them.

    WAL is a property of the file, so only a new file is switched. Switching needs the file to
    itself and SQLite answers "database is locked" at once, without its busy wait, while another
    connection holds it (three processes opening a new store together): wait here instead.
    """
    import sqlite3

    cursor = dbapi_conn.cursor()
    deadline = time.monotonic() + SQLITE_LOCK_WAIT_S
    try:
        while True:
            try:
                if cursor.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                    cursor.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(SQLITE_LOCK_RETRY_S)
    finally:
        cursor.close()


def _decoded_name(name: str) -> str:
    return name.removesuffix("_json")


def _decoded(row: sa.RowMapping) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in row.items():
        if name == "run_date":
            value = _as_date(value)
        out[_decoded_name(name)] = value
    return out


def _as_date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, str):
        return date.fromisoformat(value[:10])
    return value


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


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


__all__ = ["OutboxItem", "RunRecord", "Store", "migrate", "outbox_key"]
