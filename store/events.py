"""Persistence of events as they happen (POST /v1/events): storing them durably and once, the
identity merge, the re-scoring worker's queue and what it writes back, and the reads of the
daily run and /v1/status.

Every write here is ONE transaction: an acknowledged request is in the store whole; a worker's
step (new scores, alerts, their outbox items, the events marked re-scored) happens whole or not
at all, so a crash at any point leaves events still waiting and nothing sent twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from store import schema
from store.bulk_write import _chunks, _insert_new_outbox

if TYPE_CHECKING:
    import pandas as pd

    from store.records import OutboxItem, Store

_IN_CHUNK = 500  # ids per IN (...): well under both backends' parameter limits


@dataclass(frozen=True)
class Stored:
    """What one request's write did."""

    stored: int
    duplicates: int


@dataclass(frozen=True)
class Identify:
    """An `identify` message's effect: the lead's profile, and the visitor it names."""

    message_id: str
    lead_id: str
    anonymous_id: str | None
    profile: dict[str, Any]


@dataclass(frozen=True)
class Backlog:
    """Events stored but not yet re-scored (and those waiting for an identify)."""

    waiting: int
    oldest_received_at: datetime | None
    unidentified: int


@dataclass(frozen=True)
class Taken:
    """A worker step's events: lead_id -> message ids, and when each event was received."""

    by_lead: dict[str, list[str]]
    received_at: list[datetime]


@dataclass
class History:
    """A lead's stored events: its track events oldest first with their ids (what re-scoring
    reads), and the ids of all its rows, `identify` included (what tells a kept copy is whole:
    rows are never deleted nor moved off a lead, so as many ids as the store has rows means the
    same rows)."""

    events: list[tuple[datetime, str, str | None]] = field(default_factory=list)
    message_ids: list[str] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class LeadState:
    """What the worker needs to re-score one lead: its profile, its events, and what it was."""

    lead_id: str
    profile: dict[str, Any]
    # Every stored track event as (ts, event_type, content_topic), oldest first: the shape the
    # single-lead feature code takes as it is (scoring/features_fast.py), so no copy per lead.
    events: list[tuple[datetime, str, str | None]]
    message_ids: list[str]  # of `events`, in the same order
    previous_decision: str | None  # live score, else the last daily run's
    handed_over: bool  # by a daily run or in real time


class EventStore:
    """The real-time tables of one store (store/schema.py, revision 0005_events)."""

    def __init__(self, store: Store) -> None:
        self._engine = store.engine

    # ------------------------------------------------------------------ writing events
    def add(
        self, rows: Sequence[dict[str, Any]], profiles: Sequence[Identify], now: datetime
    ) -> Stored:
        """Store new events (by message_id; a known one is counted as a duplicate and left as
        it was) and apply the profiles of the new `identify` messages, in ONE transaction."""
        table = schema.ingested_events
        unique: dict[str, dict[str, Any]] = {}
        for row in rows:
            unique.setdefault(row["message_id"], row)
        with self._engine.begin() as conn:
            known = _existing(conn, table.c.message_id, list(unique))
            new = [r for k, r in unique.items() if k not in known]
            if new:
                _resolve_anonymous(conn, new)
                conn.execute(_insert_ignoring_conflicts(conn, table), new)
            new_ids = {r["message_id"] for r in new}
            for who in profiles:
                if who.message_id in new_ids:
                    _merge_identity(conn, who.lead_id, who.anonymous_id, who.profile, now)
        return Stored(stored=len(new), duplicates=len(rows) - len(new))

    # ------------------------------------------------------------------ the worker's queue
    def backlog(self) -> Backlog:
        t = schema.ingested_events
        ready = _ready_filter()
        with self._engine.connect() as conn:
            n, oldest = conn.execute(
                sa.select(sa.func.count(), sa.func.min(t.c.received_at)).where(ready)
            ).one()
            unidentified = conn.execute(
                sa.select(sa.func.count()).where(t.c.scored_at.is_(None), sa.not_(ready))
            ).scalar_one()
        if oldest is not None:
            oldest = schema.UTCDateTime().process_result_value(oldest, self._engine.dialect)
        return Backlog(int(n), oldest, int(unidentified))

    def take(self, limit: int) -> dict[str, list[str]]:
        """Up to `limit` waiting events of identified leads, oldest first: lead_id -> ids."""
        return self.take_batch(limit).by_lead

    def take_batch(self, limit: int) -> Taken:
        """`take`, with the moment each event was received (for the re-scoring latency)."""
        t = schema.ingested_events
        query = (
            sa.select(t.c.message_id, t.c.lead_id, sa.type_coerce(t.c.received_at, sa.String()))
            .where(_ready_filter())
            .order_by(t.c.received_at, t.c.message_id)
            .limit(limit)
        )
        by_lead: dict[str, list[str]] = {}
        received: list[datetime] = []
        with self._engine.connect() as conn:
            for message_id, lead_id, received_at in conn.execute(query).all():
                by_lead.setdefault(lead_id, []).append(message_id)
                received.append(_utc_of(received_at))
        return Taken(by_lead, received)

    def lead_states(
        self, lead_ids: Sequence[str], histories: Mapping[str, History] | None = None
    ) -> list[LeadState]:
        """Profile, every stored track event, previous decision and hand-off of each lead;
        the track events of `histories` as given (ingest/history.py keeps them), the others
        read from the store (`histories_of`)."""
        leads, live = schema.live_leads, schema.live_scores
        profiles: dict[str, dict[str, Any]] = {}
        decisions: dict[str, str] = {}
        handed: set[str] = set()
        given = histories or {}
        read = self.histories_of([i for i in lead_ids if i not in given])
        with self._engine.connect() as conn:
            for chunk in _chunks(list(lead_ids), _IN_CHUNK):
                profiles.update(
                    conn.execute(
                        sa.select(leads.c.lead_id, leads.c.profile_json).where(
                            leads.c.lead_id.in_(chunk)
                        )
                    ).all()
                )
                decisions.update(_last_daily_decisions(conn, chunk))
                decisions.update(
                    conn.execute(
                        sa.select(live.c.lead_id, live.c.decision).where(live.c.lead_id.in_(chunk))
                    ).all()
                )
                handed |= _handed(conn, chunk)
        out = []
        for i in lead_ids:
            if i not in profiles:
                continue
            history = given.get(i) or read[i]
            out.append(
                LeadState(
                    lead_id=i,
                    profile=profiles[i],
                    events=history.events,
                    message_ids=history.message_ids,
                    previous_decision=decisions.get(i),
                    handed_over=i in handed,
                )
            )
        return out

    def histories_of(self, lead_ids: Sequence[str]) -> dict[str, History]:
        """Every stored event of each lead (track events in time order, and the ids of all).

        One ordered query per chunk of ids, read as the driver returns them: SQLAlchemy's
        per-value type processing cost more than everything else in a worker step (about 8 us
        a row, and a step reads every event of every lead)."""
        out = {i: History() for i in lead_ids}
        ev = schema.ingested_events
        with self._engine.connect() as conn:
            for chunk in _chunks(list(lead_ids), _IN_CHUNK):
                query = _raw_rows().where(ev.c.lead_id.in_(chunk)).order_by(ev.c.lead_id, ev.c.ts)
                lead, history = None, History()
                # .all(): one fetch of the chunk's rows, not a cursor call per row.
                for lead_id, ts, kind, event_type, topic, message_id in conn.execute(query).all():
                    if lead_id != lead:
                        lead, history = lead_id, out[lead_id]
                    history.seen.add(message_id)
                    if kind == "track":
                        history.events.append((_utc_of(ts), event_type, topic))
                        history.message_ids.append(message_id)
        return out

    def row_counts(self, lead_ids: Sequence[str]) -> dict[str, int]:
        """Stored rows (every kind) per lead: counted on the (lead_id, ts) index alone."""
        ev = schema.ingested_events
        out: dict[str, int] = {}
        with self._engine.connect() as conn:
            for chunk in _chunks(list(lead_ids), _IN_CHUNK):
                query = (
                    sa.select(ev.c.lead_id, sa.func.count())
                    .where(ev.c.lead_id.in_(chunk))
                    .group_by(ev.c.lead_id)
                )
                out.update((lead, int(n)) for lead, n in conn.execute(query).all())
        return out

    def rows_of(
        self, message_ids: Sequence[str]
    ) -> list[tuple[str, datetime, str, str, str | None, str]]:
        """The given events: (lead_id, ts, kind, event_type, content_topic, message_id)."""
        ev = schema.ingested_events
        out = []
        with self._engine.connect() as conn:
            for chunk in _chunks(list(message_ids), _IN_CHUNK):
                query = _raw_rows().where(ev.c.message_id.in_(chunk))
                out.extend(
                    (lead, _utc_of(ts), kind, event_type, topic, message_id)
                    for lead, ts, kind, event_type, topic, message_id in conn.execute(query).all()
                )
        return out

    def record_step(
        self,
        message_ids: Iterable[str],
        scores: Sequence[dict[str, Any]],
        alerts: Sequence[dict[str, Any]],
        outbox: Sequence[OutboxItem],
        now: datetime,
    ) -> None:
        """One worker step in ONE transaction: the leads' new scores, the alerts and their
        outbox items (each only when its key is new), the events marked re-scored."""
        t = schema.ingested_events
        with self._engine.begin() as conn:
            ids = list(message_ids)
            for chunk in _chunks(ids, _IN_CHUNK):
                conn.execute(t.update().where(t.c.message_id.in_(chunk)).values(scored_at=now))
            live = schema.live_scores
            leads = [s["lead_id"] for s in scores]
            for chunk in _chunks(leads, _IN_CHUNK):
                conn.execute(live.delete().where(live.c.lead_id.in_(chunk)))
            if scores:
                conn.execute(live.insert(), list(scores))
            if alerts:
                known = _existing(conn, schema.live_alerts.c.key, [a["key"] for a in alerts])
                new = [a for a in alerts if a["key"] not in known]
                if new:
                    conn.execute(schema.live_alerts.insert(), new)
            _insert_new_outbox(conn, list(outbox))

    # ------------------------------------------------------------------ reads
    def events_until(self, cut_off: datetime) -> pd.DataFrame:
        """Track events of known leads stamped at or before `cut_off` (the daily run's view):
        lead_id, ts, event_type, content_topic."""
        import pandas as pd

        t = schema.ingested_events
        query = sa.select(t.c.lead_id, t.c.ts, t.c.event_type, t.c.content_topic).where(
            t.c.kind == "track", t.c.lead_id.is_not(None), t.c.ts <= cut_off
        )
        with self._engine.connect() as conn:
            rows = conn.execute(query).all()
        frame = pd.DataFrame(rows, columns=["lead_id", "ts", "event_type", "content_topic"])
        frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
        return frame

    def live_leads(self) -> pd.DataFrame:
        """Leads first known from `identify`: lead_id, created_at and their profile columns."""
        import pandas as pd

        t = schema.live_leads
        with self._engine.connect() as conn:
            rows = conn.execute(sa.select(t.c.lead_id, t.c.profile_json)).all()
        frame = pd.DataFrame([{**p, "lead_id": i} for i, p in rows])
        if len(frame):
            frame["created_at"] = pd.to_datetime(frame["created_at"], utc=True)
        return frame

    def handed_over_live(self) -> set[str]:
        """Leads handed over in real time."""
        t = schema.live_alerts
        with self._engine.connect() as conn:
            return set(conn.execute(sa.select(t.c.lead_id).where(t.c.kind == "handoff")).scalars())

    def alerts(self) -> pd.DataFrame:
        """Every alert sent in real time, oldest first (payload decoded)."""
        import pandas as pd

        t = schema.live_alerts
        with self._engine.connect() as conn:
            rows = conn.execute(sa.select(t).order_by(t.c.at, t.c.key)).mappings().all()
        return pd.DataFrame([dict(r) for r in rows], columns=[c.name for c in t.columns])

    def count(self) -> int:
        with self._engine.connect() as conn:
            return int(
                conn.execute(
                    sa.select(sa.func.count()).select_from(schema.ingested_events)
                ).scalar_one()
            )

    def message_ids(self) -> set[str]:
        t = schema.ingested_events
        with self._engine.connect() as conn:
            return set(conn.execute(sa.select(t.c.message_id)).scalars())


# ---------------------------------------------------------------------- helpers


def _raw_rows() -> sa.Select[Any]:
    """lead_id, ts, kind, event_type, content_topic, message_id of ingested events, the time
    as the driver returns it (SQLite: its text; PostgreSQL: a datetime; see `_utc_of`)."""
    ev = schema.ingested_events
    raw_ts = sa.type_coerce(ev.c.ts, sa.String())
    return sa.select(
        ev.c.lead_id, raw_ts, ev.c.kind, ev.c.event_type, ev.c.content_topic, ev.c.message_id
    )


def _utc_of(value: Any) -> datetime:
    """A stored time as the driver gives it (SQLite: naive UTC text; PostgreSQL: an aware
    datetime) as an aware UTC datetime, as schema.UTCDateTime would give it, faster."""
    if value.__class__ is str:
        try:  # the offset parsed with the text: ten times cheaper than .replace(tzinfo=UTC)
            return datetime.fromisoformat(value + "+00:00")
        except ValueError:  # text written with an offset already
            return schema.to_utc(value)
    return schema.to_utc(value)


def _ready_filter() -> sa.ColumnElement[bool]:
    """Waiting events whose lead has a profile (the others wait for an identify)."""
    t, leads = schema.ingested_events, schema.live_leads
    known = sa.select(leads.c.lead_id).where(leads.c.lead_id == t.c.lead_id).exists()
    return sa.and_(t.c.scored_at.is_(None), t.c.lead_id.is_not(None), known)


def _existing(conn: Connection, column: sa.Column[Any], keys: list[str]) -> set[str]:
    found: set[str] = set()
    for chunk in _chunks(keys, _IN_CHUNK):
        found.update(conn.execute(sa.select(column).where(column.in_(chunk))).scalars())
    return found


def _insert_ignoring_conflicts(conn: Connection, table: sa.Table) -> Any:
    """INSERT that skips a row whose key another request stored meanwhile (two senders posting
    the same message at once): both are acknowledged, the event is stored once."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif conn.dialect.name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:
        return table.insert()
    return insert(table).on_conflict_do_nothing()


def _resolve_anonymous(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """An anonymous event of a visitor already identified goes to its lead at once."""
    anonymous = [r["anonymous_id"] for r in rows if r["lead_id"] is None and r["anonymous_id"]]
    if not anonymous:
        return
    t = schema.identities
    known: dict[str, str] = {}
    for chunk in _chunks(sorted(set(anonymous)), _IN_CHUNK):
        known.update(
            conn.execute(
                sa.select(t.c.anonymous_id, t.c.lead_id).where(t.c.anonymous_id.in_(chunk))
            )
            .tuples()
            .all()
        )
    for r in rows:
        if r["lead_id"] is None and r["anonymous_id"] in known:
            r["lead_id"] = known[r["anonymous_id"]]


def _merge_identity(
    conn: Connection, lead_id: str, anonymous_id: str | None, profile: dict, now: datetime
) -> None:
    """The lead's profile created or updated (new traits win, created_at kept), and the
    anonymous visitor's waiting events given to the lead (merge on identify)."""
    leads = schema.live_leads
    row = conn.execute(
        sa.select(leads.c.created_at, leads.c.profile_json).where(leads.c.lead_id == lead_id)
    ).first()
    if row is None:
        created = schema.to_utc(profile["created_at"])
        conn.execute(
            leads.insert().values(
                lead_id=lead_id, created_at=created, updated_at=now, profile_json=profile
            )
        )
    else:
        merged = {**row.profile_json, **profile, "created_at": row.profile_json["created_at"]}
        conn.execute(
            leads.update()
            .where(leads.c.lead_id == lead_id)
            .values(updated_at=now, profile_json=merged)
        )
    if anonymous_id is None:
        return
    ids = schema.identities
    if conn.execute(sa.select(ids.c.lead_id).where(ids.c.anonymous_id == anonymous_id)).first():
        return  # merged before: the first identify of a visitor decides
    conn.execute(ids.insert().values(anonymous_id=anonymous_id, lead_id=lead_id, merged_at=now))
    ev = schema.ingested_events
    conn.execute(
        ev.update()
        .where(ev.c.anonymous_id == anonymous_id, ev.c.lead_id.is_(None))
        .values(lead_id=lead_id, scored_at=None)
    )


def _last_daily_decisions(conn: Connection, lead_ids: list[str]) -> dict[str, str]:
    """Each lead's decision in the newest daily run that scored it."""
    s = schema.scores
    newest = (
        sa.select(s.c.lead_id, sa.func.max(s.c.run_date).label("run_date"))
        .where(s.c.lead_id.in_(lead_ids))
        .group_by(s.c.lead_id)
        .subquery()
    )
    query = sa.select(s.c.lead_id, s.c.decision).join(
        newest, sa.and_(s.c.lead_id == newest.c.lead_id, s.c.run_date == newest.c.run_date)
    )
    return dict(conn.execute(query).tuples().all())


def _handed(conn: Connection, lead_ids: list[str]) -> set[str]:
    h, a = schema.handoffs, schema.live_alerts
    daily = conn.execute(sa.select(h.c.lead_id).where(h.c.lead_id.in_(lead_ids))).scalars()
    live = conn.execute(
        sa.select(a.c.lead_id).where(a.c.lead_id.in_(lead_ids), a.c.kind == "handoff")
    ).scalars()
    return set(daily) | set(live)
