"""The store of record: runs, scores, hand-offs, lead flags and the delivery outbox.

Written out in full (not imported from store.schema) so that this revision keeps building the
same tables after the schema module moves on.

Revision ID: 0001_initial
Revises:
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_initial"
down_revision = None
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("run_date", sa.Date, nullable=False),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("finished_at", TS, nullable=False),
        sa.Column("model_name", sa.String(200), nullable=False),
        sa.Column("model_version", sa.String(100), nullable=False),
        sa.Column("threshold", sa.Float, nullable=False),
        sa.Column("n_open", sa.Integer, nullable=False),
        sa.Column("n_mql", sa.Integer, nullable=False),
        sa.Column("n_handoff", sa.Integer, nullable=False),
        sa.Column("n_returning", sa.Integer, nullable=False),
        sa.Column("n_overdue", sa.Integer, nullable=False),
        sa.Column("recap_json", sa.Text, nullable=True),
        sa.PrimaryKeyConstraint("run_date", name="pk_runs"),
    )
    op.create_table(
        "scores",
        sa.Column("run_date", sa.Date, nullable=False),
        sa.Column("lead_id", sa.String(200), nullable=False),
        sa.Column("channel", sa.String(100), nullable=True),
        sa.Column("persona", sa.String(200), nullable=True),
        sa.Column("probability", sa.Float, nullable=False),
        sa.Column("score", sa.Integer, nullable=False),
        sa.Column("tier", sa.String(50), nullable=True),
        sa.Column("decision", sa.String(50), nullable=False),
        sa.Column("rule", sa.String(200), nullable=True),
        sa.Column("grade", sa.String(20), nullable=True),
        sa.Column("expected_value_eur", sa.Float, nullable=True),
        sa.Column("reasons_json", sa.Text, nullable=True),
        sa.Column("activity_json", sa.Text, nullable=True),
        sa.PrimaryKeyConstraint("run_date", "lead_id", name="pk_scores"),
        sa.CheckConstraint("score >= 0 AND score <= 100", name="ck_scores_score_range"),
        sa.CheckConstraint(
            "probability >= 0 AND probability <= 1", name="ck_scores_probability_range"
        ),
    )
    op.create_table(
        "handoffs",
        sa.Column("run_date", sa.Date, nullable=False),
        sa.Column("lead_id", sa.String(200), nullable=False),
        sa.Column("handed_at", TS, nullable=False),
        sa.Column("followup_deadline", TS, nullable=True),
        sa.Column("payload_json", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("run_date", "lead_id", name="pk_handoffs"),
    )
    op.create_table(
        "lead_flags",
        sa.Column("run_date", sa.Date, nullable=False),
        sa.Column("lead_id", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("payload_json", sa.Text, nullable=True),
        sa.PrimaryKeyConstraint("run_date", "lead_id", "kind", name="pk_lead_flags"),
        sa.CheckConstraint("kind IN ('returning', 'overdue')", name="ck_lead_flags_kind"),
    )
    op.create_table(
        "outbox",
        sa.Column("key", sa.String(250), nullable=False),
        sa.Column("run_date", sa.Date, nullable=False),
        sa.Column("lead_id", sa.String(200), nullable=False),
        sa.Column("payload_json", sa.Text, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt_at", TS, nullable=True),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("acknowledged_at", TS, nullable=True),
        sa.Column("status", sa.String(20), nullable=False, server_default="pending"),
        sa.PrimaryKeyConstraint("key", name="pk_outbox"),
        sa.CheckConstraint(
            "status IN ('pending', 'delivered', 'failed-permanent')", name="ck_outbox_status"
        ),
    )


def downgrade() -> None:
    for table in ("outbox", "lead_flags", "handoffs", "scores", "runs"):
        op.drop_table(table)
