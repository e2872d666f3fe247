"""The store of record: every daily run's scores and decisions, the hand-offs, the lead flags and
the delivery outbox, in SQLite (default) or any SQLAlchemy database, migrated by Alembic."""

from store.records import OutboxItem, RunRecord, Store, migrate, outbox_key
from store.urls import DB_URL_ENV, DEFAULT_DB_URL, resolve_url

__all__ = [
    "DB_URL_ENV",
    "DEFAULT_DB_URL",
    "OutboxItem",
    "RunRecord",
    "Store",
    "migrate",
    "outbox_key",
    "resolve_url",
]
