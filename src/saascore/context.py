"""The typed context every use case takes as its first argument.

``Deps`` holds what the use cases need — units of work, clock, ids, the billing and email
gateways and the policies — built once per process by the composition root
(``entrypoints.bootstrap``) or by a test. There is no lookup by type: a use case reads the
field it needs.

A use case takes one of two contexts, and the type says which transaction style it has:

- ``Tx``: an actor inside an open transaction. The caller opened it and commits it (a web
  request, a CLI command, ``Deps.transaction``). ``now()``, ``new_id()``, ``record(...)``
  (an audit event) and ``enqueue(...)`` (an email) all join that transaction.
- ``Ctx``: an actor with no transaction yet, for use cases that call a provider (Stripe)
  and must hold no transaction while it answers: they open their own short ones with
  ``ctx.read()`` and ``ctx.write()``.

Usage, on memory adapters::

    deps = memory_deps()
    async with deps.transaction(Actor.system()) as tx:
        user = await register_user(tx, email="ada@example.com")
    # committed here
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import datetime
from typing import Any

from attrs import define, evolve, field, frozen

from saascore.models import Actor, AuditEvent, EmailMessage, OutboxMessage
from saascore.policies import AuthPolicy, BillingPolicy, DeliveryPolicy, InvitePolicy, RateLimits
from saascore.ports import (
    BillingGateway,
    Clock,
    EmailSender,
    Ids,
    RateLimiter,
    Sealer,
    UnitOfWork,
    UnitOfWorkFactory,
)

AfterCommit = Callable[[], Awaitable[None]]


def _nothing() -> None:
    return None


@frozen(kw_only=True)
class Deps:
    """Everything the use cases take, bound once. ``writer`` makes write units of work,
    ``reader`` read ones (no write turn, no commit). ``email_queued`` is called after a
    transaction that queued email commits, so a dispatcher can wake up."""

    writer: UnitOfWorkFactory
    reader: UnitOfWorkFactory
    clock: Clock
    ids: Ids
    billing: BillingGateway
    email: EmailSender
    limiter: RateLimiter
    sealer: Sealer
    auth: AuthPolicy = field(factory=AuthPolicy)
    plans: BillingPolicy = field(factory=BillingPolicy)
    invites: InvitePolicy = field(factory=InvitePolicy)
    delivery: DeliveryPolicy = field(factory=DeliveryPolicy)
    limits: RateLimits = field(factory=RateLimits)
    email_queued: Callable[[], None] = _nothing

    @asynccontextmanager
    async def transaction(self, actor: Actor, *, write: bool = True) -> AsyncIterator[Tx]:
        """A ``Tx`` for ``actor``: a write one commits when the block ends cleanly (and
        rolls back when it raises); a read one (``write=False``) never writes."""
        async with (self.writer if write else self.reader)() as uow:
            tx = Tx(self, uow, actor)
            yield tx
            if write:
                await uow.commit()
        await tx.committed()

    def ctx(self, actor: Actor) -> Ctx:
        return Ctx(self, actor)


@define
class _Effects:
    """What a transaction leaves to do once it has committed."""

    after: list[AfterCommit] = field(factory=list)
    queued_email: bool = False


@define
class Tx:
    """An actor inside an open transaction; see the module docstring."""

    deps: Deps
    uow: UnitOfWork
    actor: Actor
    _effects: _Effects = field(factory=_Effects, alias="effects")

    def now(self) -> datetime:
        return self.deps.clock.now()

    def new_id(self) -> str:
        return self.deps.ids.new()

    def as_actor(self, actor: Actor) -> Tx:
        """The same transaction, acting as ``actor``."""
        return evolve(self, actor=actor)

    def with_ids(self, ids: Ids) -> Tx:
        """The same transaction, taking new ids from ``ids`` (e.g. deterministic ones)."""
        return evolve(self, deps=evolve(self.deps, ids=ids))

    def after_commit(self, work: AfterCommit) -> None:
        """Run ``work`` once this transaction has committed (never if it rolls back)."""
        self._effects.after.append(work)

    async def committed(self) -> None:
        """Called by whoever committed this transaction: run what waited for it."""
        effects, self._effects = self._effects, _Effects()
        if effects.queued_email:
            self.deps.email_queued()
        for work in effects.after:
            await work()

    async def record(
        self,
        action: str,
        *,
        workspace_id: str | None,
        target: str | None = None,
        data: Mapping[str, Any] | None = None,
    ) -> AuditEvent:
        """Append an audit event by this actor to this transaction: it commits with the
        change it describes, or not at all."""
        event = AuditEvent(
            id=self.new_id(),
            workspace_id=workspace_id,
            actor_id=self.actor.user_id,
            action=action,
            target=target,
            data=data or {},
            ip=self.actor.ip,
            user_agent=self.actor.user_agent,
            request_id=self.actor.request_id,
            created_at=self.now(),
        )
        return await self.uow.audit.append(event)

    async def enqueue(self, message: EmailMessage) -> OutboxMessage:
        """Queue ``message`` in this transaction's outbox: sent once it commits. Its body
        (which may hold a sign-in or invite link) is stored sealed."""
        now = self.now()
        sealer = self.deps.sealer
        sealed = EmailMessage(
            to=message.to,
            subject=message.subject,
            text=await sealer.seal(message.text),
            html=await sealer.seal(message.html) if message.html is not None else None,
        )
        queued = OutboxMessage(
            id=self.new_id(),
            message=sealed,
            created_at=now,
            next_attempt_at=now,
            request_id=self.actor.request_id,
        )
        await self.uow.outbox.add(queued)
        self._effects.queued_email = True
        return queued


@frozen
class Ctx:
    """An actor with no transaction open; see the module docstring."""

    deps: Deps
    actor: Actor

    def now(self) -> datetime:
        return self.deps.clock.now()

    def read(self) -> AbstractAsyncContextManager[Tx]:
        """``async with ctx.read() as tx``: a short read transaction."""
        return self.deps.transaction(self.actor, write=False)

    def write(self) -> AbstractAsyncContextManager[Tx]:
        """``async with ctx.write() as tx``: a short write transaction, committed at the end."""
        return self.deps.transaction(self.actor, write=True)
