"""What CRMs sent: each delivery once, the records that became leads, the stages their statuses
mean (store/crm_inbox.py).

Revision ID: 0006_crm_inbox
Revises: 0005_events
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_crm_inbox"
down_revision = "0005_events"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "crm_messages",
        sa.Column("crm", sa.String(20), nullable=False),
        sa.Column("message_id", sa.String(250), nullable=False),
        sa.Column("kind", sa.String(60), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("crm", "message_id", name="pk_crm_messages"),
    )
    op.create_table(
        "crm_leads",
        sa.Column("crm", sa.String(20), nullable=False),
        sa.Column("record_id", sa.String(200), nullable=False),
        sa.Column("lead_id", sa.String(200), nullable=False),
        sa.Column("email", sa.String(320), nullable=True),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("properties_json", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("crm", "record_id", name="pk_crm_leads"),
    )
    op.create_index("ix_crm_leads_lead_id", "crm_leads", ["lead_id"])
    op.create_table(
        "crm_stages",
        sa.Column("lead_id", sa.String(200), nullable=False),
        sa.Column("stage", sa.String(50), nullable=False),
        sa.Column("ts", sa.DateTime(timezone=True), nullable=False),
        sa.Column("crm", sa.String(20), nullable=False),
        sa.Column("crm_status", sa.String(200), nullable=False),
        sa.Column("message_id", sa.String(250), nullable=False),
        sa.PrimaryKeyConstraint("lead_id", "stage", name="pk_crm_stages"),
    )


def downgrade() -> None:
    op.drop_table("crm_stages")
    op.drop_index("ix_crm_leads_lead_id", table_name="crm_leads")
    op.drop_table("crm_leads")
    op.drop_table("crm_messages")
