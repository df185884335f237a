"""Typed contexts for tests that drive use cases directly: a ``Tx`` over a unit of work the
test opened (and commits), a ``Ctx``, or ``Deps``, each with the test's own policies."""

from __future__ import annotations

from typing import Any

from attrs import evolve

from entrypoints.bootstrap import Services, memory_services
from saascore.context import Ctx, Deps, Tx
from saascore.models import Actor, OutboxMessage
from saascore.outbox import opened
from saascore.policies import AuthPolicy, BillingPolicy, DeliveryPolicy, InvitePolicy
from saascore.ports import UnitOfWork

_FIELD_FOR = {
    AuthPolicy: "auth",
    BillingPolicy: "plans",
    InvitePolicy: "invites",
    DeliveryPolicy: "delivery",
}


def deps_of(services: Services | None, *policies: Any) -> Deps:
    """``services``' deps (memory ones when ``None``) with ``policies`` in place of theirs."""
    deps = services.deps if services is not None else memory_services().deps
    changes = {_FIELD_FOR[type(p)]: p for p in policies if p is not None}
    return evolve(deps, **changes) if changes else deps


def tx_of(
    services: Services | None, uow: UnitOfWork, actor: Actor | None = None, *policies: Any
) -> Tx:
    """A ``Tx`` for ``actor`` (default: the system) in ``uow``, which the caller commits."""
    return Tx(deps_of(services, *policies), uow, actor or Actor.system())


def ctx_of(services: Services, actor: Actor | None = None, *policies: Any) -> Ctx:
    return deps_of(services, *policies).ctx(actor or Actor.system())


async def unsealed(services: Services, queued: OutboxMessage) -> OutboxMessage:
    """A queued email as it will be sent: the body the outbox keeps sealed, opened."""
    return evolve(queued, message=await opened(services.deps, queued.message))
