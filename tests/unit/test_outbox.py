"""Outbox delivery: retries with backoff, giving up, and never sending a message twice."""

from __future__ import annotations

from datetime import timedelta

import pytest

from adapters.clock import FrozenClock
from adapters.memory.email import InMemoryEmailSender
from saascore.models import EmailMessage, OutboxStatus
from saascore.outbox import DeliveryReport, deliver_due, flush
from saascore.policies import DeliveryPolicy
from tests.support.context import deps_of, tx_of
from tests.support.world import World

POLICY = DeliveryPolicy(max_attempts=3, first_retry=timedelta(seconds=30), batch=10)


@pytest.fixture
def world() -> World:
    return World.in_memory()


def sender(world: World) -> InMemoryEmailSender:
    email = world.services.email
    assert isinstance(email, InMemoryEmailSender)
    return email


async def queue(world: World, n: int = 1) -> None:
    s = world.services
    for i in range(n):
        message = EmailMessage(to=f"to{i}@example.com", subject="Hi", text="text")
        await world.run(lambda uow, m=message: tx_of(s, uow).enqueue(m))


async def deliver(world: World, policy: DeliveryPolicy = POLICY) -> DeliveryReport:
    s = world.services
    return await deliver_due(deps_of(s, policy))


def advance(world: World, **delta: float) -> None:
    clock = world.services.clock
    assert isinstance(clock, FrozenClock)
    clock.advance(**delta)


class TestRetryDelay:
    def test_delays_double_and_are_capped(self) -> None:
        """30 s, 1 min, 2 min, ... never more than an hour."""
        delays = [DeliveryPolicy().retry_delay(n).total_seconds() for n in (1, 2, 3, 4, 20)]

        assert [30, 60, 120, 240, 3600] == delays


class TestDelivery:
    async def test_nothing_is_sent_before_the_transaction_commits(self, world: World) -> None:
        """An enqueue in a unit of work that rolls back leaves nothing to send."""
        s = world.services
        async with s.uow() as uow:
            await tx_of(s, uow).enqueue(EmailMessage("a@example.com", "Hi", "text"))

        assert DeliveryReport() == await deliver(world)
        assert [] == sender(world).sent

    async def test_due_messages_are_sent_once(self, world: World) -> None:
        """A delivered message is marked sent and never delivered again."""
        await queue(world, 3)

        first = await deliver(world)
        advance(world, hours=2)
        second = await deliver(world)

        assert (DeliveryReport(sent=3), DeliveryReport()) == (first, second)
        assert 3 == len(sender(world).sent)

    async def test_a_failure_is_retried_after_a_delay(self, world: World) -> None:
        """A down server leaves the message pending with its error, until the retry time."""
        await queue(world)
        sender(world).failing = True

        failed = await deliver(world)
        sender(world).failing = False
        too_soon = await deliver(world)
        advance(world, seconds=30)
        retried = await deliver(world)

        assert (DeliveryReport(retrying=1), DeliveryReport(), DeliveryReport(sent=1)) == (
            failed,
            too_soon,
            retried,
        )
        [message] = await world.run(lambda uow: uow.outbox.list())
        assert (OutboxStatus.SENT, 2, None) == (
            message.status,
            message.attempts,
            message.last_error,
        )

    async def test_delivery_gives_up_after_the_last_attempt(self, world: World) -> None:
        """After max_attempts failures the message is failed, with the last error kept."""
        await queue(world)
        sender(world).failing = True

        reports = []
        for _ in range(3):
            reports.append(await deliver(world))
            advance(world, hours=1)

        assert [DeliveryReport(retrying=1)] * 2 + [DeliveryReport(failed=1)] == reports
        [message] = await world.run(lambda uow: uow.outbox.list())
        assert (OutboxStatus.FAILED, 3) == (message.status, message.attempts)
        assert "set to fail" in (message.last_error or "")
        assert DeliveryReport() == await deliver(world)

    async def test_flush_delivers_batch_after_batch(self, world: World) -> None:
        """flush keeps going until nothing is due."""
        await queue(world, 25)

        report = await flush(deps_of(world.services, POLICY))

        assert DeliveryReport(sent=25) == report
        assert 25 == len({m.to for m in sender(world).sent})
