"""Events as they happen (POST /v1/events): the stored events with their re-scoring state, the
leads first known from `identify`, the anonymous ids merged into them, each lead's newest live
score and the alerts the real-time path sent.

Revision ID: 0005_events
Revises: 0004_lead_actions
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_events"
down_revision = "0004_lead_actions"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "ingested_events",
        sa.Column("message_id", sa.String(250), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("lead_id", sa.String(200), nullable=True),
        sa.Column("anonymous_id", sa.String(250), nullable=True),
        sa.Column("name", sa.String(100), nullable=True),
        sa.Column("event_type", sa.String(100), nullable=True),
        sa.Column("content_topic", sa.String(100), nullable=True),
        sa.Column("ts", _TS, nullable=False),
        sa.Column("received_at", _TS, nullable=False),
        sa.Column("scored_at", _TS, nullable=True),
        sa.Column("payload_json", sa.Text(), nullable=True),
        sa.CheckConstraint("kind IN ('track', 'identify')", name="ck_ingested_events_kind"),
        sa.PrimaryKeyConstraint("message_id", name="pk_ingested_events"),
    )
    op.create_index("ix_ingested_events_scored_at", "ingested_events", ["scored_at"])
    op.create_index("ix_ingested_events_lead_id_ts", "ingested_events", ["lead_id", "ts"])
    op.create_index("ix_ingested_events_anonymous_id", "ingested_events", ["anonymous_id"])
    op.create_table(
        "live_leads",
        sa.Column("lead_id", sa.String(200), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.Column("profile_json", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("lead_id", name="pk_live_leads"),
    )
    op.create_table(
        "identities",
        sa.Column("anonymous_id", sa.String(250), nullable=False),
        sa.Column("lead_id", sa.String(200), nullable=False),
        sa.Column("merged_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("anonymous_id", name="pk_identities"),
    )
    op.create_table(
        "live_scores",
        sa.Column("lead_id", sa.String(200), nullable=False),
        sa.Column("scored_at", _TS, nullable=False),
        sa.Column("as_of", _TS, nullable=False),
        sa.Column("probability", sa.Float(), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("tier", sa.String(50), nullable=True),
        sa.Column("decision", sa.String(50), nullable=False),
        sa.Column("model_version", sa.String(100), nullable=True),
        sa.PrimaryKeyConstraint("lead_id", name="pk_live_scores"),
    )
    op.create_table(
        "live_alerts",
        sa.Column("key", sa.String(250), nullable=False),
        sa.Column("lead_id", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("at", _TS, nullable=False),
        sa.Column("followup_deadline", _TS, nullable=True),
        sa.Column("payload_json", sa.Text(), nullable=False),
        sa.CheckConstraint("kind IN ('handoff', 'returning')", name="ck_live_alerts_kind"),
        sa.PrimaryKeyConstraint("key", name="pk_live_alerts"),
    )
    op.create_index("ix_live_alerts_lead_id", "live_alerts", ["lead_id"])


def downgrade() -> None:
    op.drop_table("live_alerts")
    op.drop_table("live_scores")
    op.drop_table("identities")
    op.drop_table("live_leads")
    op.drop_table("ingested_events")
