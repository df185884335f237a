"""billing: a subscription record per workspace and the provider event ledger

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from adapters.sql.tables import UTCDateTime

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "subscriptions",
        sa.Column("workspace_id", sa.String(36), nullable=False),
        sa.Column("customer_id", sa.String(255), nullable=False),
        sa.Column("subscription_id", sa.String(255), nullable=True),
        sa.Column("status", sa.String(32), nullable=True),
        sa.Column("price_id", sa.String(255), nullable=True),
        sa.Column("current_period_end", UTCDateTime(), nullable=True),
        sa.Column("cancel_at_period_end", sa.Boolean(), nullable=False),
        sa.Column("collection_paused", sa.Boolean(), nullable=False),
        sa.Column("event_at", UTCDateTime(), nullable=True),
        sa.Column("past_due_since", UTCDateTime(), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=True),
        sa.CheckConstraint(
            "status IS NULL OR status IN ('trialing', 'active', 'past_due', 'incomplete', "
            "'incomplete_expired', 'unpaid', 'canceled', 'paused')",
            name="ck_subscriptions_status",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name="fk_subscriptions_workspace_id_workspaces",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("workspace_id", name="pk_subscriptions"),
        sa.UniqueConstraint("customer_id", name="uq_subscriptions_customer_id"),
        sa.UniqueConstraint("subscription_id", name="uq_subscriptions_subscription_id"),
    )
    op.create_table(
        "billing_events",
        sa.Column("event_id", sa.String(255), nullable=False),
        sa.Column("type", sa.String(100), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("workspace_id", sa.String(36), nullable=True),
        sa.Column("subscription_id", sa.String(255), nullable=True),
        sa.CheckConstraint(
            "outcome IN ('applied', 'stale', 'ignored')", name="ck_billing_events_outcome"
        ),
        sa.PrimaryKeyConstraint("event_id", name="pk_billing_events"),
    )
    op.create_index("ix_billing_events_received_at", "billing_events", ["received_at"])


def downgrade() -> None:
    op.drop_index("ix_billing_events_received_at", table_name="billing_events")
    op.drop_table("billing_events")
    op.drop_table("subscriptions")
