"""The outbox dispatcher loop, run in the background by the web app.

It delivers whatever is due, then sleeps until ``OUTBOX_POLL_SECONDS`` pass or a request
queues something (``Services.outbox_wakeup``). A database or SMTP outage is logged and
waited out; nothing is lost because messages stay in the outbox until delivered.
"""

from __future__ import annotations

import structlog

from entrypoints.bootstrap import Services
from saascore.errors import ExternalServiceError
from saascore.outbox import deliver_due

log = structlog.get_logger("saascore.outbox")


async def run_dispatcher(services: Services) -> None:
    """Deliver due email until cancelled."""
    poll = services.settings.outbox_poll_seconds
    while True:
        try:
            report = await deliver_due(
                services.uow, services.email, services.clock, services.delivery_policy
            )
        except ExternalServiceError as exc:
            log.warning("outbox dispatch paused", error=exc.message)
            report = None
        except Exception:  # a bug must not stop email for the life of the process
            log.exception("outbox dispatch failed")
            report = None
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
