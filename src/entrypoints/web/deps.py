"""Request-scoped dependencies: the request's transaction and who acts in it.

- ``request_tx``: the request's one transaction, acting as the anonymous client. A GET (or
  HEAD) gets a read transaction, which takes no write turn and waits for no writer; any
  other method a write one, committed after the handler returns and rolled back when it
  raises (Litestar throws the handler's exception into the generator). The body was read
  before it began (``entrypoints.web.body``), so it never waits on the client.
- ``tx`` (in ``entrypoints.web.auth``): the same transaction, acting as the signed-in user.
- ``uow``: the request transaction's unit of work, for route handlers an app adds
  (``create_app(extra_route_handlers=...)``) that read or write repositories directly.
- ``ctx``: the signed-in user with no transaction held, for routes that call the billing
  provider; its use cases open short transactions of their own.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

from litestar import Request
from litestar.datastructures import State
from litestar.di import NamedDependency

from entrypoints.bootstrap import Services
from entrypoints.web.clientip import client_ip
from entrypoints.web.requestid import request_id_of
from saascore.context import Tx
from saascore.models import Actor
from saascore.ports import UnitOfWork

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


def provide_services(state: State) -> Services:
    services: Services = state.services
    return services


def actor_of(request: Request[Any, Any, Any], services: Services, user_id: str | None) -> Actor:
    """Who does this request and from where, for audit rows."""
    return Actor(
        user_id=user_id,
        ip=client_ip(request.scope, services.settings.trusted_networks),
        user_agent=(request.headers.get("user-agent") or "")[:512] or None,
        request_id=request_id_of(request.scope),
    )


async def provide_request_tx(
    request: Request[Any, Any, Any], state: State
) -> AsyncGenerator[Tx, None]:
    services: Services = state.services
    anonymous = actor_of(request, services, None)
    async with services.deps.transaction(anonymous, write=request.method not in SAFE_METHODS) as tx:
        yield tx


async def provide_uow(request_tx: NamedDependency[Tx]) -> UnitOfWork:
    return request_tx.uow
