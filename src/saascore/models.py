"""The domain's nouns. Plain attrs classes: ids and time come in from ports.

Values, ids, events and audit records are ``@frozen``; entities are ``@define``.
Mapping to rows and JSON lives in the adapters and entrypoints, never here.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Any

from attrs import define, field, frozen


class Role(enum.StrEnum):
    """A member's role in a workspace; a higher rank can do everything a lower one can."""

    MEMBER = "member"
    ADMIN = "admin"
    OWNER = "owner"

    @property
    def rank(self) -> int:
        return _RANKS[self]

    def at_least(self, other: Role) -> bool:
        return self.rank >= other.rank


_RANKS = {Role.MEMBER: 0, Role.ADMIN: 1, Role.OWNER: 2}


@define
class User:
    id: str
    email: str
    name: str
    created_at: datetime
    last_login_at: datetime | None = None
    disabled_at: datetime | None = None


@define
class Workspace:
    id: str
    name: str
    slug: str
    created_at: datetime


@define
class Membership:
    workspace_id: str
    user_id: str
    role: Role
    created_at: datetime


@frozen
class WorkspaceSummary:
    """A workspace as one of its members sees it in a list."""

    workspace: Workspace
    role: Role


@frozen
class MemberView:
    """A membership joined with the member's user record."""

    membership: Membership
    user: User


@frozen
class Actor:
    """Who does something and from where; recorded on every audit event.

    ``user_id`` is ``None`` for the system itself (seed, migrations, operators' CLI runs).
    """

    user_id: str | None
    ip: str | None = None
    user_agent: str | None = None
    request_id: str | None = None

    @classmethod
    def system(cls, request_id: str | None = None) -> Actor:
        return cls(user_id=None, request_id=request_id)


def _freeze(data: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(data))


@frozen
class AuditEvent:
    """An append-only record of one change, written in the same transaction as the change."""

    id: str
    workspace_id: str | None
    actor_id: str | None
    action: str
    target: str | None
    data: Mapping[str, Any] = field(converter=_freeze, factory=dict)
    ip: str | None = None
    user_agent: str | None = None
    request_id: str | None = None
    created_at: datetime = field(kw_only=True)
    # Filled in by the audit log when the event is appended: its place in the workspace's
    # chain, the previous event's hash, and its own (see saascore.audit.chain_hash).
    seq: int | None = field(default=None, kw_only=True)
    prev_hash: str = field(default="", kw_only=True)
    hash: str = field(default="", kw_only=True)


@frozen
class EmailMessage:
    """One email to one recipient; the sender address is the email adapter's setting."""

    to: str
    subject: str
    text: str
    html: str | None = None


@frozen
class RateLimit:
    """A policy: at most ``limit`` hits per ``window_seconds`` for each key."""

    name: str
    limit: int
    window_seconds: int


@frozen
class RateDecision:
    """The outcome of one hit: allowed or not, what is left, and when the window frees up."""

    allowed: bool
    limit: int
    remaining: int
    reset_after: int  # whole seconds until a hit would be admitted again (0 when allowed)


@define
class LoginLink:
    """A one-time sign-in link; only the hash of its token is kept."""

    id: str
    email: str
    token_hash: str
    next_path: str | None
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None = None
    cancelled_at: datetime | None = None


@define
class Session:
    """A signed-in browser or client. ``id`` is public (for listing and revoking); the
    secret is the token, of which only the hash is kept."""

    id: str
    user_id: str
    token_hash: str
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime  # absolute end, whatever the activity
    ip: str | None = None
    user_agent: str | None = None


class OutboxStatus(enum.StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"  # gave up after the last attempt


@define
class OutboxMessage:
    """An email waiting to be delivered, written in the transaction that caused it."""

    id: str
    message: EmailMessage
    created_at: datetime
    next_attempt_at: datetime
    status: OutboxStatus = OutboxStatus.PENDING
    attempts: int = 0
    last_error: str | None = None
    sent_at: datetime | None = None
    request_id: str | None = None
    claimed_until: datetime | None = None  # a dispatcher is sending it until then


@frozen
class OutboxStats:
    pending: int
    sent: int
    failed: int
    oldest_pending_at: datetime | None


class InviteStatus(enum.StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    REVOKED = "revoked"
    EXPIRED = "expired"
    REPLACED = "replaced"  # resent: a newer invite with a new token took its place


@define
class Invite:
    """An invitation to join a workspace; only the hash of its token is kept."""

    id: str
    workspace_id: str
    email: str
    role: Role
    inviter_id: str | None
    token_hash: str
    created_at: datetime
    expires_at: datetime
    status: InviteStatus = InviteStatus.PENDING
    responded_at: datetime | None = None

    def state_at(self, now: datetime) -> InviteStatus:
        """The status, counting a pending invite past its expiry as expired."""
        if self.status is InviteStatus.PENDING and now >= self.expires_at:
            return InviteStatus.EXPIRED
        return self.status


@frozen
class InviteView:
    """An invite with what a person needs to decide: the workspace and who invited them."""

    invite: Invite
    workspace: Workspace
    inviter: User | None


@frozen
class AuditQuery:
    """Filters for reading a workspace's audit trail, newest first, a page at a time.

    ``before_seq`` is the keyset cursor: the ``seq`` of the last event of the previous page.
    """

    workspace_id: str | None
    action: str | None = None
    actor_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    before_seq: int | None = None
    limit: int = 50


@frozen
class ChainHead:
    """The newest event of one audit chain (a workspace's, or the global one)."""

    last_seq: int
    last_hash: str


class SubscriptionStatus(enum.StrEnum):
    """A subscription's status exactly as the billing provider (Stripe) names it."""

    TRIALING = "trialing"
    ACTIVE = "active"
    PAST_DUE = "past_due"
    INCOMPLETE = "incomplete"
    INCOMPLETE_EXPIRED = "incomplete_expired"
    UNPAID = "unpaid"
    CANCELED = "canceled"
    PAUSED = "paused"

    @property
    def is_final(self) -> bool:
        """A subscription in a final status never comes back; a new one would get a new id."""
        return self in (SubscriptionStatus.CANCELED, SubscriptionStatus.INCOMPLETE_EXPIRED)

    @property
    def is_live(self) -> bool:
        """Still a subscription the customer manages (in the portal), not a finished one."""
        return not self.is_final


@frozen
class Plan:
    """What a workspace may use. ``price_id`` is None for the free plan; ``seat_limit`` None
    means no limit."""

    name: str
    price_id: str | None
    seat_limit: int | None

    @property
    def is_free(self) -> bool:
        return self.price_id is None


@frozen
class SubscriptionSnapshot:
    """A subscription as the billing provider reports it, at ``as_of``."""

    subscription_id: str
    customer_id: str
    status: SubscriptionStatus
    price_id: str | None
    current_period_end: datetime | None
    cancel_at_period_end: bool
    collection_paused: bool = False
    workspace_id: str | None = None  # from the subscription's metadata, when present


@define
class Subscription:
    """A workspace's billing record: its customer and, once it has paid, its subscription.

    ``event_at`` is the creation time of the newest provider event applied; an older event
    never rolls the record back. ``past_due_since`` starts the grace period.
    """

    workspace_id: str
    customer_id: str
    subscription_id: str | None = None
    status: SubscriptionStatus | None = None
    price_id: str | None = None
    current_period_end: datetime | None = None
    cancel_at_period_end: bool = False
    collection_paused: bool = False
    event_at: datetime | None = None
    past_due_since: datetime | None = None
    updated_at: datetime | None = None

    @property
    def is_live(self) -> bool:
        return self.subscription_id is not None and (
            self.status is not None and self.status.is_live
        )


@frozen
class BillingEvent:
    """One provider event, parsed. ``subscription`` is the event's own copy of the
    subscription when it carries one; ``workspace_id`` comes from the checkout's client
    reference or the subscription's metadata."""

    id: str
    type: str
    created_at: datetime
    customer_id: str | None = None
    subscription_id: str | None = None
    workspace_id: str | None = None
    subscription: SubscriptionSnapshot | None = None
    payload: Mapping[str, Any] = field(factory=lambda: MappingProxyType({}))


class LedgerOutcome(enum.StrEnum):
    APPLIED = "applied"
    STALE = "stale"  # older than what was already applied: recorded, changed nothing
    IGNORED = "ignored"  # a type saascore does not use, or for no known workspace


@frozen
class LedgerEntry:
    """A provider event saascore has handled: each event id is recorded once."""

    event_id: str
    type: str
    created_at: datetime
    received_at: datetime
    outcome: LedgerOutcome
    workspace_id: str | None = None
    subscription_id: str | None = None


@frozen
class CheckoutStart:
    """Where to send the owner: the provider's checkout, or its portal when the workspace
    already has a live subscription."""

    url: str
    kind: str  # "checkout" or "portal"


@frozen
class BillingView:
    """A workspace's billing at a glance."""

    workspace_id: str
    plan: Plan
    status: SubscriptionStatus | None
    entitled: bool
    seats_used: int
    seat_limit: int | None
    current_period_end: datetime | None
    cancel_at_period_end: bool
    collection_paused: bool
    grace_ends_at: datetime | None
    customer_id: str | None
    subscription_id: str | None
