"""What every SQL repository shares: statements run on the unit of work's connection."""

from __future__ import annotations

from typing import Any, Protocol

from sqlalchemy import Executable, Result


class Executor(Protocol):
    @property
    def dialect_name(self) -> str: ...

    async def execute(self, statement: Executable) -> Result[Any]: ...


class SqlRepository:
    """A repository bound to one unit of work; driver errors are translated there."""

    def __init__(self, executor: Executor) -> None:
        self._executor = executor

    async def _run(self, statement: Executable) -> Result[Any]:
        return await self._executor.execute(statement)
