"""Which database the store opens: LEADSCORE_DB_URL, or a SQLite file in the project folder."""

from __future__ import annotations

import os

from foundation.errors import ConfigError

DB_URL_ENV = "LEADSCORE_DB_URL"
DEFAULT_DB_URL = "sqlite:///leadscore.db"

# psycopg (v3) is the PostgreSQL driver we install and test; SQLAlchemy's bare `postgresql://`
# means psycopg2, which is not installed, so the plain forms are mapped onto psycopg.
_PG_PLAIN = ("postgresql://", "postgres://")


def resolve_url(url: str | None = None) -> str:
    """The SQLAlchemy URL to open: the argument, else $LEADSCORE_DB_URL, else the default."""
    url = (url or os.environ.get(DB_URL_ENV) or DEFAULT_DB_URL).strip()
    for plain in _PG_PLAIN:
        if url.startswith(plain):
            return "postgresql+psycopg://" + url[len(plain) :]
    if "://" not in url:
        raise ConfigError(
            f"{DB_URL_ENV}={url!r} is not a database URL "
            "(expected e.g. sqlite:///leadscore.db or postgresql://user@host/dbname)"
        )
    return url


def redact(url: str) -> str:
    """The URL without its password, for messages and logs."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # an unparsable URL has no password we could find either
        return url.split("@")[-1]
