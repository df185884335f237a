"""An exact in-memory ``RateLimiter``: a log of admitted hit times per policy and key.

Time comes from the injected ``Clock``, so tests move a ``FrozenClock`` instead of sleeping.
A hit at time ``t`` is admitted when fewer than ``limit`` admitted hits lie in ``(t - window, t]``;
so no half-open window ``[s, s + window)`` ever holds more than ``limit`` admitted hits.
"""

from __future__ import annotations

import math
from collections import deque
from datetime import datetime, timedelta

from attrs import define, field

from saascore.models import RateDecision, RateLimit
from saascore.ports import Clock

# Sweep logs with no live hit after this many hits, so keys seen once do not pile up forever.
SWEEP_EVERY = 1024


@define
class _Log:
    """The admitted hit times of one key under one policy, oldest first."""

    window: timedelta
    times: deque[datetime] = field(factory=deque)

    def forget_before(self, now: datetime) -> None:
        cutoff = now - self.window
        while self.times and self.times[0] <= cutoff:
            self.times.popleft()


class InMemoryRateLimiter:
    """A moving-window ``RateLimiter`` that keeps its counters in this process.

    Hits are checked and recorded without awaiting anything, so concurrent tasks on one event
    loop cannot both take the last slot. Counters are per instance: two limiters never share.
    """

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._logs: dict[tuple[str, str], _Log] = {}
        self._hits = 0

    async def hit(self, limit: RateLimit, key: str) -> RateDecision:
        """Count one hit for ``key`` under ``limit``; a refused hit is not counted."""
        now = self._clock.now()
        self._sweep(now)
        window = timedelta(seconds=limit.window_seconds)
        log = self._logs.setdefault((limit.name, key), _Log(window))
        log.window = window  # a policy may be reconfigured between hits
        log.forget_before(now)
        if len(log.times) < limit.limit:
            log.times.append(now)
            return RateDecision(True, limit.limit, limit.limit - len(log.times), 0)
        return RateDecision(False, limit.limit, 0, self._reset_after(log, limit, now))

    async def reset(self, limit: RateLimit, key: str) -> None:
        """Forget every hit of ``key`` under ``limit``."""
        self._logs.pop((limit.name, key), None)

    async def check(self) -> bool:
        """Memory is always there."""
        return True

    @staticmethod
    def _reset_after(log: _Log, limit: RateLimit, now: datetime) -> int:
        """Whole seconds until enough old hits leave the window for one more to fit."""
        if limit.limit <= 0:  # a policy that admits nothing: say "a whole window"
            return max(1, limit.window_seconds)
        # The log may hold more than ``limit`` hits if the policy was lowered; the hit that
        # must leave is the one with exactly ``limit - 1`` newer hits.
        leaving = log.times[len(log.times) - limit.limit]
        wait = (leaving + log.window - now).total_seconds()
        return max(1, math.ceil(wait))

    def _sweep(self, now: datetime) -> None:
        self._hits += 1
        if self._hits % SWEEP_EVERY:
            return
        for name_and_key, log in list(self._logs.items()):
            log.forget_before(now)
            if not log.times:
                del self._logs[name_and_key]
