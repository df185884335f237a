"""The dispatcher's wake-up call is never lost."""

from __future__ import annotations

import asyncio
import time

from entrypoints.wakeup import Wakeup


async def test_a_call_before_the_first_wait_is_remembered() -> None:
    """set() before anyone waits makes the first wait return at once."""
    wakeup = Wakeup()
    wakeup.set()

    started = time.monotonic()
    await wakeup.wait(5)

    assert time.monotonic() - started < 1


async def test_a_call_from_another_thread_wakes_the_waiter() -> None:
    """set() from a thread with its own loop wakes a waiter in this loop."""
    wakeup = Wakeup()
    waiting = asyncio.create_task(wakeup.wait(5))
    await asyncio.sleep(0.05)

    started = time.monotonic()
    await asyncio.to_thread(wakeup.set)
    await waiting

    assert time.monotonic() - started < 1
