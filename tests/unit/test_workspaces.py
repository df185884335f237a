"""The workspace and membership rules, on in-memory adapters."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from saascore import workspaces as ws
from saascore.errors import Conflict, InvalidInput, LastOwner, NotFound, PermissionDenied
from saascore.models import Actor, AuditQuery, Role, User, Workspace
from saascore.ports import UnitOfWork
from tests.support.context import ctx_of, tx_of
from tests.support.world import World, as_


@pytest.fixture
def world() -> World:
    return World.in_memory()


class Team:
    """Acme Inc with an owner, an admin and a member, and an outsider with a workspace."""

    owner: User
    admin: User
    member: User
    outsider: User
    acme: Workspace
    other: Workspace


@pytest.fixture
async def team(world: World) -> Team:
    t = Team()
    t.owner = await world.user("owner@example.com", "Olive Owner")
    t.admin = await world.user("admin@example.com")
    t.member = await world.user("member@example.com")
    t.outsider = await world.user("outsider@example.com")
    t.acme = await world.workspace(t.owner, "Acme Inc")
    t.other = await world.workspace(t.outsider, "Elsewhere")
    await world.join(t.acme, t.admin, Role.ADMIN)
    await world.join(t.acme, t.member, Role.MEMBER)
    return t


def call(
    world: World, use_case: Callable[..., Awaitable[Any]], actor: Actor, *args: Any, **kwargs: Any
) -> Awaitable[Any]:
    """Run a use case as ``actor``: one taking a ``Tx`` in a committed unit of work, one
    taking a ``Ctx`` (it opens its own transactions) as it is."""
    s = world.services
    if use_case is ws.delete_workspace:
        return use_case(ctx_of(s, actor), *args, **kwargs)

    async def work(uow: UnitOfWork) -> Any:
        return await use_case(tx_of(s, uow, actor), *args, **kwargs)

    return world.run(work)


class TestCreateWorkspace:
    async def test_creator_becomes_owner(self, world: World) -> None:
        """The user who creates a workspace is its only member, as owner."""
        fran = await world.user("fran@example.com")

        acme = await world.workspace(fran, "Acme Inc")

        assert await world.role_of(acme, fran) == Role.OWNER
        summaries = await world.run(lambda uow: ws.list_workspaces(tx_of(None, uow), fran.id))
        assert [(acme.id, Role.OWNER)] == [(s.workspace.id, s.role) for s in summaries]

    async def test_slug_is_derived_from_the_name_and_unique(self, world: World) -> None:
        """Slugs are URL-safe and a taken slug gets the next free number."""
        fran = await world.user("fran@example.com")

        first = await world.workspace(fran, "Café Ünicode & Co!")
        second = await world.workspace(fran, "Cafe unicode co")
        third = await world.workspace(fran, "CAFE UNICODE CO")

        assert [first.slug, second.slug, third.slug] == [
            "cafe-unicode-co",
            "cafe-unicode-co-2",
            "cafe-unicode-co-3",
        ]

    @pytest.mark.parametrize("name", ["", "   ", "x" * 101])
    async def test_bad_names_are_refused(self, world: World, name: str) -> None:
        """A workspace name must be 1 to 100 characters once trimmed."""
        fran = await world.user("fran@example.com")

        with pytest.raises(InvalidInput) as caught:
            await world.workspace(fran, name)

        assert list(caught.value.fields) == ["name"]

    async def test_creation_is_audited(self, world: World) -> None:
        """Creating writes workspace.created with actor, ip and request id."""
        fran = await world.user("fran@example.com")

        acme = await world.workspace(fran, "Acme Inc")

        [event] = await world.audit(acme)
        assert ("workspace.created", fran.id, "203.0.113.9", "req-test") == (
            event.action,
            event.actor_id,
            event.ip,
            event.request_id,
        )
        assert {"name": "Acme Inc", "slug": "acme-inc", "owner": fran.id} == dict(event.data)

    async def test_the_system_creates_for_a_named_owner(self, world: World) -> None:
        """Operators create workspaces on someone's behalf."""
        fran = await world.user("fran@example.com")

        acme = await call(world, ws.create_workspace, Actor.system(), name="Acme", owner_id=fran.id)

        assert await world.role_of(acme, fran) == Role.OWNER

    async def test_the_system_needs_an_owner(self, world: World) -> None:
        """A workspace without an owner is refused."""
        with pytest.raises(InvalidInput):
            await call(world, ws.create_workspace, Actor.system(), name="Acme")


class TestVisibility:
    @pytest.mark.parametrize(
        ("use_case", "kwargs"),
        [
            (ws.rename_workspace, {"name": "Mine now"}),
            (ws.change_role, {"user_id": "x", "role": Role.MEMBER}),
            (ws.remove_member, {"user_id": "x"}),
            (ws.transfer_ownership, {"user_id": "x"}),
            (ws.add_member, {"user_id": "x", "role": Role.MEMBER}),
            (ws.delete_workspace, {}),
            (ws.leave_workspace, {}),
        ],
    )
    async def test_outsiders_get_not_found_as_for_a_missing_workspace(
        self,
        world: World,
        team: Team,
        use_case: Callable[..., Awaitable[Any]],
        kwargs: dict[str, Any],
    ) -> None:
        """A non-member cannot tell another workspace exists, and changes nothing."""
        before = await world.audit()

        with pytest.raises(NotFound) as theirs:
            await call(world, use_case, as_(team.outsider), team.acme.id, **kwargs)
        with pytest.raises(NotFound) as missing:
            await call(world, use_case, as_(team.outsider), "no-such-id", **kwargs)

        assert str(missing.value) == str(theirs.value)
        assert before == await world.audit()

    async def test_reads_need_membership(self, world: World, team: Team) -> None:
        """Members read the workspace and its members; outsiders get NotFound."""
        summary = await world.run(
            lambda uow: ws.get_workspace(tx_of(None, uow, as_(team.member)), team.acme.id)
        )
        members = await world.run(
            lambda uow: ws.list_members(tx_of(None, uow, as_(team.member)), team.acme.id)
        )

        assert summary.role == Role.MEMBER
        assert [m.user.email for m in members] == [
            "admin@example.com",
            "member@example.com",
            "owner@example.com",
        ]
        with pytest.raises(NotFound):
            await world.run(
                lambda uow: ws.list_members(tx_of(None, uow, as_(team.outsider)), team.acme.id)
            )


class TestRename:
    async def test_admins_rename_and_the_slug_stays(self, world: World, team: Team) -> None:
        """Renaming keeps the slug so links keep working, and is audited."""
        renamed = await call(
            world, ws.rename_workspace, as_(team.admin), team.acme.id, name="Acme Corp"
        )

        assert (renamed.name, renamed.slug) == ("Acme Corp", "acme-inc")
        event = (await world.audit(team.acme))[-1]
        assert (event.action, dict(event.data)) == (
            "workspace.renamed",
            {"from": "Acme Inc", "to": "Acme Corp"},
        )

    async def test_members_may_not_rename(self, world: World, team: Team) -> None:
        """Renaming needs the admin role."""
        with pytest.raises(PermissionDenied):
            await call(world, ws.rename_workspace, as_(team.member), team.acme.id, name="Mine")


class TestChangeRole:
    async def test_admins_promote_members_to_admin(self, world: World, team: Team) -> None:
        """An admin may grant up to admin, and the change is audited with before and after."""
        await call(
            world,
            ws.change_role,
            as_(team.admin),
            team.acme.id,
            user_id=team.member.id,
            role=Role.ADMIN,
        )

        assert await world.role_of(team.acme, team.member) == Role.ADMIN
        event = (await world.audit(team.acme))[-1]
        assert ("member.role_changed", team.member.id, {"from": "member", "to": "admin"}) == (
            event.action,
            event.target,
            dict(event.data),
        )

    async def test_nobody_grants_above_their_own_role(self, world: World, team: Team) -> None:
        """An admin cannot make anyone an owner."""
        with pytest.raises(PermissionDenied):
            await call(
                world,
                ws.change_role,
                as_(team.admin),
                team.acme.id,
                user_id=team.member.id,
                role=Role.OWNER,
            )
        assert await world.role_of(team.acme, team.member) == Role.MEMBER

    async def test_admins_cannot_touch_owners(self, world: World, team: Team) -> None:
        """An admin cannot demote someone who outranks them."""
        with pytest.raises(PermissionDenied):
            await call(
                world,
                ws.change_role,
                as_(team.admin),
                team.acme.id,
                user_id=team.owner.id,
                role=Role.MEMBER,
            )

    async def test_members_change_no_roles(self, world: World, team: Team) -> None:
        """Members cannot even demote themselves through role changes."""
        with pytest.raises(PermissionDenied):
            await call(
                world,
                ws.change_role,
                as_(team.member),
                team.acme.id,
                user_id=team.member.id,
                role=Role.MEMBER,
            )

    async def test_owners_make_owners(self, world: World, team: Team) -> None:
        """An owner may grant the owner role."""
        await call(
            world,
            ws.change_role,
            as_(team.owner),
            team.acme.id,
            user_id=team.admin.id,
            role=Role.OWNER,
        )

        assert await world.role_of(team.acme, team.admin) == Role.OWNER

    async def test_the_last_owner_cannot_step_down(self, world: World, team: Team) -> None:
        """Demoting the only owner is a LastOwner conflict."""
        with pytest.raises(LastOwner):
            await call(
                world,
                ws.change_role,
                as_(team.owner),
                team.acme.id,
                user_id=team.owner.id,
                role=Role.ADMIN,
            )
        assert await world.role_of(team.acme, team.owner) == Role.OWNER

    async def test_an_owner_with_a_co_owner_can_step_down(self, world: World, team: Team) -> None:
        """With two owners, one may become admin."""
        await call(
            world,
            ws.change_role,
            as_(team.owner),
            team.acme.id,
            user_id=team.admin.id,
            role=Role.OWNER,
        )

        await call(
            world,
            ws.change_role,
            as_(team.owner),
            team.acme.id,
            user_id=team.owner.id,
            role=Role.ADMIN,
        )

        assert await world.role_of(team.acme, team.owner) == Role.ADMIN

    async def test_setting_the_same_role_records_nothing(self, world: World, team: Team) -> None:
        """A no-op change writes no audit event."""
        before = await world.audit(team.acme)

        await call(
            world,
            ws.change_role,
            as_(team.owner),
            team.acme.id,
            user_id=team.member.id,
            role=Role.MEMBER,
        )

        assert before == await world.audit(team.acme)

    async def test_unknown_members_are_not_found(self, world: World, team: Team) -> None:
        """Changing the role of a non-member is NotFound."""
        with pytest.raises(NotFound):
            await call(
                world,
                ws.change_role,
                as_(team.owner),
                team.acme.id,
                user_id=team.outsider.id,
                role=Role.MEMBER,
            )


class TestRemoveMember:
    async def test_admins_remove_members(self, world: World, team: Team) -> None:
        """An admin removes a member, and it is audited."""
        await call(world, ws.remove_member, as_(team.admin), team.acme.id, user_id=team.member.id)

        assert await world.role_of(team.acme, team.member) is None
        assert (await world.audit(team.acme))[-1].action == "member.removed"

    async def test_admins_cannot_remove_owners(self, world: World, team: Team) -> None:
        """Removing someone of a higher role is denied."""
        with pytest.raises(PermissionDenied):
            await call(
                world, ws.remove_member, as_(team.admin), team.acme.id, user_id=team.owner.id
            )

    async def test_members_remove_nobody(self, world: World, team: Team) -> None:
        """Members cannot remove others."""
        with pytest.raises(PermissionDenied):
            await call(
                world, ws.remove_member, as_(team.member), team.acme.id, user_id=team.admin.id
            )

    async def test_removing_yourself_is_leaving(self, world: World, team: Team) -> None:
        """A member may remove themselves; it is recorded as leaving."""
        await call(world, ws.remove_member, as_(team.member), team.acme.id, user_id=team.member.id)

        assert await world.role_of(team.acme, team.member) is None
        assert (await world.audit(team.acme))[-1].action == "member.left"

    async def test_the_system_cannot_remove_the_last_owner(self, world: World, team: Team) -> None:
        """Even operators keep a workspace owned."""
        with pytest.raises(LastOwner):
            await call(world, ws.remove_member, Actor.system(), team.acme.id, user_id=team.owner.id)


class TestLeave:
    async def test_members_leave(self, world: World, team: Team) -> None:
        """Leaving removes the membership."""
        await call(world, ws.leave_workspace, as_(team.admin), team.acme.id)

        assert await world.role_of(team.acme, team.admin) is None

    async def test_the_last_owner_cannot_leave(self, world: World, team: Team) -> None:
        """The last owner must transfer ownership first."""
        with pytest.raises(LastOwner):
            await call(world, ws.leave_workspace, as_(team.owner), team.acme.id)


class TestTransferOwnership:
    async def test_the_owner_hands_over_and_becomes_admin(self, world: World, team: Team) -> None:
        """The new owner is the target; the old owner stays on as admin."""
        await call(
            world, ws.transfer_ownership, as_(team.owner), team.acme.id, user_id=team.member.id
        )

        assert (
            await world.role_of(team.acme, team.member),
            await world.role_of(team.acme, team.owner),
        ) == (Role.OWNER, Role.ADMIN)
        event = (await world.audit(team.acme))[-1]
        assert ("workspace.ownership_transferred", team.member.id) == (event.action, event.target)

    async def test_admins_cannot_transfer(self, world: World, team: Team) -> None:
        """Only owners transfer ownership."""
        with pytest.raises(PermissionDenied):
            await call(
                world, ws.transfer_ownership, as_(team.admin), team.acme.id, user_id=team.admin.id
            )

    async def test_only_to_members(self, world: World, team: Team) -> None:
        """The new owner must already be a member."""
        with pytest.raises(NotFound):
            await call(
                world,
                ws.transfer_ownership,
                as_(team.owner),
                team.acme.id,
                user_id=team.outsider.id,
            )

    async def test_not_to_yourself(self, world: World, team: Team) -> None:
        """Transferring to yourself is refused as bad input."""
        with pytest.raises(InvalidInput):
            await call(
                world, ws.transfer_ownership, as_(team.owner), team.acme.id, user_id=team.owner.id
            )

    async def test_the_system_replaces_every_owner(self, world: World, team: Team) -> None:
        """When an operator transfers, the previous owners become admins."""
        await call(
            world, ws.transfer_ownership, Actor.system(), team.acme.id, user_id=team.admin.id
        )

        assert (
            await world.role_of(team.acme, team.admin),
            await world.role_of(team.acme, team.owner),
        ) == (Role.OWNER, Role.ADMIN)


class TestAddMember:
    async def test_admins_add_up_to_admin(self, world: World, team: Team) -> None:
        """An admin adds a user as admin, not as owner."""
        await call(
            world,
            ws.add_member,
            as_(team.admin),
            team.acme.id,
            user_id=team.outsider.id,
            role=Role.ADMIN,
        )
        assert await world.role_of(team.acme, team.outsider) == Role.ADMIN

        newcomer = await world.user("newcomer@example.com")
        with pytest.raises(PermissionDenied):
            await call(
                world,
                ws.add_member,
                as_(team.admin),
                team.acme.id,
                user_id=newcomer.id,
                role=Role.OWNER,
            )
        assert await world.role_of(team.acme, newcomer) is None

    async def test_existing_members_conflict(self, world: World, team: Team) -> None:
        """Adding a member twice is a Conflict."""
        with pytest.raises(Conflict):
            await call(
                world,
                ws.add_member,
                as_(team.owner),
                team.acme.id,
                user_id=team.member.id,
                role=Role.MEMBER,
            )


class TestDelete:
    async def test_owners_delete_and_the_audit_trail_stays(self, world: World, team: Team) -> None:
        """Deleting removes the workspace and memberships; its history remains."""
        await call(world, ws.delete_workspace, as_(team.owner), team.acme.id)

        assert (
            list(await world.run(lambda uow: ws.list_workspaces(tx_of(None, uow), team.member.id)))
            == []
        )
        assert await world.run(lambda uow: uow.workspaces.get(team.acme.id)) is None
        assert (await world.audit(team.acme))[-1].action == "workspace.deleted"

    async def test_admins_cannot_delete(self, world: World, team: Team) -> None:
        """Deletion is for owners."""
        with pytest.raises(PermissionDenied):
            await call(world, ws.delete_workspace, as_(team.admin), team.acme.id)


class TestReadAuditLog:
    async def test_admins_read_members_may_not_outsiders_see_nothing(
        self, world: World, team: Team
    ) -> None:
        """The audit log is for admins and owners; outsiders get NotFound."""
        query = AuditQuery(team.acme.id, limit=100)

        events = await world.run(
            lambda uow: ws.read_audit_log(tx_of(None, uow, as_(team.admin)), query)
        )
        with pytest.raises(PermissionDenied):
            await world.run(
                lambda uow: ws.read_audit_log(tx_of(None, uow, as_(team.member)), query)
            )
        with pytest.raises(NotFound):
            await world.run(
                lambda uow: ws.read_audit_log(tx_of(None, uow, as_(team.outsider)), query)
            )

        assert ["member.added", "member.added", "workspace.created"] == [e.action for e in events]
