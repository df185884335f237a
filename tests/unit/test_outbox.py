"""Outbox delivery: retries with backoff, giving up, and never sending a message twice."""

from __future__ import annotations

import asyncio
import contextlib
import json
from datetime import timedelta
from typing import Any

import attrs
import pytest

from adapters.clock import FrozenClock, SequentialIds
from adapters.crypto import FernetSealer
from adapters.memory.email import InMemoryEmailSender
from entrypoints.bootstrap import memory_services
from entrypoints.dispatcher import run_dispatcher
from entrypoints.logs import configure_logging
from entrypoints.settings import Settings
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


class PoisonSender(InMemoryEmailSender):
    """Raises what a mail library raises for an address it cannot encode (not a
    ``DeliveryFailed``) for one recipient; delivers the rest."""

    async def send(self, message: EmailMessage) -> None:
        if message.to == "to1@example.com":
            raise ValueError("invalid address in header")
        await super().send(message)


class TestOneBadMessage:
    async def test_an_unexpected_sender_error_fails_that_message_and_not_the_batch(self) -> None:
        """The other messages claimed with it are delivered; the bad one is marked failed
        with its reason at once (it would fail the same way again) and reported."""
        world = World(memory_services(clock=FrozenClock(), ids=SequentialIds("poison")))
        world.services.deps = attrs.evolve(world.services.deps, email=PoisonSender())
        await queue(world, 3)

        report = await deliver(world)

        assert DeliveryReport(sent=2, failed=1) == report
        [failure] = report.failures
        assert (False, "ValueError: invalid address in header") == (
            failure.will_retry,
            failure.reason,
        )
        rows = await world.run(lambda uow: uow.outbox.list(limit=10))
        bad = next(r for r in rows if r.message.to == "to1@example.com")
        assert (OutboxStatus.FAILED, "ValueError: invalid address in header") == (
            bad.status,
            bad.last_error,
        )

    async def test_the_dispatcher_logs_each_failed_attempt_at_warning(
        self, world: World, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """While SMTP refuses, each attempt is a warning naming the message and the reason,
        never its body."""
        sender(world).failing = True
        await queue(world, 1)
        configure_logging(Settings(log_format="json", environment="test"))

        [queued] = await world.run(lambda uow: uow.outbox.list(limit=10))
        logged: list[dict[str, Any]] = []
        task = asyncio.create_task(run_dispatcher(world.services))
        try:
            async with asyncio.timeout(5):
                while not any(r.get("event") == "email not delivered" for r in logged):
                    await asyncio.sleep(0.05)
                    err = capsys.readouterr().err
                    logged += [json.loads(x) for x in err.splitlines() if x.startswith("{")]
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

        warning = next(r for r in logged if r.get("event") == "email not delivered")
        assert ("warning", queued.id, True) == (
            warning["level"],
            warning["message_id"],
            warning["will_retry"],
        )
        assert warning["reason"]
        assert "text" not in json.dumps(warning)  # the body never reaches the log


class TestSealing:
    async def test_bodies_are_sealed_at_rest_and_opened_only_to_send(self, world: World) -> None:
        """The outbox row holds no readable body; the sender gets it whole; once sent, the
        row keeps no body at all."""
        await queue(world, 1)
        [row] = await world.run(lambda uow: uow.outbox.list(limit=10))
        assert row.message.text.startswith("sealed:v1:")
        assert "text" not in row.message.text

        await deliver(world)

        assert ["text"] == [m.text for m in sender(world).sent]
        [sent] = await world.run(lambda uow: uow.outbox.list(limit=10))
        assert ("", None) == (sent.message.text, sent.message.html)

    async def test_a_body_sealed_with_another_key_fails_that_message_only(
        self, world: World
    ) -> None:
        """After SECRET_KEY changes, a message sealed before cannot be read: it is failed
        with that reason, and the rest go out."""
        await queue(world, 2)
        rekeyed = attrs.evolve(world.services.deps, sealer=FernetSealer("another-secret-" * 4))
        world.services.deps = rekeyed
        await queue(world, 1)

        report = await deliver(world)

        assert DeliveryReport(sent=1, failed=2) == report
        assert all("another SECRET_KEY" in f.reason for f in report.failures)
