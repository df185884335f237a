"""Request-scoped dependencies: the unit of work and the actor."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

from litestar import Request
from litestar.datastructures import State

from entrypoints.bootstrap import Services
from entrypoints.web.requestid import request_id_of
from saascore.models import Actor
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


def actor_for(request: Request[Any, Any, Any], user_id: str | None) -> Actor:
    """The audit actor for a request: who, from which address, with which request id."""
    return Actor(
        user_id=user_id,
        ip=request.client.host if request.client else None,
        user_agent=(request.headers.get("user-agent") or "")[:512] or None,
        request_id=request_id_of(request.scope),
    )
