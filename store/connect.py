"""Opening a store's database: the engine (SQLite with WAL and a lock wait, or any SQLAlchemy URL)
and the migrations to the newest schema, safe when two processes open a fresh database at once.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from foundation.errors import ConfigError
from store.urls import redact

if TYPE_CHECKING:
    pass

# A constant key for PostgreSQL's advisory lock: two processes opening a fresh database at once
# (the daily job and the dashboard) must not both try to create the tables.
_MIGRATION_LOCK_KEY = 7_402_113_311
# How long a SQLite connection waits for another's lock (a daily write, a new file's WAL switch)
# before it reports "database is locked", and how often it looks again while switching to WAL.
SQLITE_LOCK_WAIT_S = 30.0
SQLITE_LOCK_RETRY_S = 0.01


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


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
