"""What sales did with each handed-over lead and who owns it: one row per act (store/actions.py).

Revision ID: 0004_lead_actions
Revises: 0003_month_targets
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_lead_actions"
down_revision = "0003_month_targets"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "lead_actions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("lead_id", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("source", sa.String(20), nullable=False),
        sa.Column("channel", sa.String(50), nullable=True),
        sa.Column("until", sa.Date(), nullable=True),
        sa.Column("reason", sa.String(50), nullable=True),
        sa.Column("owner", sa.String(200), nullable=True),
        sa.Column("team", sa.String(200), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "kind IN ('contacted', 'snoozed', 'closed', 'assigned', 'reassigned')",
            name="ck_lead_actions_kind",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_lead_actions"),
    )
    op.create_index("ix_lead_actions_lead_id", "lead_actions", ["lead_id"])


def downgrade() -> None:
    op.drop_index("ix_lead_actions_lead_id", table_name="lead_actions")
    op.drop_table("lead_actions")
