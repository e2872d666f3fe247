"""The store's tables, as SQLAlchemy Core metadata.

The migrations in store/migrations/versions/ build the database; this metadata is what the code
reads and writes with. tests/test_store.py checks that the two agree (an autogenerate diff of a
migrated database against this metadata is empty), so a column added here without a migration,
or the other way round, fails a test instead of a user's morning run.

Every payload column is JSON text (not a native JSON type) so SQLite and PostgreSQL hold the
same bytes and a CRM export reads the same thing whichever backend a team chose.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator

from foundation.text_limits import CATEGORY_MAX, LEAD_ID_MAX

# Pinned names for constraints and indexes: migrations can then refer to them on both backends.
NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "pk": "pk_%(table_name)s",
}

OUTBOX_STATUSES = ("pending", "delivered", "failed-permanent")
FLAG_KINDS = ("returning", "overdue")


class UTCDateTime(TypeDecorator[datetime]):
    """Timestamps are UTC on the way in and timezone-aware UTC on the way out.

    SQLite has no time zone type: without this a value written aware comes back naive, and a
    comparison with `now` in Python raises. Naive inputs are taken as UTC (the data contract's
    times are UTC).
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        value = to_utc(value)
        # SQLite stores the text form; keep it naive UTC so string ordering is time ordering.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class JSONText(TypeDecorator[Any]):
    """A Python value stored as JSON text; NaN becomes null (JSON has no NaN)."""

    impl = sa.Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: sa.Dialect) -> str | None:
        if value is None:
            return None
        if isinstance(value, str):
            # Already JSON text: save_run encodes and checks what callers give before this.
            return value
        return dumps(value)

    def process_result_value(self, value: Any, dialect: sa.Dialect) -> Any:
        return None if value is None else orjson.loads(value)


def to_utc(value: Any) -> datetime:
    """A datetime (or pandas Timestamp, or ISO string) as an aware UTC datetime."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if hasattr(value, "to_pydatetime"):
        value = value.to_pydatetime()
    if not isinstance(value, datetime):
        raise TypeError(f"expected a timestamp, got {type(value).__name__} {value!r}")
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


_ORJSON_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


def _default(value: Any) -> Any:
    """What orjson does not know: pandas scalars (NaT/NA become null), sets, anything else as
    its text, so a payload never fails to store over an exotic value."""
    if value is None or value is pd_na():
        return None
    if hasattr(value, "isoformat"):  # pandas Timestamp (NaT is not equal to itself)
        return None if value != value else value.isoformat()
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)
    return str(value)


def pd_na() -> Any:
    """pandas.NA without importing pandas at module import (the CLI's --help stays fast)."""
    import sys

    pandas = sys.modules.get("pandas")
    return getattr(pandas, "NA", None) if pandas is not None else None


def dumps(value: Any) -> str:
    """Compact JSON for a payload column (the bytes a webhook receiver also gets); NaN -> null.

    orjson: a day's 100k score rows carry two JSON columns each, and the standard library's
    encoder (with a Python pass for numpy and NaN) was most of save_run's time.
    """
    return orjson.dumps(value, default=_default, option=_ORJSON_OPTIONS).decode()


metadata = sa.MetaData(naming_convention=NAMING)

runs = sa.Table(
    "runs",
    metadata,
    sa.Column("run_date", sa.Date, primary_key=True),
    sa.Column("started_at", UTCDateTime, nullable=False),
    sa.Column("finished_at", UTCDateTime, nullable=False),
    sa.Column("model_name", sa.String(200), nullable=False),
    sa.Column("model_version", sa.String(100), nullable=False),
    sa.Column("threshold", sa.Float, nullable=False),
    sa.Column("n_open", sa.Integer, nullable=False),
    sa.Column("n_mql", sa.Integer, nullable=False),
    sa.Column("n_handoff", sa.Integer, nullable=False),
    sa.Column("n_returning", sa.Integer, nullable=False),
    sa.Column("n_overdue", sa.Integer, nullable=False),
    sa.Column("recap_json", JSONText, nullable=True),
)

scores = sa.Table(
    "scores",
    metadata,
    sa.Column("run_date", sa.Date, primary_key=True),
    sa.Column("lead_id", sa.String(LEAD_ID_MAX), primary_key=True),
    sa.Column("channel", sa.String(CATEGORY_MAX), nullable=True),
    sa.Column("persona", sa.String(200), nullable=True),
    sa.Column("probability", sa.Float, nullable=False),
    sa.Column("score", sa.Integer, nullable=False),
    sa.Column("tier", sa.String(50), nullable=True),
    sa.Column("decision", sa.String(50), nullable=False),
    sa.Column("rule", sa.String(200), nullable=True),
    sa.Column("grade", sa.String(20), nullable=True),
    sa.Column("expected_value_eur", sa.Float, nullable=True),
    sa.Column("reasons_json", JSONText, nullable=True),
    sa.Column("activity_json", JSONText, nullable=True),
    sa.CheckConstraint("score >= 0 AND score <= 100", name="score_range"),
    sa.CheckConstraint("probability >= 0 AND probability <= 1", name="probability_range"),
)

handoffs = sa.Table(
    "handoffs",
    metadata,
    sa.Column("run_date", sa.Date, primary_key=True),
    sa.Column("lead_id", sa.String(LEAD_ID_MAX), primary_key=True),
    sa.Column("handed_at", UTCDateTime, nullable=False),
    sa.Column("followup_deadline", UTCDateTime, nullable=True),
    sa.Column("payload_json", JSONText, nullable=False),
)

lead_flags = sa.Table(
    "lead_flags",
    metadata,
    sa.Column("run_date", sa.Date, primary_key=True),
    sa.Column("lead_id", sa.String(LEAD_ID_MAX), primary_key=True),
    sa.Column("kind", sa.String(20), primary_key=True),
    sa.Column("payload_json", JSONText, nullable=True),
    sa.CheckConstraint("kind IN ('returning', 'overdue')", name="kind"),
)

outbox = sa.Table(
    "outbox",
    metadata,
    sa.Column("key", sa.String(250), primary_key=True),
    sa.Column("run_date", sa.Date, nullable=False),
    sa.Column("lead_id", sa.String(LEAD_ID_MAX), nullable=False),
    sa.Column("payload_json", JSONText, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_attempt_at", UTCDateTime, nullable=True),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("acknowledged_at", UTCDateTime, nullable=True),
    sa.Column("status", sa.String(20), nullable=False, server_default="pending"),
    sa.CheckConstraint("status IN ('pending', 'delivered', 'failed-permanent')", name="status"),
)

# Added by revision 0003_month_targets: the month's targets, computed on its first daily run and
# never recomputed (sla.yaml changed mid-month applies from the next month on).
month_targets = sa.Table(
    "month_targets",
    metadata,
    sa.Column("month", sa.String(7), primary_key=True),  # YYYY-MM
    sa.Column("agreement_version", sa.String(64), nullable=False),
    sa.Column("frozen_at", UTCDateTime, nullable=False),
    sa.Column("targets_json", JSONText, nullable=False),
)

# Added by revision 0004_lead_actions: what sales did with a handed-over lead (contacted,
# snoozed, closed) and who owns it (assigned, reassigned), one row per act, never updated; the
# worklist (sales/) is computed from it. store/actions.py reads and writes it.
ACTION_KINDS = ("contacted", "snoozed", "closed", "assigned", "reassigned")
lead_actions = sa.Table(
    "lead_actions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("lead_id", sa.String(LEAD_ID_MAX), nullable=False),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("source", sa.String(20), nullable=False),
    sa.Column("channel", sa.String(50), nullable=True),
    sa.Column("until", sa.Date, nullable=True),
    sa.Column("reason", sa.String(50), nullable=True),
    sa.Column("owner", sa.String(200), nullable=True),
    sa.Column("team", sa.String(200), nullable=True),
    sa.Column("note", sa.Text, nullable=True),
    sa.CheckConstraint(
        "kind IN ('contacted', 'snoozed', 'closed', 'assigned', 'reassigned')", name="kind"
    ),
)
sa.Index("ix_lead_actions_lead_id", lead_actions.c.lead_id)

# Added by revision 0006_crm_inbox: what CRMs sent (crm/, store/crm_inbox.py). crm_messages
# holds each delivery's id once (CRMs deliver at least once: a repeat changes nothing); crm_leads
# the CRM records that became leads; crm_stages the funnel stage each CRM status means, one row
# per lead and stage at its earliest time (so messages arriving out of order agree).
crm_messages = sa.Table(
    "crm_messages",
    metadata,
    sa.Column("crm", sa.String(20), primary_key=True),
    sa.Column("message_id", sa.String(250), primary_key=True),
    sa.Column("kind", sa.String(60), nullable=False),
    sa.Column("received_at", UTCDateTime, nullable=False),
)
crm_leads = sa.Table(
    "crm_leads",
    metadata,
    sa.Column("crm", sa.String(20), primary_key=True),
    sa.Column("record_id", sa.String(LEAD_ID_MAX), primary_key=True),
    sa.Column("lead_id", sa.String(LEAD_ID_MAX), nullable=False),
    sa.Column("email", sa.String(320), nullable=True),
    sa.Column("changed_at", UTCDateTime, nullable=False),
    sa.Column("properties_json", JSONText, nullable=True),
)
sa.Index("ix_crm_leads_lead_id", crm_leads.c.lead_id)
crm_stages = sa.Table(
    "crm_stages",
    metadata,
    sa.Column("lead_id", sa.String(LEAD_ID_MAX), primary_key=True),
    sa.Column("stage", sa.String(50), primary_key=True),
    sa.Column("ts", UTCDateTime, nullable=False),
    sa.Column("crm", sa.String(20), nullable=False),
    sa.Column("crm_status", sa.String(200), nullable=False),
    sa.Column("message_id", sa.String(250), nullable=False),
)

# Added by revision 0002_read_indexes.
sa.Index("ix_scores_lead_id", scores.c.lead_id)
sa.Index("ix_handoffs_lead_id", handoffs.c.lead_id)
sa.Index("ix_outbox_status_next_attempt_at", outbox.c.status, outbox.c.next_attempt_at)

# Added by revision 0005_events: events as they happen (POST /v1/events, ingest/). Each event is
# stored before it is acknowledged; `scored_at` is null until the re-scoring worker has taken it
# into its lead's score (the lag /v1/status reports). `lead_id` is null while only an anonymous
# id is known: the event waits until an `identify` names its lead.
ingested_events = sa.Table(
    "ingested_events",
    metadata,
    sa.Column("message_id", sa.String(250), primary_key=True),
    sa.Column("kind", sa.String(20), nullable=False),  # track | identify
    sa.Column("lead_id", sa.String(LEAD_ID_MAX), nullable=True),
    sa.Column("anonymous_id", sa.String(250), nullable=True),
    sa.Column("name", sa.String(CATEGORY_MAX), nullable=True),  # the sender's event name
    sa.Column("event_type", sa.String(CATEGORY_MAX), nullable=True),  # after the mapping
    sa.Column("content_topic", sa.String(CATEGORY_MAX), nullable=True),
    sa.Column("ts", UTCDateTime, nullable=False),
    sa.Column("received_at", UTCDateTime, nullable=False),
    sa.Column("scored_at", UTCDateTime, nullable=True),
    sa.Column("payload_json", JSONText, nullable=True),  # properties or traits, as sent
    sa.CheckConstraint("kind IN ('track', 'identify')", name="kind"),
)

# The profile of a lead first known from an `identify` (its traits), for scoring and for the
# daily run; and the anonymous ids an `identify` merged into a lead.
live_leads = sa.Table(
    "live_leads",
    metadata,
    sa.Column("lead_id", sa.String(LEAD_ID_MAX), primary_key=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("profile_json", JSONText, nullable=False),
)

identities = sa.Table(
    "identities",
    metadata,
    sa.Column("anonymous_id", sa.String(250), primary_key=True),
    sa.Column("lead_id", sa.String(LEAD_ID_MAX), nullable=False),
    sa.Column("merged_at", UTCDateTime, nullable=False),
)

# The newest score of a lead re-scored on arrival (one row per lead, replaced each time).
live_scores = sa.Table(
    "live_scores",
    metadata,
    sa.Column("lead_id", sa.String(LEAD_ID_MAX), primary_key=True),
    sa.Column("scored_at", UTCDateTime, nullable=False),
    sa.Column("as_of", UTCDateTime, nullable=False),
    sa.Column("probability", sa.Float, nullable=False),
    sa.Column("score", sa.Integer, nullable=False),
    sa.Column("tier", sa.String(50), nullable=True),
    sa.Column("decision", sa.String(50), nullable=False),
    sa.Column("model_version", sa.String(100), nullable=True),
)

# What the real-time path sent (a hand-off or a returning alert), one row per outbox key: the
# daily run reads the hand-offs so it never hands the same lead over twice.
live_alerts = sa.Table(
    "live_alerts",
    metadata,
    sa.Column("key", sa.String(250), primary_key=True),  # the outbox key
    sa.Column("lead_id", sa.String(LEAD_ID_MAX), nullable=False),
    sa.Column("kind", sa.String(20), nullable=False),  # handoff | returning
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("followup_deadline", UTCDateTime, nullable=True),
    sa.Column("payload_json", JSONText, nullable=False),
    sa.CheckConstraint("kind IN ('handoff', 'returning')", name="kind"),
)

sa.Index("ix_ingested_events_scored_at", ingested_events.c.scored_at)
sa.Index("ix_ingested_events_lead_id_ts", ingested_events.c.lead_id, ingested_events.c.ts)
sa.Index("ix_ingested_events_anonymous_id", ingested_events.c.anonymous_id)
sa.Index("ix_live_alerts_lead_id", live_alerts.c.lead_id)
