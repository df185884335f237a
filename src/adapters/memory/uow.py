"""An in-memory unit of work with the same semantics as the SQL one.

Transactions are serialised by a lock and work on a copy of the data, so a unit of work
that is not committed leaves no trace — exactly like a rolled-back SQL transaction.
Objects handed out are copies: changing one does nothing until the repository's
``update`` is called, as with rows.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from types import TracebackType
from typing import Self

from attrs import define, evolve, field

from saascore.audit import GENESIS, chain_hash
from saascore.errors import Conflict
from saascore.models import (
    AuditEvent,
    AuditQuery,
    ChainHead,
    Invite,
    InviteStatus,
    LedgerEntry,
    LoginLink,
    Membership,
    MemberView,
    OutboxMessage,
    OutboxStats,
    OutboxStatus,
    Role,
    Session,
    Subscription,
    User,
    Workspace,
    WorkspaceSummary,
)


@define
class _State:
    users: dict[str, User] = field(factory=dict)
    workspaces: dict[str, Workspace] = field(factory=dict)
    memberships: dict[tuple[str, str], Membership] = field(factory=dict)
    audit: list[AuditEvent] = field(factory=list)
    login_links: dict[str, LoginLink] = field(factory=dict)
    sessions: dict[str, Session] = field(factory=dict)
    outbox: dict[str, OutboxMessage] = field(factory=dict)
    invites: dict[str, Invite] = field(factory=dict)
    subscriptions: dict[str, Subscription] = field(factory=dict)
    ledger: dict[str, LedgerEntry] = field(factory=dict)
    heads: dict[str | None, ChainHead] = field(factory=dict)

    def copy(self) -> _State:
        """A copy whose changes do not touch this state (audit events are immutable)."""
        return _State(
            users={k: evolve(v) for k, v in self.users.items()},
            workspaces={k: evolve(v) for k, v in self.workspaces.items()},
            memberships={k: evolve(v) for k, v in self.memberships.items()},
            audit=list(self.audit),
            login_links={k: evolve(v) for k, v in self.login_links.items()},
            sessions={k: evolve(v) for k, v in self.sessions.items()},
            outbox={k: evolve(v) for k, v in self.outbox.items()},
            invites={k: evolve(v) for k, v in self.invites.items()},
            subscriptions={k: evolve(v) for k, v in self.subscriptions.items()},
            ledger=dict(self.ledger),
            heads=dict(self.heads),
        )


class _AnyLoopLock:
    """A lock usable from any event loop and thread (test clients run the app's lifespan
    in a loop of their own); waiting polls, which is fine for an in-memory fake."""

    def __init__(self) -> None:
        self._lock = threading.Lock()

    async def acquire(self) -> None:
        while not self._lock.acquire(blocking=False):  # noqa: ASYNC110 - no Event spans loops
            await asyncio.sleep(0.0005)

    def release(self) -> None:
        self._lock.release()


@define
class InMemoryDatabase:
    """The shared storage behind every ``InMemoryUnitOfWork`` made from it."""

    state: _State = field(factory=_State)
    lock: _AnyLoopLock = field(factory=_AnyLoopLock)

    def unit_of_work(self) -> InMemoryUnitOfWork:
        return InMemoryUnitOfWork(self)

    def read_unit_of_work(self) -> InMemoryUnitOfWork:
        return InMemoryUnitOfWork(self, read_only=True)


class InMemoryUserRepository:
    def __init__(self, state: _State) -> None:
        self._s = state

    async def add(self, user: User) -> None:
        if any(u.email == user.email for u in self._s.users.values()):
            raise Conflict("a user with that email already exists")
        self._s.users[user.id] = evolve(user)

    async def get(self, user_id: str) -> User | None:
        user = self._s.users.get(user_id)
        return evolve(user) if user else None

    async def get_by_email(self, email: str) -> User | None:
        found = next((u for u in self._s.users.values() if u.email == email), None)
        return evolve(found) if found else None

    async def update(self, user: User) -> None:
        if any(u.email == user.email and u.id != user.id for u in self._s.users.values()):
            raise Conflict("a user with that email already exists")
        if user.id in self._s.users:
            self._s.users[user.id] = evolve(user)

    async def list(self, *, limit: int = 100, offset: int = 0) -> Sequence[User]:
        users = sorted(self._s.users.values(), key=lambda u: u.email)
        return [evolve(u) for u in users[offset : offset + limit]]


class InMemoryWorkspaceRepository:
    def __init__(self, state: _State) -> None:
        self._s = state

    async def add(self, workspace: Workspace) -> None:
        if any(w.slug == workspace.slug for w in self._s.workspaces.values()):
            raise Conflict("a workspace with that slug already exists")
        self._s.workspaces[workspace.id] = evolve(workspace)

    async def get(self, workspace_id: str) -> Workspace | None:
        workspace = self._s.workspaces.get(workspace_id)
        return evolve(workspace) if workspace else None

    async def get_by_slug(self, slug: str) -> Workspace | None:
        found = next((w for w in self._s.workspaces.values() if w.slug == slug), None)
        return evolve(found) if found else None

    async def slugs_like(self, base: str) -> set[str]:
        return {
            w.slug
            for w in self._s.workspaces.values()
            if w.slug == base or w.slug.startswith(f"{base}-")
        }

    async def update(self, workspace: Workspace) -> None:
        if workspace.id in self._s.workspaces:
            self._s.workspaces[workspace.id] = evolve(workspace)

    async def lock(self, workspace_id: str) -> None:
        """Nothing to do: in-memory units of work already run one at a time."""

    async def delete(self, workspace_id: str) -> None:
        self._s.workspaces.pop(workspace_id, None)
        for invite_id in [k for k, i in self._s.invites.items() if i.workspace_id == workspace_id]:
            del self._s.invites[invite_id]
        for key in [k for k in self._s.memberships if k[0] == workspace_id]:
            del self._s.memberships[key]
        self._s.subscriptions.pop(workspace_id, None)

    async def list_for_user(self, user_id: str) -> Sequence[WorkspaceSummary]:
        summaries = [
            WorkspaceSummary(evolve(self._s.workspaces[ws_id]), m.role)
            for (ws_id, uid), m in self._s.memberships.items()
            if uid == user_id
        ]
        return sorted(summaries, key=lambda s: (s.workspace.name, s.workspace.id))

    async def list(self, *, limit: int = 100, offset: int = 0) -> Sequence[Workspace]:
        workspaces = sorted(self._s.workspaces.values(), key=lambda w: (w.name, w.id))
        return [evolve(w) for w in workspaces[offset : offset + limit]]


class InMemoryMembershipRepository:
    def __init__(self, state: _State) -> None:
        self._s = state

    async def add(self, membership: Membership) -> None:
        key = (membership.workspace_id, membership.user_id)
        if key in self._s.memberships:
            raise Conflict("already a member of this workspace")
        if membership.workspace_id not in self._s.workspaces:
            raise Conflict("no such workspace")
        if membership.user_id not in self._s.users:
            raise Conflict("no such user")
        self._s.memberships[key] = evolve(membership)

    async def get(self, workspace_id: str, user_id: str) -> Membership | None:
        membership = self._s.memberships.get((workspace_id, user_id))
        return evolve(membership) if membership else None

    async def set_role(self, workspace_id: str, user_id: str, role: Role) -> None:
        membership = self._s.memberships.get((workspace_id, user_id))
        if membership is not None:
            membership.role = role

    async def remove(self, workspace_id: str, user_id: str) -> None:
        self._s.memberships.pop((workspace_id, user_id), None)

    async def count_owners(self, workspace_id: str) -> int:
        return sum(
            1
            for (ws_id, _), m in self._s.memberships.items()
            if ws_id == workspace_id and m.role is Role.OWNER
        )

    async def list_members(self, workspace_id: str) -> Sequence[MemberView]:
        views = [
            MemberView(evolve(m), evolve(self._s.users[uid]))
            for (ws_id, uid), m in self._s.memberships.items()
            if ws_id == workspace_id
        ]
        return sorted(views, key=lambda v: v.user.email)


class InMemoryAuditLog:
    def __init__(self, state: _State) -> None:
        self._s = state

    async def append(self, event: AuditEvent) -> AuditEvent:
        head = self._s.heads.get(event.workspace_id)
        prev = head.last_hash if head else GENESIS
        seq = len(self._s.audit) + 1
        chained = evolve(event, seq=seq, prev_hash=prev, hash=chain_hash(prev, event))
        self._s.audit.append(chained)
        self._s.heads[event.workspace_id] = ChainHead(seq, chained.hash)
        return chained

    async def list(
        self, *, workspace_id: str | None = None, limit: int = 100
    ) -> Sequence[AuditEvent]:
        events = [
            e for e in self._s.audit if workspace_id is None or e.workspace_id == workspace_id
        ]
        return list(reversed(events))[:limit]

    async def query(self, query: AuditQuery) -> Sequence[AuditEvent]:
        found = [
            e
            for e in reversed(self._s.audit)
            if e.workspace_id == query.workspace_id
            and (query.action is None or e.action == query.action)
            and (query.actor_id is None or e.actor_id == query.actor_id)
            and (query.since is None or e.created_at >= query.since)
            and (query.until is None or e.created_at < query.until)
            and (query.before_seq is None or (e.seq or 0) < query.before_seq)
        ]
        return found[: query.limit]

    async def chain(
        self, workspace_id: str | None, *, after_seq: int = 0, limit: int = 1000
    ) -> Sequence[AuditEvent]:
        found = [
            e for e in self._s.audit if e.workspace_id == workspace_id and (e.seq or 0) > after_seq
        ]
        return found[:limit]

    async def head(self, workspace_id: str | None) -> ChainHead | None:
        return self._s.heads.get(workspace_id)

    async def chains(self) -> Sequence[str | None]:
        found = set(self._s.heads) | {e.workspace_id for e in self._s.audit}
        return sorted(found, key=lambda key: key or "")


class InMemoryInviteRepository:
    def __init__(self, state: _State) -> None:
        self._s = state

    async def add(self, invite: Invite) -> None:
        if invite.status is InviteStatus.PENDING and await self.pending_for(
            invite.workspace_id, invite.email
        ):
            raise Conflict("that address already has a pending invite to this workspace")
        self._s.invites[invite.id] = evolve(invite)

    async def get(self, invite_id: str) -> Invite | None:
        found = self._s.invites.get(invite_id)
        return evolve(found) if found else None

    async def get_by_hash(self, token_hash: str) -> Invite | None:
        found = next((i for i in self._s.invites.values() if i.token_hash == token_hash), None)
        return evolve(found) if found else None

    async def pending_for(self, workspace_id: str, email: str) -> Invite | None:
        found = next(
            (
                i
                for i in self._s.invites.values()
                if i.workspace_id == workspace_id
                and i.email == email
                and i.status is InviteStatus.PENDING
            ),
            None,
        )
        return evolve(found) if found else None

    async def list_pending(self, workspace_id: str) -> Sequence[Invite]:
        found = [
            evolve(i)
            for i in self._s.invites.values()
            if i.workspace_id == workspace_id and i.status is InviteStatus.PENDING
        ]
        return sorted(found, key=lambda i: (i.created_at, i.id), reverse=True)

    async def respond(self, invite_id: str, status: InviteStatus, at: datetime) -> bool:
        invite = self._s.invites.get(invite_id)
        if invite is None or invite.status is not InviteStatus.PENDING:
            return False
        invite.status, invite.responded_at = status, at
        return True


class InMemoryLoginLinkRepository:
    def __init__(self, state: _State) -> None:
        self._s = state

    async def add(self, link: LoginLink) -> None:
        self._s.login_links[link.id] = evolve(link)

    async def cancel_pending(self, email: str, at: datetime) -> int:
        pending = [
            link
            for link in self._s.login_links.values()
            if link.email == email and link.used_at is None and link.cancelled_at is None
        ]
        for link in pending:
            link.cancelled_at = at
        return len(pending)

    async def get_by_hash(self, token_hash: str) -> LoginLink | None:
        found = next((k for k in self._s.login_links.values() if k.token_hash == token_hash), None)
        return evolve(found) if found else None

    async def delete_created_before(self, cutoff: datetime) -> int:
        old = [k for k, link in self._s.login_links.items() if link.created_at < cutoff]
        for key in old:
            del self._s.login_links[key]
        return len(old)

    async def consume(self, link_id: str, at: datetime) -> bool:
        link = self._s.login_links.get(link_id)
        if link is None or link.used_at is not None or link.cancelled_at is not None:
            return False
        link.used_at = at
        return True


class InMemorySessionRepository:
    def __init__(self, state: _State) -> None:
        self._s = state

    async def add(self, session: Session) -> None:
        self._s.sessions[session.id] = evolve(session)

    async def get_by_hash(self, token_hash: str) -> Session | None:
        found = next((s for s in self._s.sessions.values() if s.token_hash == token_hash), None)
        return evolve(found) if found else None

    async def touch(self, session_id: str, at: datetime) -> None:
        if session_id in self._s.sessions:
            self._s.sessions[session_id].last_seen_at = at

    async def delete(self, session_id: str) -> None:
        self._s.sessions.pop(session_id, None)

    async def delete_for_user(self, user_id: str) -> int:
        ended = [k for k, s in self._s.sessions.items() if s.user_id == user_id]
        for key in ended:
            del self._s.sessions[key]
        return len(ended)

    async def delete_ended(self, now: datetime, idle_ttl: timedelta) -> int:
        ended = [
            k
            for k, s in self._s.sessions.items()
            if s.expires_at <= now or s.last_seen_at <= now - idle_ttl
        ]
        for key in ended:
            del self._s.sessions[key]
        return len(ended)

    async def list_for_user(self, user_id: str) -> Sequence[Session]:
        found = [evolve(s) for s in self._s.sessions.values() if s.user_id == user_id]
        return sorted(found, key=lambda s: (s.last_seen_at, s.id), reverse=True)


class InMemoryOutbox:
    def __init__(self, state: _State) -> None:
        self._s = state

    async def add(self, message: OutboxMessage) -> None:
        self._s.outbox[message.id] = evolve(message)

    async def claim_due(
        self, now: datetime, *, limit: int, lease_until: datetime
    ) -> Sequence[OutboxMessage]:
        due = sorted(
            (
                m
                for m in self._s.outbox.values()
                if m.status is OutboxStatus.PENDING
                and m.next_attempt_at <= now
                and (m.claimed_until is None or m.claimed_until <= now)
            ),
            key=lambda m: (m.next_attempt_at, m.id),
        )[:limit]
        for message in due:
            message.attempts += 1
            message.claimed_until = lease_until
        return [evolve(m) for m in due]

    async def expedite(self, now: datetime) -> int:
        waiting = [
            m
            for m in self._s.outbox.values()
            if m.status is OutboxStatus.PENDING and m.next_attempt_at > now
        ]
        for message in waiting:
            message.next_attempt_at = now
        return len(waiting)

    async def mark_sent(self, message_id: str, at: datetime) -> None:
        message = self._s.outbox[message_id]
        message.status, message.sent_at, message.last_error = OutboxStatus.SENT, at, None
        message.claimed_until = None
        message.message = evolve(message.message, text="", html=None)  # delivered: body gone

    async def mark_failed(self, message_id: str, error: str, *, retry_at: datetime | None) -> None:
        message = self._s.outbox[message_id]
        message.last_error, message.claimed_until = error, None
        if retry_at is None:
            message.status = OutboxStatus.FAILED
        else:
            message.next_attempt_at = retry_at

    async def delete_sent_before(self, cutoff: datetime) -> int:
        old = [
            k
            for k, m in self._s.outbox.items()
            if m.status is OutboxStatus.SENT and m.sent_at is not None and m.sent_at < cutoff
        ]
        for key in old:
            del self._s.outbox[key]
        return len(old)

    async def get(self, message_id: str) -> OutboxMessage | None:
        found = self._s.outbox.get(message_id)
        return evolve(found) if found else None

    async def stats(self) -> OutboxStats:
        messages = list(self._s.outbox.values())
        pending = [m.created_at for m in messages if m.status is OutboxStatus.PENDING]
        return OutboxStats(
            pending=len(pending),
            sent=sum(m.status is OutboxStatus.SENT for m in messages),
            failed=sum(m.status is OutboxStatus.FAILED for m in messages),
            oldest_pending_at=min(pending, default=None),
        )

    async def list(self, *, limit: int = 50) -> Sequence[OutboxMessage]:
        newest = sorted(self._s.outbox.values(), key=lambda m: (m.created_at, m.id), reverse=True)
        return [evolve(m) for m in newest[:limit]]


class InMemorySubscriptionRepository:
    def __init__(self, state: _State) -> None:
        self._s = state

    async def get(self, workspace_id: str) -> Subscription | None:
        found = self._s.subscriptions.get(workspace_id)
        return evolve(found) if found else None

    async def get_by_customer(self, customer_id: str) -> Subscription | None:
        return self._find(lambda s: s.customer_id == customer_id)

    async def get_by_subscription(self, subscription_id: str) -> Subscription | None:
        return self._find(lambda s: s.subscription_id == subscription_id)

    def _find(self, match: Callable[[Subscription], bool]) -> Subscription | None:
        found = next((s for s in self._s.subscriptions.values() if match(s)), None)
        return evolve(found) if found else None

    async def save(self, subscription: Subscription) -> None:
        if subscription.workspace_id not in self._s.workspaces:
            raise Conflict("no such workspace")
        for other in self._s.subscriptions.values():
            if other.workspace_id != subscription.workspace_id and (
                other.customer_id == subscription.customer_id
                or (
                    subscription.subscription_id
                    and other.subscription_id == subscription.subscription_id
                )
            ):
                raise Conflict("that customer or subscription belongs to another workspace")
        self._s.subscriptions[subscription.workspace_id] = evolve(subscription)

    async def list(self) -> Sequence[Subscription]:
        return [evolve(s) for _, s in sorted(self._s.subscriptions.items())]


class InMemoryBillingLedger:
    def __init__(self, state: _State) -> None:
        self._s = state

    async def record(self, entry: LedgerEntry) -> bool:
        if entry.event_id in self._s.ledger:
            return False
        self._s.ledger[entry.event_id] = entry
        return True

    async def get(self, event_id: str) -> LedgerEntry | None:
        return self._s.ledger.get(event_id)

    async def list(self, *, limit: int = 50) -> Sequence[LedgerEntry]:
        newest = sorted(
            self._s.ledger.values(), key=lambda e: (e.received_at, e.created_at), reverse=True
        )
        return newest[:limit]


class InMemoryUnitOfWork:
    """A unit of work over an ``InMemoryDatabase``; see the module docstring."""

    def __init__(self, database: InMemoryDatabase, *, read_only: bool = False) -> None:
        self._db = database
        self.read_only = read_only
        self._work = _State()
        self._bind(self._work)

    def _bind(self, state: _State) -> None:
        self.users = InMemoryUserRepository(state)
        self.workspaces = InMemoryWorkspaceRepository(state)
        self.memberships = InMemoryMembershipRepository(state)
        self.audit = InMemoryAuditLog(state)
        self.login_links = InMemoryLoginLinkRepository(state)
        self.sessions = InMemorySessionRepository(state)
        self.outbox = InMemoryOutbox(state)
        self.invites = InMemoryInviteRepository(state)
        self.subscriptions = InMemorySubscriptionRepository(state)
        self.billing_ledger = InMemoryBillingLedger(state)

    async def __aenter__(self) -> Self:
        # A reader takes no lock: commits replace the state whole, never change it in place,
        # so the state it copies is one consistent snapshot, as a SQL reader sees.
        if not self.read_only:
            await self._db.lock.acquire()
        self._work = self._db.state.copy()
        self._bind(self._work)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._work = _State()
        if not self.read_only:
            self._db.lock.release()

    async def commit(self) -> None:
        if self.read_only:
            raise RuntimeError("a read unit of work has nothing to commit")
        self._db.state = self._work
        self._work = self._work.copy()
        self._bind(self._work)

    async def rollback(self) -> None:
        self._work = self._db.state.copy()
        self._bind(self._work)
