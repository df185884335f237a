"""Pruning keeps recent rows and history, and removes the rest."""

from __future__ import annotations

from datetime import timedelta

from adapters.clock import FrozenClock
from saascore.housekeeping import PruneReport, prune
from saascore.models import EmailMessage, LoginLink
from tests.support.context import tx_of
from tests.support.world import World


async def test_prune_uses_a_day_for_links_and_a_month_for_delivered_email() -> None:
    """A link of 23 hours stays and one of 25 goes; delivered email goes after 30 days."""
    world = World.in_memory()
    s = world.services
    clock = s.clock
    assert isinstance(clock, FrozenClock)

    async def add_link(n: int) -> None:
        now = clock.now()
        await world.run(
            lambda uow: uow.login_links.add(
                LoginLink(
                    id=f"l{n}",
                    email="a@example.com",
                    token_hash=str(n),
                    next_path=None,
                    created_at=now,
                    expires_at=now + timedelta(minutes=10),
                )
            )
        )

    await add_link(1)
    queued = await world.run(
        lambda uow: tx_of(s, uow).enqueue(EmailMessage("a@example.com", "Hi", "text"))
    )
    await world.run(lambda uow: uow.outbox.mark_sent(queued.id, clock.now()))
    clock.advance(hours=2)
    await add_link(2)
    clock.advance(hours=23)

    first = await world.run(lambda uow: prune(tx_of(s, uow), session_idle_ttl=timedelta(days=7)))
    clock.advance(days=30)
    second = await world.run(lambda uow: prune(tx_of(s, uow), session_idle_ttl=timedelta(days=7)))

    assert (PruneReport(1, 0, 0), PruneReport(1, 0, 1)) == (first, second)
