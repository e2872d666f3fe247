"""Month targets frozen once per month, with the version of the agreement they came from, so
every page, the recap and the API read one set of targets for the whole month.

Revision ID: 0003_month_targets
Revises: 0002_read_indexes
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_month_targets"
down_revision = "0002_read_indexes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "month_targets",
        sa.Column("month", sa.String(7), nullable=False),
        sa.Column("agreement_version", sa.String(64), nullable=False),
        sa.Column("frozen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("targets_json", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("month", name="pk_month_targets"),
    )


def downgrade() -> None:
    op.drop_table("month_targets")
