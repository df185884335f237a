"""Housekeeping: rows that have served their purpose are deleted, so tables stay small.

Rules:
- sign-in links go a day after they were made (they live minutes);
- sessions go once ended, by their absolute lifetime or by idleness;
- delivered email goes after ``keep_sent_email`` (30 days by default); email that failed
  stays until an operator deals with it;
- invitations and the audit trail are history and are never pruned here.
"""

from __future__ import annotations

from datetime import timedelta

from attrs import frozen

from saascore.context import Tx

LINK_RETENTION = timedelta(days=1)


@frozen
class PruneReport:
    login_links: int
    sessions: int
    sent_email: int


async def prune(
    tx: Tx,
    *,
    session_idle_ttl: timedelta,
    keep_sent_email: timedelta = timedelta(days=30),
) -> PruneReport:
    """Delete what is no longer needed, in ``uow``'s transaction."""
    now = tx.now()
    return PruneReport(
        login_links=await tx.uow.login_links.delete_created_before(now - LINK_RETENTION),
        sessions=await tx.uow.sessions.delete_ended(now, session_idle_ttl),
        sent_email=await tx.uow.outbox.delete_sent_before(now - keep_sent_email),
    )
