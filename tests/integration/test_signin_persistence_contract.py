"""The contract of the sign-in and outbox repositories, on memory, SQLite and Postgres,
including what must hold when several units of work race."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from entrypoints.bootstrap import Services
from saascore.models import (
    EmailMessage,
    LoginLink,
    OutboxMessage,
    OutboxStats,
    OutboxStatus,
    Session,
    User,
)

T0 = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)


def link(n: int, email: str = "fran@example.com") -> LoginLink:
    return LoginLink(
        id=f"l{n}",
        email=email,
        token_hash=f"{n:064x}",
        next_path="/next",
        created_at=T0,
        expires_at=T0 + timedelta(minutes=10),
    )


def session(n: int, user_id: str = "u1", seen: int = 0) -> Session:
    return Session(
        id=f"s{n}",
        user_id=user_id,
        token_hash=f"{n:064x}",
        created_at=T0,
        last_seen_at=T0 + timedelta(minutes=seen),
        expires_at=T0 + timedelta(days=30),
        ip="192.0.2.1",
        user_agent="test",
    )


def message(n: int, due: int = 0) -> OutboxMessage:
    return OutboxMessage(
        id=f"m{n:03}",
        message=EmailMessage(
            to=f"to{n}@example.com", subject=f"S{n}", text="text", html="<p>html</p>"
        ),
        created_at=T0 + timedelta(seconds=n),
        next_attempt_at=T0 + timedelta(seconds=due),
        request_id="req-1",
    )


async def add_users(services: Services, *ids: str) -> None:
    async with services.uow() as uow:
        for user_id in ids:
            await uow.users.add(User(user_id, f"{user_id}@example.com", user_id, T0))
        await uow.commit()


class TestLoginLinks:
    async def test_links_round_trip_by_hash(self, services: Services) -> None:
        """A stored link is found by its token hash with every field intact."""
        async with services.uow() as uow:
            await uow.login_links.add(link(1))
            await uow.commit()

        async with services.uow() as uow:
            assert link(1) == await uow.login_links.get_by_hash(f"{1:064x}")
            assert await uow.login_links.get_by_hash("0" * 64) is None

    async def test_cancel_pending_touches_only_that_emails_open_links(
        self, services: Services
    ) -> None:
        """Used links and other addresses' links are left alone."""
        async with services.uow() as uow:
            for n in (1, 2):
                await uow.login_links.add(link(n))
            await uow.login_links.add(link(3, email="other@example.com"))
            assert await uow.login_links.consume("l1", T0)
            cancelled = await uow.login_links.cancel_pending("fran@example.com", T0)
            await uow.commit()

        async with services.uow() as uow:
            states = [await uow.login_links.get_by_hash(f"{n:064x}") for n in (1, 2, 3)]
        assert 1 == cancelled
        assert [(T0, None), (None, T0), (None, None)] == [
            (s.used_at, s.cancelled_at) for s in states if s is not None
        ]

    async def test_a_link_is_consumed_once(self, services: Services) -> None:
        """consume() is true once; cancelled links cannot be consumed."""
        async with services.uow() as uow:
            await uow.login_links.add(link(1))
            await uow.login_links.add(link(2))
            await uow.login_links.cancel_pending("fran@example.com", T0)
            await uow.login_links.add(link(3))
            outcomes = [await uow.login_links.consume(i, T0) for i in ("l3", "l3", "l1")]

        assert [True, False, False] == outcomes

    async def test_parallel_consumers_one_wins(self, services: Services) -> None:
        """Of many units of work consuming one link at once, exactly one succeeds."""
        async with services.uow() as uow:
            await uow.login_links.add(link(1))
            await uow.commit()

        async def consume() -> bool:
            async with services.uow() as uow:
                won = await uow.login_links.consume("l1", T0)
                await asyncio.sleep(0.01)  # hold the transaction open to overlap the others
                await uow.commit()
                return won

        results = await asyncio.gather(*(consume() for _ in range(8)))

        assert 1 == sum(results)


class TestSessions:
    async def test_sessions_round_trip_and_list_most_recent_first(self, services: Services) -> None:
        """Sessions are found by hash and listed by last use, newest first."""
        await add_users(services, "u1", "u2")
        async with services.uow() as uow:
            await uow.sessions.add(session(1, seen=1))
            await uow.sessions.add(session(2, seen=5))
            await uow.sessions.add(session(3, user_id="u2"))
            await uow.sessions.touch("s1", T0 + timedelta(minutes=9))
            await uow.commit()

        async with services.uow() as uow:
            found = await uow.sessions.get_by_hash(f"{2:064x}")
            listed = await uow.sessions.list_for_user("u1")
        assert session(2, seen=5) == found
        assert ["s1", "s2"] == [s.id for s in listed]
        assert T0 + timedelta(minutes=9) == listed[0].last_seen_at

    async def test_sessions_end_one_by_one_or_all_at_once(self, services: Services) -> None:
        """delete ends one session; delete_for_user ends a user's and counts them."""
        await add_users(services, "u1", "u2")
        async with services.uow() as uow:
            for n in (1, 2, 3):
                await uow.sessions.add(session(n))
            await uow.sessions.add(session(4, user_id="u2"))
            await uow.sessions.delete("s1")
            ended = await uow.sessions.delete_for_user("u1")
            await uow.commit()

        async with services.uow() as uow:
            left = [s.id for s in await uow.sessions.list_for_user("u2")]
            assert await uow.sessions.get_by_hash(f"{2:064x}") is None
        assert (2, ["s4"]) == (ended, left)


class TestOutbox:
    async def test_expedite_makes_retries_due_but_leaves_claims_alone(
        self, services: Services
    ) -> None:
        """After expedite, waiting retries are due; a message being sent is still claimed."""
        later = T0 + timedelta(minutes=30)
        async with services.uow() as uow:
            await uow.outbox.add(message(1))
            await uow.outbox.add(message(2))
            [claimed] = await uow.outbox.claim_due(T0, limit=1, lease_until=later)
            await uow.outbox.mark_failed("m001", "down", retry_at=later)
            await uow.outbox.claim_due(T0, limit=1, lease_until=later)  # m002, in flight
            expedited = await uow.outbox.expedite(T0)
            due = await uow.outbox.claim_due(T0, limit=10, lease_until=later)
            await uow.commit()

        assert ("m001", 1) == (claimed.id, expedited)
        assert ["m001"] == [m.id for m in due]

    async def test_claims_take_due_messages_oldest_first_and_count_attempts(
        self, services: Services
    ) -> None:
        """Only due, pending messages are claimed, up to the limit, each attempt counted."""
        lease = T0 + timedelta(minutes=5)
        async with services.uow() as uow:
            for n in range(1, 5):
                await uow.outbox.add(message(n, due=n))
            await uow.outbox.add(message(9, due=3600))
            claimed = await uow.outbox.claim_due(
                T0 + timedelta(seconds=10), limit=3, lease_until=lease
            )
            await uow.commit()

        assert ["m001", "m002", "m003"] == [m.id for m in claimed]
        assert {(1, lease)} == {(m.attempts, m.claimed_until) for m in claimed}
        assert message(1).message == claimed[0].message

    async def test_a_claimed_message_is_not_claimed_again_before_its_lease_ends(
        self, services: Services
    ) -> None:
        """The lease keeps a message from a second dispatcher until it runs out."""
        async with services.uow() as uow:
            await uow.outbox.add(message(1))
            await uow.outbox.claim_due(T0, limit=10, lease_until=T0 + timedelta(minutes=5))
            during = await uow.outbox.claim_due(
                T0 + timedelta(minutes=1), limit=10, lease_until=T0 + timedelta(minutes=6)
            )
            after = await uow.outbox.claim_due(
                T0 + timedelta(minutes=5), limit=10, lease_until=T0 + timedelta(minutes=10)
            )

        assert ([], [("m001", 2)]) == (during, [(m.id, m.attempts) for m in after])

    async def test_outcomes_and_stats(self, services: Services) -> None:
        """Sent, retried and given-up messages are recorded and counted."""
        async with services.uow() as uow:
            for n in (1, 2, 3):
                await uow.outbox.add(message(n))
            await uow.outbox.mark_sent("m001", T0 + timedelta(seconds=1))
            await uow.outbox.mark_failed("m002", "refused", retry_at=T0 + timedelta(minutes=1))
            await uow.outbox.mark_failed("m003", "refused for good", retry_at=None)
            await uow.commit()

        async with services.uow() as uow:
            sent, retrying, failed = [await uow.outbox.get(f"m00{n}") for n in (1, 2, 3)]
            stats = await uow.outbox.stats()
            newest = await uow.outbox.list(limit=2)
        assert sent is not None
        assert retrying is not None
        assert failed is not None
        assert (OutboxStatus.SENT, T0 + timedelta(seconds=1)) == (sent.status, sent.sent_at)
        assert (OutboxStatus.PENDING, "refused", T0 + timedelta(minutes=1)) == (
            retrying.status,
            retrying.last_error,
            retrying.next_attempt_at,
        )
        assert (OutboxStatus.FAILED, "refused for good") == (failed.status, failed.last_error)
        assert (
            OutboxStats(pending=1, sent=1, failed=1, oldest_pending_at=T0 + timedelta(seconds=2))
            == stats
        )
        assert ["m003", "m002"] == [m.id for m in newest]

    async def test_concurrent_dispatchers_claim_disjoint_messages(self, services: Services) -> None:
        """Two claimers at once never take the same message (SKIP LOCKED on Postgres)."""
        async with services.uow() as uow:
            for n in range(20):
                await uow.outbox.add(message(n))
            await uow.commit()

        async def claim() -> list[str]:
            async with services.uow() as uow:
                claimed = await uow.outbox.claim_due(
                    T0, limit=8, lease_until=T0 + timedelta(minutes=5)
                )
                await asyncio.sleep(0.05)
                await uow.commit()
                return [m.id for m in claimed]

        batches = await asyncio.gather(claim(), claim(), claim())
        taken = [m for batch in batches for m in batch]

        assert len(taken) == len(set(taken))
        assert 20 == len(taken)


class TestPruning:
    async def test_prune_deletes_what_has_served_its_purpose_and_nothing_else(
        self, services: Services
    ) -> None:
        """Old links, ended sessions and old delivered email go; the rest stays."""
        await add_users(services, "u1")
        now = T0 + timedelta(days=40)
        async with services.uow() as uow:
            await uow.login_links.add(link(1))  # made 40 days before "now"
            fresh = LoginLink(
                id="l2",
                email="f@example.com",
                token_hash=f"{2:064x}",
                next_path=None,
                created_at=now - timedelta(hours=1),
                expires_at=now,
            )
            await uow.login_links.add(fresh)
            await uow.sessions.add(session(1))  # absolute end: T0 + 30 days
            alive = Session(
                id="s2",
                user_id="u1",
                token_hash=f"{2:064x}",
                created_at=now,
                last_seen_at=now,
                expires_at=now + timedelta(days=30),
            )
            idle = Session(
                id="s3",
                user_id="u1",
                token_hash=f"{3:064x}",
                created_at=now,
                last_seen_at=now - timedelta(days=8),
                expires_at=now + timedelta(days=30),
            )
            for s in (alive, idle):
                await uow.sessions.add(s)
            for n in (1, 2, 3):
                await uow.outbox.add(message(n))
            await uow.outbox.mark_sent("m001", T0)  # sent long ago
            await uow.outbox.mark_sent("m002", now - timedelta(days=1))  # recently
            await uow.outbox.mark_failed("m003", "refused", retry_at=None)
            await uow.commit()

        async with services.uow() as uow:
            links = await uow.login_links.delete_created_before(now - timedelta(days=1))
            ended = await uow.sessions.delete_ended(now, timedelta(days=7))
            sent = await uow.outbox.delete_sent_before(now - timedelta(days=30))
            await uow.commit()

        async with services.uow() as uow:
            assert (1, 2, 1) == (links, ended, sent)
            assert await uow.login_links.get_by_hash(f"{2:064x}") is not None
            assert ["s2"] == [s.id for s in await uow.sessions.list_for_user("u1")]
            assert ["m003", "m002"] == [m.id for m in await uow.outbox.list()]
