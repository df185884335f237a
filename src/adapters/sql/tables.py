"""The schema, as SQLAlchemy Core tables. Alembic migrations are the source of truth in
production; these definitions must match them (a test compares the two)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    TypeDecorator,
    text,
)

# Deterministic constraint names: Alembic's SQLite batch mode needs them, and the unit of
# work turns an IntegrityError on a named constraint into the matching domain Conflict.
metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend (SQLite keeps no zone of its own)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored: pass a timezone-aware one")
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)  # type: ignore[no-any-return]
        return value.astimezone(UTC)  # type: ignore[no-any-return]


ID = String(36)
ROLES = ("owner", "admin", "member")

users = Table(
    "users",
    metadata,
    Column("id", ID, primary_key=True),
    Column("email", String(254), nullable=False, unique=True),
    Column("name", String(100), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("last_login_at", UTCDateTime(), nullable=True),
    Column("disabled_at", UTCDateTime(), nullable=True),
)

workspaces = Table(
    "workspaces",
    metadata,
    Column("id", ID, primary_key=True),
    Column("name", String(100), nullable=False),
    Column("slug", String(48), nullable=False, unique=True),
    Column("created_at", UTCDateTime(), nullable=False),
)

memberships = Table(
    "memberships",
    metadata,
    Column("workspace_id", ID, ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False),
    Column("user_id", ID, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("role", String(16), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    PrimaryKeyConstraint("workspace_id", "user_id"),
    CheckConstraint("role IN ('owner', 'admin', 'member')", name="role"),
    Index(None, "user_id"),
)

# Audit rows outlive what they describe: no foreign keys, so deleting a workspace or a
# user keeps its history. ``seq`` orders rows for keyset pagination.
audit_events = Table(
    "audit_events",
    metadata,
    Column(
        "seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("id", ID, nullable=False, unique=True),
    Column("workspace_id", ID, nullable=True),
    Column("actor_id", ID, nullable=True),
    Column("action", String(64), nullable=False),
    Column("target", String(64), nullable=True),
    Column("data", JSON, nullable=False),
    Column("ip", String(64), nullable=True),
    Column("user_agent", String(512), nullable=True),
    Column("request_id", String(64), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    Index(None, "workspace_id", "seq"),
    Index(None, "workspace_id", "action", "seq"),
    Index(None, "workspace_id", "actor_id", "seq"),
)

# Where each audit chain ends; appends lock the row, so a chain never forks. The chain of
# events outside any workspace has the key "".
audit_chain_heads = Table(
    "audit_chain_heads",
    metadata,
    Column("chain_key", String(36), primary_key=True),
    Column("last_seq", BigInteger().with_variant(Integer, "sqlite"), nullable=False),
    Column("last_hash", String(64), nullable=False),
)

login_links = Table(
    "login_links",
    metadata,
    Column("id", ID, primary_key=True),
    Column("email", String(254), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("next_path", String(512), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    Column("used_at", UTCDateTime(), nullable=True),
    Column("cancelled_at", UTCDateTime(), nullable=True),
    Index(None, "email"),
)

sessions = Table(
    "sessions",
    metadata,
    Column("id", ID, primary_key=True),
    Column("user_id", ID, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("last_seen_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    Column("ip", String(64), nullable=True),
    Column("user_agent", String(512), nullable=True),
    Index(None, "user_id"),
)

OUTBOX_STATUSES = ("pending", "sent", "failed")

outbox = Table(
    "outbox",
    metadata,
    Column("id", ID, primary_key=True),
    Column("recipient", String(254), nullable=False),
    Column("subject", String(255), nullable=False),
    Column("text_body", Text(), nullable=False),
    Column("html_body", Text(), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("next_attempt_at", UTCDateTime(), nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer(), nullable=False),
    Column("last_error", String(500), nullable=True),
    Column("sent_at", UTCDateTime(), nullable=True),
    Column("request_id", String(64), nullable=True),
    Column("claimed_until", UTCDateTime(), nullable=True),
    CheckConstraint("status IN ('pending', 'sent', 'failed')", name="status"),
    Index(None, "status", "next_attempt_at"),
)

INVITE_STATUSES = ("pending", "accepted", "declined", "revoked", "expired", "replaced")

invites = Table(
    "invites",
    metadata,
    Column("id", ID, primary_key=True),
    Column("workspace_id", ID, ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False),
    Column("email", String(254), nullable=False),
    Column("role", String(16), nullable=False),
    Column("inviter_id", ID, ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    Column("status", String(16), nullable=False),
    Column("responded_at", UTCDateTime(), nullable=True),
    CheckConstraint("role IN ('owner', 'admin', 'member')", name="role"),
    CheckConstraint(
        "status IN ('pending', 'accepted', 'declined', 'revoked', 'expired', 'replaced')",
        name="status",
    ),
    # One pending invite per address and workspace, enforced by the database.
    Index(
        "uq_invites_pending_email",
        "workspace_id",
        "email",
        unique=True,
        sqlite_where=text("status = 'pending'"),
        postgresql_where=text("status = 'pending'"),
    ),
)

SUBSCRIPTION_STATUSES = (
    "trialing",
    "active",
    "past_due",
    "incomplete",
    "incomplete_expired",
    "unpaid",
    "canceled",
    "paused",
)

# One billing record per workspace: its provider customer and, once paid, its subscription.
subscriptions = Table(
    "subscriptions",
    metadata,
    Column(
        "workspace_id",
        ID,
        ForeignKey("workspaces.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("customer_id", String(255), nullable=False, unique=True),
    Column("subscription_id", String(255), nullable=True, unique=True),
    Column("status", String(32), nullable=True),
    Column("price_id", String(255), nullable=True),
    Column("current_period_end", UTCDateTime(), nullable=True),
    Column("cancel_at_period_end", Boolean(), nullable=False),
    Column("collection_paused", Boolean(), nullable=False),
    Column("event_at", UTCDateTime(), nullable=True),
    Column("past_due_since", UTCDateTime(), nullable=True),
    Column("updated_at", UTCDateTime(), nullable=True),
    CheckConstraint(
        "status IS NULL OR status IN ('trialing', 'active', 'past_due', 'incomplete', "
        "'incomplete_expired', 'unpaid', 'canceled', 'paused')",
        name="status",
    ),
)

# Every provider event handled, once: the primary key turns a duplicate into a no-op.
# No foreign key to workspaces: the ledger outlives a deleted workspace.
billing_events = Table(
    "billing_events",
    metadata,
    Column("event_id", String(255), primary_key=True),
    Column("type", String(100), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("received_at", UTCDateTime(), nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("workspace_id", ID, nullable=True),
    Column("subscription_id", String(255), nullable=True),
    CheckConstraint("outcome IN ('applied', 'stale', 'ignored')", name="outcome"),
    Index(None, "received_at"),
)
