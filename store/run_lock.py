"""One daily run per date at a time, whichever machine starts it.

Two `leadscore daily` runs of one date at once shared temporary file names and raced each
other's store transaction (2 of 6 pairs failed with tracebacks on SQLite, 1 of 3 on PostgreSQL).
The lock lives with the store, so it holds wherever the store is shared:

- PostgreSQL: a session advisory lock keyed by the date, on a connection held for the run. Every
  machine using the database sees it, and PostgreSQL releases it when the run's connection ends,
  a killed run included.
- SQLite: an exclusive lock on one byte (the date's day number) of `<database>.daily.lock` next
  to the file; the operating system releases it when the process ends. POSIX record locks are
  per process: two runs in one process are not kept apart (the command runs one per process).

Taking the lock never waits: the second run stops at once with a message saying why.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from foundation.errors import ConfigError

# The first key of the two-key advisory lock: leadscore's daily runs (the second is the date).
_DAILY_LOCK_SPACE = 7_402_114


@contextmanager
def daily_run_lock(engine: Engine, run_date: date) -> Iterator[None]:
    """Hold the lock of `run_date`'s daily run, or raise ConfigError when another run has it."""
    dialect = engine.dialect.name
    if dialect == "postgresql":
        with _postgresql_lock(engine, run_date):
            yield
    elif dialect == "sqlite":
        with _sqlite_lock(engine, run_date):
            yield
    else:  # pragma: no cover - the store supports these two
        raise ConfigError(f"no daily run lock for a {dialect} store (use SQLite or PostgreSQL)")


def _busy(run_date: date, where: str) -> ConfigError:
    return ConfigError(
        f"another `leadscore daily --as-of {run_date}` is running on this store ({where}): "
        "runs of one date never overlap; wait for it to finish, then run again if needed"
    )


@contextmanager
def _postgresql_lock(engine: Engine, run_date: date) -> Iterator[None]:
    key = {"space": _DAILY_LOCK_SPACE, "day": run_date.toordinal()}
    with engine.connect() as conn:
        taken = conn.execute(sa.text("SELECT pg_try_advisory_lock(:space, :day)"), key).scalar()
        conn.commit()
        if not taken:
            raise _busy(run_date, "PostgreSQL advisory lock")
        try:
            yield
        finally:
            conn.execute(sa.text("SELECT pg_advisory_unlock(:space, :day)"), key)
            conn.commit()


@contextmanager
def _sqlite_lock(engine: Engine, run_date: date) -> Iterator[None]:
    import fcntl

    database = engine.url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        yield  # a private in-memory store: no other process can reach it
        return
    path = Path(database).expanduser().with_name(Path(database).name + ".daily.lock")
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, run_date.toordinal())
        except OSError:
            raise _busy(run_date, f"lock file {path}") from None
        try:
            yield
        finally:
            fcntl.lockf(fd, fcntl.LOCK_UN, 1, run_date.toordinal())
    finally:
        os.close(fd)
