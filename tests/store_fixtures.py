"""Store fixtures shared by the store, delivery and daily tests: the same test runs on SQLite and
on a real PostgreSQL server.

Import both names where used: `from tests.store_fixtures import pg_database, store_url`.

PostgreSQL: $LEADSCORE_TEST_PG_URL (default postgres@127.0.0.1:5432, trust auth). One fresh
database with a random name per test session, dropped at the end; each test gets an empty
`public` schema in it. With no server answering, the PostgreSQL cases are skipped, unless $CI
is set: then a missing server fails them (CI promises PostgreSQL; .ci/run starts one).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

PG_URL_ENV = "LEADSCORE_TEST_PG_URL"
DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def _libpq(url: str) -> str:
    """A SQLAlchemy URL as a conninfo string psycopg.connect takes."""
    from sqlalchemy.engine import make_url

    from store.urls import resolve_url

    return make_url(resolve_url(url)).set(drivername="postgresql").render_as_string(False)


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """The SQLAlchemy URL of a fresh PostgreSQL database for this test session."""
    import psycopg
    from sqlalchemy.engine import make_url

    from store.urls import resolve_url

    admin_url = os.environ.get(PG_URL_ENV, DEFAULT_PG_URL)
    try:
        admin = psycopg.connect(_libpq(admin_url), autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        reason = f"no PostgreSQL answers at {admin_url} (${PG_URL_ENV}): {exc}".strip()
        if os.environ.get("CI"):
            pytest.fail(f"CI is set but {reason}", pytrace=False)
        pytest.skip(reason)
    name = f"leadscore_test_{secrets.token_hex(6)}"
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield make_url(resolve_url(admin_url)).set(database=name).render_as_string(False)
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _empty_schema(url: str) -> None:
    import psycopg

    with psycopg.connect(_libpq(url), autocommit=True) as conn:
        # A test that leaked an open transaction would otherwise hang the next one.
        conn.execute("SET lock_timeout = '10s'")
        conn.execute("DROP SCHEMA public CASCADE")
        conn.execute("CREATE SCHEMA public")


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A URL of an empty store: a SQLite file in tmp_path, or an empty PostgreSQL schema."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'leadscore.db'}"
    url: str = request.getfixturevalue("pg_database")
    _empty_schema(url)
    return url
