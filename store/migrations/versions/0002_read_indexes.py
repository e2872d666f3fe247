"""Indexes for the reads the service and dashboard make: a lead's history across runs, the
hand-off ledger per lead, and the outbox's pending queue.

Revision ID: 0002_read_indexes
Revises: 0001_initial
Create Date: 2026-12-02
"""

from __future__ import annotations

from alembic import op

revision = "0002_read_indexes"
down_revision = "0001_initial"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_scores_lead_id", "scores", ["lead_id"])
    op.create_index("ix_handoffs_lead_id", "handoffs", ["lead_id"])
    op.create_index("ix_outbox_status_next_attempt_at", "outbox", ["status", "next_attempt_at"])


def downgrade() -> None:
    op.drop_index("ix_outbox_status_next_attempt_at", table_name="outbox")
    op.drop_index("ix_handoffs_lead_id", table_name="handoffs")
    op.drop_index("ix_scores_lead_id", table_name="scores")
