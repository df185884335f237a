"""A wake-up call that works across event loops and threads.

The dispatcher waits on it in the loop that runs the app's lifespan; requests set it from
theirs. Under uvicorn that is one loop; test clients run the lifespan in a loop of its own,
where a plain ``asyncio.Event`` would never notice being set.
"""

from __future__ import annotations

import asyncio
import contextlib


class Wakeup:
    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._event: asyncio.Event | None = None

    async def wait(self, seconds: float) -> None:
        """Sleep until ``set`` is called or ``seconds`` pass, then reset."""
        if self._event is None:
            self._loop, self._event = asyncio.get_running_loop(), asyncio.Event()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._event.wait(), seconds)
        self._event.clear()

    def set(self) -> None:
        loop, event = self._loop, self._event
        if loop is not None and event is not None and not loop.is_closed():
            loop.call_soon_threadsafe(event.set)
