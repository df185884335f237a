"""The unit-of-work contract, written once and run against every adapter: memory, a SQLite
file and Postgres (fixture ``services`` is parametrised over all three)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from attrs import evolve
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from entrypoints.bootstrap import Services
from saascore.errors import Conflict
from saascore.models import AuditEvent, Membership, Role, User, Workspace

T0 = datetime(2026, 3, 1, 12, 30, 15, 123456, tzinfo=UTC)


def user(n: int, **changes: object) -> User:
    values: dict[str, object] = {
        "id": f"u{n}",
        "email": f"user{n}@example.com",
        "name": f"User {n}",
        "created_at": T0 + timedelta(seconds=n),
    }
    values.update(changes)
    return User(**values)  # type: ignore[arg-type]


def workspace(n: int, name: str | None = None) -> Workspace:
    return Workspace(id=f"w{n}", name=name or f"Workspace {n}", slug=f"ws-{n}", created_at=T0)


async def seed_basic(services: Services) -> None:
    async with services.uow() as uow:
        for n in (1, 2, 3):
            await uow.users.add(user(n))
        await uow.workspaces.add(workspace(1, "Beta"))
        await uow.workspaces.add(workspace(2, "Alpha"))
        await uow.memberships.add(Membership("w1", "u1", Role.OWNER, T0))
        await uow.memberships.add(Membership("w1", "u2", Role.MEMBER, T0))
        await uow.memberships.add(Membership("w2", "u1", Role.ADMIN, T0))
        await uow.commit()


class TestTransactions:
    async def test_nothing_is_kept_without_commit(self, services: Services) -> None:
        """Leaving a unit of work without committing rolls it back."""
        async with services.uow() as uow:
            await uow.users.add(user(1))

        async with services.uow() as uow:
            assert await uow.users.get("u1") is None

    async def test_committed_work_is_kept(self, services: Services) -> None:
        """A commit makes every repository's changes durable together."""
        await seed_basic(services)

        async with services.uow() as uow:
            assert (await uow.users.get("u1")) == user(1)
            assert await uow.memberships.count_owners("w1") == 1

    async def test_rollback_discards_only_uncommitted_work(self, services: Services) -> None:
        """Work committed earlier in the same unit of work survives a later rollback."""
        async with services.uow() as uow:
            await uow.users.add(user(1))
            await uow.commit()
            await uow.users.add(user(2))
            await uow.rollback()

        async with services.uow() as uow:
            assert [u.id for u in await uow.users.list()] == ["u1"]

    async def test_changes_to_returned_objects_need_update(self, services: Services) -> None:
        """Objects handed out are copies: only update() stores a change."""
        await seed_basic(services)
        async with services.uow() as uow:
            found = await uow.users.get("u1")
            assert found is not None
            found.name = "Changed in memory only"
            await uow.commit()

        async with services.uow() as uow:
            assert (await uow.users.get("u1")).name == "User 1"  # type: ignore[union-attr]


class TestReadUnitsOfWork:
    async def test_readers_overlap_while_a_writer_holds_its_turn(self, services: Services) -> None:
        """A writer mid-transaction (on SQLite: holding the write turn) keeps no reader
        waiting: two readers are open at once beside it, each seeing only what was committed
        before it began; a reader begun after the commit sees the change."""
        await seed_basic(services)
        async with services.uow() as writer:
            await writer.users.update(evolve(user(1), name="Changed"))
            async with asyncio.timeout(5):
                async with services.reader() as first, services.reader() as second:
                    seen = [await first.users.get("u1"), await second.users.get("u1")]
                    # both open at once, and one reads again after the other
                    assert await first.users.get("u2") == user(2)
            await writer.commit()
        assert [u.name for u in seen if u] == ["User 1", "User 1"]
        async with services.reader() as after:
            changed = await after.users.get("u1")
        assert changed is not None
        assert changed.name == "Changed"

    async def test_a_reader_writes_and_commits_nothing(self, services: Services) -> None:
        """A read unit of work refuses to commit; on SQL it refuses any write statement,
        and whatever it changed (memory) is never kept."""
        async with services.reader() as reader:
            if services.settings.uses_memory_database:
                await reader.users.add(user(9))  # into its snapshot, never kept
            else:
                with pytest.raises(RuntimeError, match="cannot write"):
                    await reader.users.add(user(9))
            with pytest.raises(RuntimeError, match="nothing to commit"):
                await reader.commit()
        async with services.reader() as reader:
            assert await reader.users.get("u9") is None
            assert reader.read_only


class TestUsers:
    async def test_lookup_by_id_and_email(self, services: Services) -> None:
        """Users are found by id and by email, and missing ones are None."""
        await seed_basic(services)

        async with services.uow() as uow:
            assert user(2) == await uow.users.get_by_email("user2@example.com")
            assert await uow.users.get("nope") is None
            assert await uow.users.get_by_email("nope@example.com") is None

    async def test_emails_are_unique(self, services: Services) -> None:
        """A second user with a taken email is a Conflict."""
        await seed_basic(services)

        with pytest.raises(Conflict, match="email"):
            async with services.uow() as uow:
                await uow.users.add(user(9, email="user1@example.com"))

    async def test_update_and_list(self, services: Services) -> None:
        """Updates store name and last login; lists are ordered by email and paged."""
        await seed_basic(services)
        async with services.uow() as uow:
            await uow.users.update(user(3, name="Renamed", last_login_at=T0 + timedelta(days=1)))
            await uow.commit()

        async with services.uow() as uow:
            listed = await uow.users.list(limit=2, offset=1)
            changed = await uow.users.get("u3")
        assert [u.email for u in listed] == ["user2@example.com", "user3@example.com"]
        assert changed == user(3, name="Renamed", last_login_at=T0 + timedelta(days=1))


class TestWorkspaces:
    async def test_slugs_are_unique(self, services: Services) -> None:
        """A second workspace with a taken slug is a Conflict."""
        await seed_basic(services)

        with pytest.raises(Conflict, match="slug"):
            async with services.uow() as uow:
                await uow.workspaces.add(Workspace("w9", "Other", "ws-1", T0))

    async def test_slugs_like_finds_the_base_and_its_numbered_variants(
        self, services: Services
    ) -> None:
        """Only `base` and `base-…` match, not other slugs sharing a prefix."""
        async with services.uow() as uow:
            for n, slug in enumerate(["acme", "acme-2", "acme-inc", "acmeco", "xacme"]):
                await uow.workspaces.add(Workspace(f"w{n}", slug, slug, T0))
            await uow.commit()

        async with services.uow() as uow:
            assert {"acme", "acme-2", "acme-inc"} == await uow.workspaces.slugs_like("acme")

    async def test_a_users_workspaces_come_with_their_role_by_name(
        self, services: Services
    ) -> None:
        """list_for_user returns the user's workspaces ordered by name, with the role."""
        await seed_basic(services)

        async with services.uow() as uow:
            found = await uow.workspaces.list_for_user("u1")

        assert [(s.workspace.name, s.role) for s in found] == [
            ("Alpha", Role.ADMIN),
            ("Beta", Role.OWNER),
        ]

    async def test_delete_takes_the_memberships_along(self, services: Services) -> None:
        """Deleting a workspace deletes its memberships but no user."""
        await seed_basic(services)
        async with services.uow() as uow:
            await uow.workspaces.delete("w1")
            await uow.commit()

        async with services.uow() as uow:
            assert await uow.workspaces.get("w1") is None
            assert await uow.memberships.get("w1", "u1") is None
            assert list(await uow.memberships.list_members("w1")) == []
            assert await uow.users.get("u2") is not None

    async def test_update_and_lookup_by_slug(self, services: Services) -> None:
        """Renames are stored and workspaces are found by slug."""
        await seed_basic(services)
        async with services.uow() as uow:
            await uow.workspaces.update(Workspace("w1", "Gamma", "ws-1", T0))
            await uow.commit()

        async with services.uow() as uow:
            assert (await uow.workspaces.get_by_slug("ws-1")).name == "Gamma"  # type: ignore[union-attr]
            assert [w.name for w in await uow.workspaces.list()] == ["Alpha", "Gamma"]


class TestMemberships:
    async def test_a_user_joins_a_workspace_once(self, services: Services) -> None:
        """A second membership for the same pair is a Conflict."""
        await seed_basic(services)

        with pytest.raises(Conflict, match="already a member"):
            async with services.uow() as uow:
                await uow.memberships.add(Membership("w1", "u2", Role.ADMIN, T0))

    async def test_roles_change_and_owners_are_counted(self, services: Services) -> None:
        """set_role changes one membership; count_owners counts that workspace only."""
        await seed_basic(services)
        async with services.uow() as uow:
            await uow.memberships.set_role("w1", "u2", Role.OWNER)
            await uow.commit()

        async with services.uow() as uow:
            assert (
                await uow.memberships.count_owners("w1"),
                await uow.memberships.count_owners("w2"),
            ) == (2, 0)

    async def test_members_come_with_their_users_by_email(self, services: Services) -> None:
        """list_members joins each membership with its user."""
        await seed_basic(services)

        async with services.uow() as uow:
            members = await uow.memberships.list_members("w1")

        assert [(user(1), Role.OWNER), (user(2), Role.MEMBER)] == [
            (m.user, m.membership.role) for m in members
        ]

    async def test_remove(self, services: Services) -> None:
        """Removing a membership leaves the others."""
        await seed_basic(services)
        async with services.uow() as uow:
            await uow.memberships.remove("w1", "u2")
            await uow.commit()

        async with services.uow() as uow:
            assert [m.user.id for m in await uow.memberships.list_members("w1")] == ["u1"]


class TestAuditLog:
    async def test_events_round_trip_newest_first(self, services: Services) -> None:
        """Every field survives storage; lists are newest first, per workspace, limited."""
        events = [
            AuditEvent(
                id=f"e{n}",
                workspace_id="w1" if n % 2 else "w2",
                actor_id="u1",
                action="member.role_changed",
                target="u2",
                data={"from": "member", "to": "admin", "n": n, "nested": {"ok": [1, "two"]}},
                ip="2001:db8::1",
                user_agent="pytest/1.0",
                request_id=f"req-{n}",
                created_at=T0 + timedelta(microseconds=n),
            )
            for n in range(1, 6)
        ]
        async with services.uow() as uow:
            appended = [await uow.audit.append(event) for event in events]
            await uow.commit()

        async with services.uow() as uow:
            assert appended[::-1] == list(await uow.audit.list())
            assert [appended[4], appended[2]] == list(
                await uow.audit.list(workspace_id="w1", limit=2)
            )
        assert [e.id for e in events] == [e.id for e in appended]
        assert [dict(e.data) for e in events] == [dict(e.data) for e in appended]


@st.composite
def users(draw: st.DrawFn) -> User:
    moment = draw(
        st.datetimes(
            min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
        )
    )
    last = draw(st.none() | st.just(moment + timedelta(hours=1)))
    name = draw(st.text(st.characters(exclude_categories=("Cs", "Cc")), max_size=100))
    local = draw(st.from_regex(r"[a-z0-9._+-]{1,30}", fullmatch=True))
    return User(
        id="u-prop", email=f"{local}@example.com", name=name, created_at=moment, last_login_at=last
    )


class TestRoundTrip:
    @settings(
        max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
    )
    @given(original=users())
    async def test_user_row_model_row(self, services: Services, original: User) -> None:
        """Any user survives a write and a read unchanged (names, zones, microseconds)."""
        async with services.uow() as uow:
            await uow.users.add(original)
            stored = await uow.users.get(original.id)
            await uow.rollback()

        assert original == stored
