"""Request-scoped dependencies: the unit of work and the actor."""

from __future__ import annotations

from collections.abc import AsyncGenerator

from litestar.datastructures import State

from entrypoints.bootstrap import Services
from saascore.ports import UnitOfWork


def provide_services(state: State) -> Services:
    services: Services = state.services
    return services


async def provide_uow(state: State) -> AsyncGenerator[UnitOfWork, None]:
    """One unit of work per request: committed after the handler returns, rolled back when
    it raises (Litestar throws the handler's exception into this generator)."""
    services: Services = state.services
    async with services.uow() as uow:
        yield uow
        await uow.commit()
