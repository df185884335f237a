"""invites, disabled users, and the hash-chained audit trail

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26

Audit rows written before this revision are chained here, oldest first, so the whole
history verifies.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from adapters.sql.tables import UTCDateTime

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GENESIS = "0" * 64


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("disabled_at", UTCDateTime(), nullable=True))
    with op.batch_alter_table("audit_events") as batch:
        batch.add_column(sa.Column("prev_hash", sa.String(64), nullable=False, server_default=""))
        batch.add_column(sa.Column("hash", sa.String(64), nullable=False, server_default=""))
    op.create_index(
        "ix_audit_events_workspace_id_action_seq", "audit_events", ["workspace_id", "action", "seq"]
    )
    op.create_index(
        "ix_audit_events_workspace_id_actor_id_seq",
        "audit_events",
        ["workspace_id", "actor_id", "seq"],
    )
    op.create_table(
        "audit_chain_heads",
        sa.Column("chain_key", sa.String(36), nullable=False),
        sa.Column("last_seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("last_hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("chain_key", name="pk_audit_chain_heads"),
    )
    _chain_existing_events()
    with op.batch_alter_table("audit_events") as batch:
        batch.alter_column(
            "prev_hash", server_default=None, existing_type=sa.String(64), existing_nullable=False
        )
        batch.alter_column(
            "hash", server_default=None, existing_type=sa.String(64), existing_nullable=False
        )
    op.create_table(
        "invites",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("workspace_id", sa.String(36), nullable=False),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("inviter_id", sa.String(36), nullable=True),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("responded_at", UTCDateTime(), nullable=True),
        sa.CheckConstraint("role IN ('owner', 'admin', 'member')", name="ck_invites_role"),
        sa.CheckConstraint(
            "status IN ('pending', 'accepted', 'declined', 'revoked', 'expired', 'replaced')",
            name="ck_invites_status",
        ),
        sa.ForeignKeyConstraint(
            ["inviter_id"], ["users.id"], name="fk_invites_inviter_id_users", ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name="fk_invites_workspace_id_workspaces",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_invites"),
        sa.UniqueConstraint("token_hash", name="uq_invites_token_hash"),
    )
    op.create_index(
        "uq_invites_pending_email",
        "invites",
        ["workspace_id", "email"],
        unique=True,
        sqlite_where=sa.text("status = 'pending'"),
        postgresql_where=sa.text("status = 'pending'"),
    )


def _chain_existing_events() -> None:
    """Hash the rows that predate the chain, in order; the same rules as saascore.audit."""
    from saascore.audit import chain_hash  # noqa: PLC0415 - the one definition of the hash
    from saascore.models import AuditEvent  # noqa: PLC0415

    bind = op.get_bind()
    events = sa.table(
        "audit_events",
        sa.column("seq"),
        sa.column("id"),
        sa.column("workspace_id"),
        sa.column("actor_id"),
        sa.column("action"),
        sa.column("target"),
        sa.column("data", sa.JSON),
        sa.column("ip"),
        sa.column("user_agent"),
        sa.column("request_id"),
        sa.column("created_at", UTCDateTime()),
        sa.column("prev_hash"),
        sa.column("hash"),
    )
    heads: dict[str, tuple[int, str]] = {}
    for row in bind.execute(sa.select(events).order_by(events.c.seq)):
        data = row.data if isinstance(row.data, dict) else json.loads(row.data or "{}")
        event = AuditEvent(
            id=row.id,
            workspace_id=row.workspace_id,
            actor_id=row.actor_id,
            action=row.action,
            target=row.target,
            data=data,
            ip=row.ip,
            user_agent=row.user_agent,
            request_id=row.request_id,
            created_at=row.created_at,
        )
        key = row.workspace_id or ""
        prev = heads.get(key, (0, GENESIS))[1]
        digest = chain_hash(prev, event)
        bind.execute(
            sa.update(events).where(events.c.seq == row.seq).values(prev_hash=prev, hash=digest)
        )
        heads[key] = (row.seq, digest)
    heads_table = sa.table(
        "audit_chain_heads", sa.column("chain_key"), sa.column("last_seq"), sa.column("last_hash")
    )
    for key, (seq, digest) in heads.items():
        bind.execute(sa.insert(heads_table).values(chain_key=key, last_seq=seq, last_hash=digest))


def downgrade() -> None:
    op.drop_index("uq_invites_pending_email", table_name="invites")
    op.drop_table("invites")
    op.drop_table("audit_chain_heads")
    op.drop_index("ix_audit_events_workspace_id_actor_id_seq", table_name="audit_events")
    op.drop_index("ix_audit_events_workspace_id_action_seq", table_name="audit_events")
    with op.batch_alter_table("audit_events") as batch:
        batch.drop_column("hash")
        batch.drop_column("prev_hash")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("disabled_at")
