"""The composition root: the one place that chooses adapters from settings.

Nothing connects at import time; ``bootstrap`` builds engines and clients (which connect
lazily), and ``Services.aclose`` releases them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from attrs import define, field

from adapters.clock import SystemClock, UuidIds
from adapters.memory import InMemoryDatabase
from adapters.sql import SqlUnitOfWork, make_engine
from adapters.sql.migrate import readiness_problems
from entrypoints.settings import Settings
from saascore.ports import Clock, Ids, UnitOfWork, UnitOfWorkFactory

Readiness = Callable[[], Awaitable[list[str]]]
Closer = Callable[[], Awaitable[None]]


async def _always_ready() -> list[str]:
    return []


@define
class Services:
    """Everything the entrypoints use, built once per process."""

    settings: Settings
    uow: UnitOfWorkFactory
    clock: Clock = field(factory=SystemClock)
    ids: Ids = field(factory=UuidIds)
    readiness: Readiness = _always_ready
    closers: list[Closer] = field(factory=list)

    async def aclose(self) -> None:
        while self.closers:
            await self.closers.pop()()


def bootstrap(settings: Settings) -> Services:
    """Build the services ``settings`` asks for."""
    if settings.uses_memory_database:
        return memory_services(settings)
    engine = make_engine(settings.database_url)

    def unit_of_work() -> UnitOfWork:
        return SqlUnitOfWork(engine)

    async def readiness() -> list[str]:
        return await readiness_problems(engine)

    return Services(
        settings=settings, uow=unit_of_work, readiness=readiness, closers=[engine.dispose]
    )


def memory_services(
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    ids: Ids | None = None,
    database: InMemoryDatabase | None = None,
) -> Services:
    """Services on in-memory adapters: for unit tests and for users' own tests."""
    db = database or InMemoryDatabase()
    return Services(
        settings=settings or Settings(database_url="memory://", environment="test"),
        uow=db.unit_of_work,
        clock=clock or SystemClock(),
        ids=ids or UuidIds(),
    )
