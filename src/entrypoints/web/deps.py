"""Request-scoped dependencies: the unit of work and the actor."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

from litestar import Request
from litestar.datastructures import State

from entrypoints.bootstrap import Services
from saascore.ports import UnitOfWork

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


def provide_services(state: State) -> Services:
    services: Services = state.services
    return services


async def provide_uow(
    request: Request[Any, Any, Any], state: State
) -> AsyncGenerator[UnitOfWork, None]:
    """One unit of work per request. A GET (or HEAD) gets a read unit of work, which takes
    no write turn and waits for no writer; any other method a write one, committed after the
    handler returns and rolled back when it raises (Litestar throws the handler's exception
    into this generator). The body was read before (``entrypoints.web.body``)."""
    services: Services = state.services
    if request.method in SAFE_METHODS:
        async with services.reader() as reader:
            yield reader
        return
    async with services.uow() as uow:
        yield uow
        await uow.commit()
