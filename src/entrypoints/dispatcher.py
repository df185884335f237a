"""The outbox dispatcher loop, run in the background by the web app.

It delivers whatever is due, then sleeps until ``OUTBOX_POLL_SECONDS`` pass or a request
queues something (``Services.outbox_wakeup``). Once an hour it also prunes rows that have
served their purpose. A database or SMTP outage is logged and
waited out; nothing is lost because messages stay in the outbox until delivered.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from datetime import timedelta
from typing import TypeVar

import structlog

from entrypoints.bootstrap import Services
from saascore.errors import ExternalServiceError
from saascore.housekeeping import PruneReport, prune
from saascore.models import Actor
from saascore.outbox import deliver_due

log = structlog.get_logger("saascore.outbox")
T = TypeVar("T")


PRUNE_EVERY_SECONDS = 3600


async def prune_now(services: Services) -> PruneReport:
    """Delete used links, ended sessions and old delivered email (see saascore.housekeeping)."""
    async with services.transaction(Actor.system()) as tx:
        return await prune(
            tx, session_idle_ttl=timedelta(seconds=services.settings.session_idle_ttl_seconds)
        )


async def run_dispatcher(services: Services) -> None:
    """Deliver due email until cancelled; prune old rows once an hour on the side."""
    poll = services.settings.outbox_poll_seconds
    loop = asyncio.get_running_loop()
    next_prune = loop.time()
    while True:
        if loop.time() >= next_prune:
            next_prune = loop.time() + PRUNE_EVERY_SECONDS
            await _guarded("prune", prune_now(services))
        report = await _guarded(
            "outbox dispatch",
            deliver_due(services.deps),
        )
        for failure in report.failures if report is not None else ():
            log.warning(
                "email not delivered",
                message_id=failure.message_id,
                reason=failure.reason,
                will_retry=failure.will_retry,
            )
        if report is not None and report.attempted:
            log.info(
                "outbox dispatched",
                sent=report.sent,
                retrying=report.retrying,
                failed=report.failed,
            )
            if report.attempted >= services.delivery_policy.batch:
                continue  # more may be due right away
        await services.outbox_wakeup.wait(poll)


async def _guarded(what: str, work: Awaitable[T]) -> T | None:
    """Run background work; an outage or a bug is logged, never the end of the loop."""
    try:
        return await work
    except ExternalServiceError as exc:
        log.warning(f"{what} paused", error=exc.message)
    except Exception:  # a bug must not stop email for the life of the process
        log.exception(f"{what} failed")
    return None
