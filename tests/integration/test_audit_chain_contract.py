"""The hash-chained audit trail on memory, SQLite and Postgres: appends chain per
workspace, queries page by keyset, and verification finds edits and deletions."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, update

from adapters.sql import make_engine
from adapters.sql.tables import audit_chain_heads, audit_events
from adapters.sql.uow import SqlUnitOfWork
from entrypoints.bootstrap import Services, bootstrap
from entrypoints.settings import Settings
from saascore.audit import GENESIS, verify_chain
from saascore.models import AuditEvent, AuditQuery

T0 = datetime(2026, 6, 1, tzinfo=UTC)


def event(
    n: int, workspace_id: str | None = "w1", action: str = "member.added", actor: str = "u1"
) -> AuditEvent:
    return AuditEvent(
        id=f"e{n}",
        workspace_id=workspace_id,
        actor_id=actor,
        action=action,
        target=f"t{n}",
        data={"n": n},
        ip="192.0.2.1",
        created_at=T0 + timedelta(minutes=n),
    )


async def append_all(services: Services, events: list[AuditEvent]) -> list[AuditEvent]:
    async with services.uow() as uow:
        appended = [await uow.audit.append(e) for e in events]
        await uow.commit()
    return appended


class TestChaining:
    async def test_each_workspace_has_its_own_chain(self, services: Services) -> None:
        """An event's prev_hash is the hash of the previous event of the same workspace."""
        a1, b1, a2, g1 = await append_all(
            services,
            [
                event(1),
                event(2, "w2"),
                event(3),
                event(4, None, "auth.login"),
            ],
        )

        assert (GENESIS, GENESIS, a1.hash, GENESIS) == (
            a1.prev_hash,
            b1.prev_hash,
            a2.prev_hash,
            g1.prev_hash,
        )
        async with services.uow() as uow:
            assert {"w1", "w2", None} == set(await uow.audit.chains())
            head = await uow.audit.head("w1")
        assert head is not None
        assert (a2.seq, a2.hash) == (head.last_seq, head.last_hash)

    async def test_an_untouched_chain_verifies(self, services: Services) -> None:
        """Verification recomputes every hash and finds nothing wrong."""
        await append_all(services, [event(n) for n in range(1, 8)])

        async with services.uow() as uow:
            assert await verify_chain(uow, "w1", page=3) is None

    async def test_concurrent_appends_never_fork_a_chain(self, services: Services) -> None:
        """Appends from parallel units of work queue on the chain's head."""

        async def one(n: int) -> None:
            async with services.uow() as uow:
                await uow.audit.append(event(n))
                await asyncio.sleep(0.01)
                await uow.commit()

        await asyncio.gather(*(one(n) for n in range(1, 9)))

        async with services.uow() as uow:
            assert await verify_chain(uow, "w1") is None
            assert 8 == len(await uow.audit.chain("w1"))


class TestQueries:
    async def test_pages_are_newest_first_and_keyset_paged(self, services: Services) -> None:
        """before_seq continues a page exactly where the last one stopped."""
        await append_all(services, [event(n) for n in range(1, 8)])

        async with services.uow() as uow:
            first = await uow.audit.query(AuditQuery("w1", limit=3))
            second = await uow.audit.query(AuditQuery("w1", limit=3, before_seq=first[-1].seq))

        assert ["e7", "e6", "e5", "e4", "e3", "e2"] == [e.id for e in [*first, *second]]

    async def test_filters_by_action_actor_and_time(self, services: Services) -> None:
        """Filters combine; since is inclusive and until exclusive."""
        await append_all(
            services,
            [
                event(1, action="a"),
                event(2, action="b"),
                event(3, action="a", actor="u2"),
                event(4, action="a"),
                event(5, "w2", action="a"),
            ],
        )

        async with services.uow() as uow:
            by_action = await uow.audit.query(AuditQuery("w1", action="a"))
            by_actor = await uow.audit.query(AuditQuery("w1", actor_id="u2"))
            by_time = await uow.audit.query(
                AuditQuery("w1", since=T0 + timedelta(minutes=2), until=T0 + timedelta(minutes=4))
            )

        assert (["e4", "e3", "e1"], ["e3"], ["e3", "e2"]) == (
            [e.id for e in by_action],
            [e.id for e in by_actor],
            [e.id for e in by_time],
        )


class TestTamperingOnSql:
    async def tamper(self, url: str, statement: object) -> None:
        engine = make_engine(url)
        try:
            async with SqlUnitOfWork(engine) as uow:
                await uow.execute(statement)  # type: ignore[arg-type]
                await uow.commit()
        finally:
            await engine.dispose()

    async def test_an_edited_row_is_named(self, sqlite_url: str) -> None:
        """Changing a recorded value breaks that row's hash."""
        services = bootstrap(Settings(database_url=sqlite_url, environment="test"))
        appended = await append_all(services, [event(n) for n in range(1, 6)])
        await self.tamper(
            sqlite_url, update(audit_events).where(audit_events.c.id == "e3").values(ip="10.9.9.9")
        )

        async with services.uow() as uow:
            broken = await verify_chain(uow, "w1")
        await services.aclose()

        assert broken is not None
        assert (appended[2].seq, "this event was changed") == (broken.seq, broken.reason)

    async def test_deleted_rows_are_found(self, sqlite_url: str) -> None:
        """Removing a row breaks the next one; removing the newest contradicts the head."""
        services = bootstrap(Settings(database_url=sqlite_url, environment="test"))
        appended = await append_all(services, [event(n) for n in range(1, 6)])
        await self.tamper(sqlite_url, delete(audit_events).where(audit_events.c.id == "e2"))
        async with services.uow() as uow:
            middle = await verify_chain(uow, "w1")
        await self.tamper(
            sqlite_url, delete(audit_events).where(audit_events.c.id.in_(["e1", "e3", "e4", "e5"]))
        )
        async with services.uow() as uow:
            newest = await verify_chain(uow, "w1")
        await services.aclose()

        assert middle is not None
        assert (appended[2].seq, "an earlier event was changed or removed") == (
            middle.seq,
            middle.reason,
        )
        assert newest is not None
        assert newest.seq is None

    async def test_a_removed_chain_head_is_found(self, sqlite_url: str) -> None:
        """Deleting the head row does not hide the chain, nor tampering inside it."""
        services = bootstrap(Settings(database_url=sqlite_url, environment="test"))
        await append_all(services, [event(n) for n in range(1, 4)])
        await self.tamper(sqlite_url, delete(audit_chain_heads))

        async with services.uow() as uow:
            chains = await uow.audit.chains()
            broken = await verify_chain(uow, "w1")
        await services.aclose()

        assert ["w1"] == list(chains)
        assert broken is not None
        assert "where this chain ends was removed" in broken.reason
