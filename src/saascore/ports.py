"""The ports: what saascore needs from the world, as small async protocols.

Adapters implement them with one technology each (``adapters.sql``, ``adapters.memory``, ...).
Every method takes and returns saascore types only.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from types import TracebackType
from typing import Protocol, Self, runtime_checkable

from saascore.models import (
    AuditEvent,
    AuditQuery,
    BillingEvent,
    ChainHead,
    EmailMessage,
    Invite,
    InviteStatus,
    LedgerEntry,
    LoginLink,
    Membership,
    MemberView,
    OutboxMessage,
    OutboxStats,
    RateDecision,
    RateLimit,
    Role,
    Session,
    Subscription,
    SubscriptionSnapshot,
    User,
    Workspace,
    WorkspaceSummary,
)


class Clock(Protocol):
    """Tells the time."""

    def now(self) -> datetime:
        """Return the current time, timezone-aware, in UTC."""


class Ids(Protocol):
    """Makes identifiers."""

    def new(self) -> str:
        """Return a new identifier, unique for this installation."""


class EmailSender(Protocol):
    """Delivers email."""

    async def send(self, message: EmailMessage) -> None:
        """Deliver ``message`` or raise ``DeliveryFailed`` (refused, unreachable, timed out).

        Raising means the message was not accepted and may be retried; returning means the
        server accepted it.
        """


class Sealer(Protocol):
    """Keeps secrets that must be stored (an email with a sign-in link, the invite a link
    leads back to) unreadable and unforgeable at rest, with a key that is not in the
    database: a copy of the database or of a backup reveals nothing it can replay."""

    async def seal(self, plain: str) -> str:
        """``plain``, encrypted and authenticated, as text."""

    async def open(self, sealed: str) -> str:
        """What ``seal`` sealed; text that was never sealed is returned as it is (rows from
        before sealing). Raises ``TokenInvalid`` for text sealed with another key or
        altered since."""


class RateLimiter(Protocol):
    """Counts hits per key and policy over a moving window."""

    async def hit(self, limit: RateLimit, key: str) -> RateDecision:
        """Count one hit for ``key`` under ``limit`` and say whether it is admitted.

        A refused hit is not counted. Never admits more than ``limit.limit`` hits for one key
        in any window of ``limit.window_seconds``. Raises ``ExternalServiceError`` when the
        counter storage cannot be reached.
        """


class UserRepository(Protocol):
    """Users, looked up by id or by normalised email."""

    async def add(self, user: User) -> None:
        """Store a new user. Raises ``Conflict`` when the email is taken."""

    async def get(self, user_id: str) -> User | None:
        """Return the user, or ``None``."""

    async def get_by_email(self, email: str) -> User | None:
        """Return the user with this normalised email, or ``None``."""

    async def update(self, user: User) -> None:
        """Store the user's changed fields. Raises ``Conflict`` when the email is taken."""

    async def list(self, *, limit: int = 100, offset: int = 0) -> Sequence[User]:
        """Return users ordered by email."""


class WorkspaceRepository(Protocol):
    """Workspaces, looked up by id or slug."""

    async def add(self, workspace: Workspace) -> None:
        """Store a new workspace. Raises ``Conflict`` when the slug is taken."""

    async def get(self, workspace_id: str) -> Workspace | None:
        """Return the workspace, or ``None``."""

    async def get_by_slug(self, slug: str) -> Workspace | None:
        """Return the workspace with this slug, or ``None``."""

    async def slugs_like(self, base: str) -> set[str]:
        """Return the taken slugs that are ``base`` or start with ``base-``."""

    async def update(self, workspace: Workspace) -> None:
        """Store the workspace's changed fields."""

    async def lock(self, workspace_id: str) -> None:
        """Hold the workspace's lock until the transaction ends, so membership changes of one
        workspace take turns and rules that count (its last owner) see every committed
        change. A missing workspace locks nothing."""

    async def delete(self, workspace_id: str) -> None:
        """Delete the workspace and its memberships (audit events stay)."""

    async def list_for_user(self, user_id: str) -> Sequence[WorkspaceSummary]:
        """Return the user's workspaces with their role, ordered by name."""

    async def list(self, *, limit: int = 100, offset: int = 0) -> Sequence[Workspace]:
        """Return all workspaces ordered by name (operators only)."""


class MembershipRepository(Protocol):
    """Who belongs to which workspace, with which role."""

    async def add(self, membership: Membership) -> None:
        """Store a new membership. Raises ``Conflict`` when the user is already a member."""

    async def get(self, workspace_id: str, user_id: str) -> Membership | None:
        """Return the membership, or ``None``."""

    async def set_role(self, workspace_id: str, user_id: str, role: Role) -> None:
        """Change a member's role."""

    async def remove(self, workspace_id: str, user_id: str) -> None:
        """Delete a membership."""

    async def count_owners(self, workspace_id: str) -> int:
        """Return how many owners the workspace has."""

    async def list_members(self, workspace_id: str) -> Sequence[MemberView]:
        """Return the workspace's members with their users, ordered by email."""


class AuditLog(Protocol):
    """The append-only, hash-chained audit trail: one chain per workspace, and one for events
    outside any workspace (sign-in, users)."""

    async def append(self, event: AuditEvent) -> AuditEvent:
        """Record ``event`` in the current transaction, chained after the newest event of its
        chain; return it with ``seq``, ``prev_hash`` and ``hash`` filled in. Appends to one
        chain are serialised, so the chain never forks."""

    async def list(
        self, *, workspace_id: str | None = None, limit: int = 100
    ) -> Sequence[AuditEvent]:
        """Return the newest events first, optionally for one workspace."""

    async def query(self, query: AuditQuery) -> Sequence[AuditEvent]:
        """Return one page of a chain's events, newest first, filtered and keyset-paged."""

    async def chain(
        self, workspace_id: str | None, *, after_seq: int = 0, limit: int = 1000
    ) -> Sequence[AuditEvent]:
        """Return a chain's events oldest first, starting after ``after_seq``."""

    async def head(self, workspace_id: str | None) -> ChainHead | None:
        """Return where a chain ends, as recorded when its newest event was appended."""

    async def chains(self) -> Sequence[str | None]:
        """Return every chain that has events or a recorded head (``None`` is the chain
        outside workspaces), judged from the events themselves so a removed head cannot
        hide a chain from verification."""


class InviteRepository(Protocol):
    """Invitations, found by id or by the hash of their token."""

    async def add(self, invite: Invite) -> None:
        """Store a new invite. Raises ``Conflict`` if that email already has a pending
        invite to that workspace."""

    async def get(self, invite_id: str) -> Invite | None:
        """Return the invite, or ``None``."""

    async def get_by_hash(self, token_hash: str) -> Invite | None:
        """Return the invite whose token hashes to ``token_hash``, or ``None``."""

    async def pending_for(self, workspace_id: str, email: str) -> Invite | None:
        """Return the pending invite of ``email`` to the workspace, expired or not."""

    async def list_pending(self, workspace_id: str) -> Sequence[Invite]:
        """Return the workspace's pending invites (expired ones too), newest first."""

    async def respond(self, invite_id: str, status: InviteStatus, at: datetime) -> bool:
        """Move a pending invite to ``status`` if it is still pending, atomically.

        Returns ``True`` for exactly one of any number of concurrent callers.
        """


class LoginLinkRepository(Protocol):
    """Sign-in links, found by the hash of their token."""

    async def add(self, link: LoginLink) -> None:
        """Store a new link."""

    async def cancel_pending(self, email: str, at: datetime) -> int:
        """Cancel every unused, uncancelled link for ``email``; return how many."""

    async def get_by_hash(self, token_hash: str) -> LoginLink | None:
        """Return the link whose token hashes to ``token_hash``, or ``None``."""

    async def delete_created_before(self, cutoff: datetime) -> int:
        """Delete links made before ``cutoff`` (used, cancelled or expired by then)."""

    async def consume(self, link_id: str, at: datetime) -> bool:
        """Mark the link used if it is still unused and not cancelled, atomically.

        Returns ``True`` for exactly one of any number of concurrent callers.
        """


class SessionRepository(Protocol):
    """Server-side sessions, found by the hash of their token."""

    async def add(self, session: Session) -> None:
        """Store a new session."""

    async def get_by_hash(self, token_hash: str) -> Session | None:
        """Return the session whose token hashes to ``token_hash``, or ``None``."""

    async def touch(self, session_id: str, at: datetime) -> None:
        """Record activity on the session."""

    async def delete(self, session_id: str) -> None:
        """End one session."""

    async def delete_for_user(self, user_id: str) -> int:
        """End every session of a user; return how many."""

    async def list_for_user(self, user_id: str) -> Sequence[Session]:
        """Return the user's sessions, most recently used first."""

    async def delete_ended(self, now: datetime, idle_ttl: timedelta) -> int:
        """Delete sessions past their absolute end or idle for ``idle_ttl``."""


class Outbox(Protocol):
    """Emails waiting for delivery, written in the same transaction as their cause."""

    async def add(self, message: OutboxMessage) -> None:
        """Queue a message."""

    async def claim_due(
        self, now: datetime, *, limit: int, lease_until: datetime
    ) -> Sequence[OutboxMessage]:
        """Take up to ``limit`` pending messages due at ``now`` and not claimed by another
        dispatcher, oldest first.

        Each claimed message counts one more attempt and stays claimed until ``lease_until``
        or until its outcome is marked, so concurrent dispatchers never claim the same
        message (on Postgres with ``FOR UPDATE SKIP LOCKED``).
        """

    async def expedite(self, now: datetime) -> int:
        """Make every pending message waiting for a retry due at ``now``; return how many.

        Claimed messages stay claimed: expediting never causes a second send.
        """

    async def mark_sent(self, message_id: str, at: datetime) -> None:
        """Record a delivery and release the claim."""

    async def mark_failed(self, message_id: str, error: str, *, retry_at: datetime | None) -> None:
        """Record a failed attempt and release the claim: retry at ``retry_at``, or give up
        when it is ``None``."""

    async def get(self, message_id: str) -> OutboxMessage | None:
        """Return one message, or ``None``."""

    async def delete_sent_before(self, cutoff: datetime) -> int:
        """Delete delivered messages sent before ``cutoff`` (failed ones stay for operators)."""

    async def stats(self) -> OutboxStats:
        """Count messages by status."""

    async def list(self, *, limit: int = 50) -> Sequence[OutboxMessage]:
        """Return the newest messages first."""


class SubscriptionRepository(Protocol):
    """Each workspace's billing record (at most one per workspace)."""

    async def get(self, workspace_id: str) -> Subscription | None:
        """Return the workspace's record, or ``None`` (it has never started a checkout)."""

    async def get_by_customer(self, customer_id: str) -> Subscription | None: ...

    async def get_by_subscription(self, subscription_id: str) -> Subscription | None: ...

    async def save(self, subscription: Subscription) -> None:
        """Insert or replace the workspace's record."""

    async def list(self) -> Sequence[Subscription]:
        """Every record, by workspace id."""


class BillingLedger(Protocol):
    """Every provider event handled, recorded once by its id."""

    async def record(self, entry: LedgerEntry) -> bool:
        """Record ``entry``; ``False`` (and nothing written) when its id is already there."""

    async def get(self, event_id: str) -> LedgerEntry | None: ...

    async def list(self, *, limit: int = 50) -> Sequence[LedgerEntry]:
        """The newest entries first."""


class BillingGateway(Protocol):
    """The billing provider (Stripe). Every call may raise ``BillingUnavailable``."""

    async def create_customer(
        self, *, workspace_id: str, name: str, email: str, idempotency_key: str
    ) -> str:
        """Create a customer for the workspace and return its id."""

    async def start_checkout(
        self,
        *,
        customer_id: str,
        workspace_id: str,
        price_id: str,
        success_url: str,
        cancel_url: str,
        idempotency_key: str,
    ) -> str:
        """Start a subscription-mode checkout; return the URL to send the owner to."""

    async def open_portal(self, *, customer_id: str, return_url: str) -> str:
        """Return the URL of the customer's self-service portal."""

    async def fetch_subscription(self, subscription_id: str) -> SubscriptionSnapshot | None:
        """The subscription as the provider has it now, or ``None`` if it knows no such id."""

    async def list_events(
        self, *, since: datetime | None = None, limit: int = 100
    ) -> Sequence[BillingEvent]:
        """The provider's recent events, oldest first, created at or after ``since``."""

    async def get_event(self, event_id: str) -> BillingEvent | None: ...

    async def pause_collection(self, subscription_id: str) -> SubscriptionSnapshot | None:
        """Stop collecting payments; ``None`` if the provider knows no such subscription."""

    async def resume_collection(self, subscription_id: str) -> SubscriptionSnapshot | None: ...

    async def cancel(self, subscription_id: str) -> SubscriptionSnapshot | None:
        """Cancel now (an already canceled subscription stays canceled)."""

    def parse_webhook(self, payload: bytes, signature: str | None) -> BillingEvent:
        """Verify the signature over the exact bytes and parse the event; ``WebhookRejected``
        when the signature is missing, wrong or too old, or the body is not an event."""


@runtime_checkable  # web frameworks check dependency types with isinstance()
class UnitOfWork(Protocol):
    """One transaction over every repository; nothing is kept unless ``commit`` is awaited.

    Use as ``async with uow_factory() as uow: ...; await uow.commit()``. Leaving the block
    without committing rolls back. Raises ``DatabaseUnavailable`` when storage is down.

    A *read* unit of work (``read_only``) sees one consistent snapshot, never waits for a
    writer and is never waited for; it cannot write or commit.
    """

    @property
    def read_only(self) -> bool: ...

    @property
    def users(self) -> UserRepository: ...

    @property
    def workspaces(self) -> WorkspaceRepository: ...

    @property
    def memberships(self) -> MembershipRepository: ...

    @property
    def audit(self) -> AuditLog: ...

    @property
    def login_links(self) -> LoginLinkRepository: ...

    @property
    def sessions(self) -> SessionRepository: ...

    @property
    def outbox(self) -> Outbox: ...

    @property
    def invites(self) -> InviteRepository: ...

    @property
    def subscriptions(self) -> SubscriptionRepository: ...

    @property
    def billing_ledger(self) -> BillingLedger: ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    async def commit(self) -> None:
        """Make every change of this unit of work durable."""

    async def rollback(self) -> None:
        """Discard every change of this unit of work."""


# Makes a write unit of work (or, for a reader factory, a read one).
UnitOfWorkFactory = Callable[[], UnitOfWork]
