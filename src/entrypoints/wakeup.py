"""A wake-up call that works across event loops and threads.

The dispatcher waits on it in the loop that runs the app's lifespan; requests set it from
theirs. Under uvicorn that is one loop; test clients run the lifespan in a loop of its own,
where a plain ``asyncio.Event`` would never notice being set. A call that comes before
anyone waits is remembered, not lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading


class Wakeup:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._event: asyncio.Event | None = None
        self._early = False  # set() before the first wait()

    async def wait(self, seconds: float) -> None:
        """Sleep until ``set`` is called or ``seconds`` pass, then reset."""
        with self._lock:
            if self._event is None:
                self._loop, self._event = asyncio.get_running_loop(), asyncio.Event()
                if self._early:
                    self._event.set()
            event = self._event
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), seconds)
        event.clear()

    def set(self) -> None:
        with self._lock:
            loop, event = self._loop, self._event
            if event is None:
                self._early = True
                return
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(event.set)
