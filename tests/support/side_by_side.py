"""A Hypothesis state machine base that runs every step on a memory backend and a SQL
backend built alike (frozen clocks, the same id sequence), so their outcomes compare."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from attrs import evolve
from hypothesis.stateful import RuleBasedStateMachine

from adapters.clock import FrozenClock, SequentialIds
from entrypoints.bootstrap import Services, bootstrap, memory_services
from entrypoints.settings import Settings
from saascore.errors import SaasCoreError
from saascore.ports import UnitOfWork

# A step gets the backend's index (0 memory, 1 SQL), its services and a unit of work.
Step = Callable[[int, Services, UnitOfWork], Awaitable[Any]]


class SideBySide(RuleBasedStateMachine):
    def __init__(self, make_sql_url: Callable[[], str], namespace: str) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        sql = bootstrap(Settings(database_url=make_sql_url(), environment="test"))
        sql.deps = evolve(sql.deps, clock=FrozenClock(), ids=SequentialIds(namespace))
        self.backends = [
            memory_services(clock=FrozenClock(), ids=SequentialIds(namespace)),
            sql,
        ]

    def each(self, step: Step) -> list[Any]:
        """Run ``step`` on every backend in its own committed unit of work; return each
        outcome, or the name of the saascore error it raised."""

        async def one(index: int, services: Services) -> Any:
            async with services.uow() as uow:
                try:
                    result = await step(index, services, uow)
                except SaasCoreError as exc:
                    return type(exc).__name__
                await uow.commit()
                return result

        return [self.loop.run_until_complete(one(i, s)) for i, s in enumerate(self.backends)]

    def agree(self, step: Step) -> Any:
        """Run ``step`` everywhere and require the same outcome."""
        memory, sql = self.each(step)
        assert memory == sql
        return memory

    def teardown(self) -> None:
        for services in self.backends:
            self.loop.run_until_complete(services.aclose())
        self.loop.close()
