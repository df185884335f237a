"""A small test world: services plus helpers that set up users and workspaces tersely."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from attrs import define

from adapters.clock import FrozenClock, SequentialIds
from entrypoints.bootstrap import Services, memory_services
from saascore.models import Actor, AuditEvent, Role, User, Workspace
from saascore.ports import UnitOfWork
from saascore.users import register_user
from saascore.workspaces import add_member, create_workspace
from tests.support.context import tx_of

T = TypeVar("T")


@define
class World:
    services: Services

    @classmethod
    def in_memory(cls) -> World:
        return cls(memory_services(clock=FrozenClock(), ids=SequentialIds("test")))

    async def run(self, work: Callable[[UnitOfWork], Awaitable[T]]) -> T:
        """Run ``work`` in one unit of work and commit it."""
        async with self.services.uow() as uow:
            result = await work(uow)
            await uow.commit()
        return result

    async def user(self, email: str, name: str = "") -> User:
        s = self.services
        return await self.run(
            lambda uow: register_user(tx_of(s, uow, Actor.system()), email=email, name=name)
        )

    async def workspace(self, owner: User, name: str = "Acme Inc") -> Workspace:
        s = self.services
        return await self.run(lambda uow: create_workspace(tx_of(s, uow, as_(owner)), name=name))

    async def join(self, workspace: Workspace, user: User, role: Role) -> None:
        s = self.services
        await self.run(
            lambda uow: add_member(
                tx_of(s, uow, Actor.system()), workspace.id, user_id=user.id, role=role
            )
        )

    async def role_of(self, workspace: Workspace, user: User) -> Role | None:
        membership = await self.run(lambda uow: uow.memberships.get(workspace.id, user.id))
        return membership.role if membership else None

    async def audit(self, workspace: Workspace | None = None) -> list[AuditEvent]:
        """Audit events, oldest first."""
        ws_id = workspace.id if workspace else None
        events = await self.run(lambda uow: uow.audit.list(workspace_id=ws_id, limit=1000))
        return list(reversed(events))


def as_(user: User, ip: str | None = "203.0.113.9") -> Actor:
    return Actor(user_id=user.id, ip=ip, request_id="req-test")
