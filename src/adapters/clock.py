"""Clocks and id makers: the system ones, and deterministic ones for tests and seeding."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from attrs import define, field


class SystemClock:
    """The real time, in UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)


@define
class FrozenClock:
    """A clock that only moves when told to."""

    current: datetime = field(factory=lambda: datetime(2026, 1, 1, tzinfo=UTC))

    def now(self) -> datetime:
        return self.current

    def advance(self, **delta: float) -> None:
        self.current += timedelta(**delta)


class UuidIds:
    """Random UUID4 strings."""

    def new(self) -> str:
        return str(uuid.uuid4())


@define
class SequentialIds:
    """Predictable ids derived from a namespace: the same run makes the same ids.

    Used by tests and by the demo seed, whose re-runs must not create new rows.
    """

    namespace: str = "saascore"
    _count: int = 0

    def new(self) -> str:
        self._count += 1
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{self.namespace}/{self._count}"))
