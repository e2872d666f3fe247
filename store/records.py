"""The store of record: what each daily run decided, what was handed to sales, and the delivery
outbox, in one database (SQLite file by default, any SQLAlchemy URL for a team).

Readers get pandas DataFrames whose columns are the table's, with the JSON text columns decoded
and named without their `_json` suffix (`reasons_json` -> `reasons`, `payload_json` -> `payload`,
`recap_json` -> `recap`). Writers may pass either form.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Self

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from foundation.errors import ConfigError, DataError
from store import schema
from store.bulk_write import (
    _bulk_insert,
    _check_flag_kinds,
    _check_outbox_fits,
    _frame_columns,
    _insert_new_outbox,
)
from store.connect import _create_engine, _first_line, migrate
from store.urls import redact, resolve_url

if TYPE_CHECKING:
    import pandas as pd


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


__all__ = ["OutboxItem", "RunRecord", "Store", "migrate", "outbox_key"]
