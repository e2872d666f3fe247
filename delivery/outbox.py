"""The outbox's state machine: which hand-offs are due, who holds them, and what an attempt did.

The store (store/records.py) keeps the rows: a run writes its new items pending, atomically with
the run, and reads show them. The moves between states are delivery's policy and live here:
pending -> (claimed by one sender for a lease) -> delivered, or pending again with a next attempt
time, or failed-permanent (a 4xx the receiver will keep refusing) until `requeue_failed`.
An acknowledged item is never reopened.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from store import OutboxItem, Store, schema


class Outbox:
    """The delivery outbox of one store."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def pending(self, now: datetime | None = None) -> list[OutboxItem]:
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
        with self._store.engine.connect() as conn:
            return [OutboxItem.from_row(row) for row in conn.execute(query).mappings()]

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
        self._update(key, values)

    def claim(self, key: str, now: datetime, until: datetime) -> bool:
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
        with self._store.engine.begin() as conn:
            return conn.execute(update).rowcount == 1

    def mark_acknowledged(self, key: str, now: datetime) -> None:
        """The receiver answered 2xx: delivered, never sent again."""
        self._update(key, {"status": "delivered", "acknowledged_at": now, "next_attempt_at": None})

    def requeue_failed(self, now: datetime) -> int:
        """Put failed-permanent items back in the queue (after the receiver was fixed)."""
        table = schema.outbox
        update = (
            table.update()
            .where(table.c.status == "failed-permanent")
            .values(status="pending", next_attempt_at=now)
        )
        with self._store.engine.begin() as conn:
            return conn.execute(update).rowcount

    def _update(self, key: str, values: dict[str, Any]) -> None:
        table = schema.outbox
        update = (
            table.update().where(table.c.key == key, table.c.status != "delivered").values(**values)
        )
        with self._store.engine.begin() as conn:
            if conn.execute(update).rowcount == 0:
                exists = conn.execute(sa.select(table.c.key).where(table.c.key == key)).first()
                if exists is None:
                    raise KeyError(f"no outbox item with key {key!r}")
