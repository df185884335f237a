"""Invitations, disabled users and the demo seed: the rules, on memory adapters."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from adapters.clock import FrozenClock
from entrypoints.cli.seed import seed_demo_data
from saascore import auth
from saascore import invites as inv
from saascore.audit import verify_chain
from saascore.errors import (
    Conflict,
    InviteGone,
    NotAuthenticated,
    NotFound,
    PermissionDenied,
    TokenInvalid,
)
from saascore.models import Actor, InviteStatus, Role, User, Workspace
from saascore.policies import InvitePolicy
from saascore.users import disable_user, enable_user
from tests.support.context import tx_of, unsealed
from tests.support.world import World, as_

POLICY = InvitePolicy(base_url="https://app.example.com")


class Acme:
    owner: User
    admin: User
    member: User
    workspace: Workspace


@pytest.fixture
def world() -> World:
    return World.in_memory()


@pytest.fixture
async def acme(world: World) -> Acme:
    a = Acme()
    a.owner = await world.user("owner@example.com", "Olive Owner")
    a.admin = await world.user("admin@example.com")
    a.member = await world.user("member@example.com")
    a.workspace = await world.workspace(a.owner, "Acme Inc")
    await world.join(a.workspace, a.admin, Role.ADMIN)
    await world.join(a.workspace, a.member, Role.MEMBER)
    return a


def clock_of(world: World) -> FrozenClock:
    clock = world.services.clock
    assert isinstance(clock, FrozenClock)
    return clock


async def invite(
    world: World, by: User, workspace: Workspace, email: str, role: Role = Role.MEMBER
) -> inv.Issued:
    s = world.services
    return await world.run(
        lambda uow: inv.create_invite(
            tx_of(s, uow, as_(by), POLICY), workspace.id, email=email, role=role
        )
    )


async def accept(world: World, user: User, token: str) -> object:
    s = world.services
    return await world.run(
        lambda uow: inv.accept_invite(tx_of(s, uow, as_(user), s.invite_policy), user, token)
    )


class TestCreate:
    async def test_the_email_carries_the_accept_link_the_api_never_shows(
        self, world: World, acme: Acme
    ) -> None:
        """The token is in the queued email only; the invite keeps its hash."""
        issued = await invite(world, acme.admin, acme.workspace, " New@Example.com ")

        [row] = await world.run(lambda uow: uow.outbox.list())
        queued = await unsealed(world.services, row)
        assert "new@example.com" == issued.invite.email
        assert f"https://app.example.com/invites/accept?token={issued.token}" in (
            queued.message.text
        )
        assert "Olive Owner" not in queued.message.subject  # the admin invited, not the owner
        assert issued.token not in repr(issued.invite)

    async def test_nobody_invites_above_their_role(self, world: World, acme: Acme) -> None:
        """Admins invite members and admins, not owners; members invite nobody."""
        with pytest.raises(PermissionDenied):
            await invite(world, acme.admin, acme.workspace, "boss@example.com", Role.OWNER)
        with pytest.raises(PermissionDenied):
            await invite(world, acme.member, acme.workspace, "friend@example.com")
        await invite(world, acme.owner, acme.workspace, "boss@example.com", Role.OWNER)

    async def test_one_pending_invite_per_address(self, world: World, acme: Acme) -> None:
        """A second invite for a pending address is a Conflict; members cannot be invited."""
        await invite(world, acme.owner, acme.workspace, "new@example.com")

        with pytest.raises(Conflict):
            await invite(world, acme.admin, acme.workspace, "NEW@example.com")
        with pytest.raises(Conflict):
            await invite(world, acme.owner, acme.workspace, "member@example.com")

    async def test_an_expired_invite_makes_way_for_a_new_one(
        self, world: World, acme: Acme
    ) -> None:
        """After expiry the address can be invited again, and the old link stays dead."""
        old = await invite(world, acme.owner, acme.workspace, "new@example.com")
        clock_of(world).advance(days=7)

        new = await invite(world, acme.owner, acme.workspace, "new@example.com")

        s = world.services
        with pytest.raises(InviteGone):
            await world.run(lambda uow: inv.view_invite(tx_of(s, uow), old.token))
        assert (
            "Acme Inc"
            == (
                await world.run(lambda uow: inv.view_invite(tx_of(s, uow), new.token))
            ).workspace.name
        )


class TestAccept:
    async def test_the_invited_user_joins_with_the_invited_role(
        self, world: World, acme: Acme
    ) -> None:
        """Accepting makes a membership and is audited as invite.accepted."""
        issued = await invite(world, acme.owner, acme.workspace, "new@example.com", Role.ADMIN)
        newbie = await world.user("new@example.com")

        await accept(world, newbie, issued.token)

        assert Role.ADMIN == await world.role_of(acme.workspace, newbie)
        event = (await world.audit(acme.workspace))[-1]
        assert ("invite.accepted", newbie.id) == (event.action, event.actor_id)

    async def test_only_the_invited_address_may_accept(self, world: World, acme: Acme) -> None:
        """Someone else holding the link cannot take the invite over."""
        issued = await invite(world, acme.owner, acme.workspace, "new@example.com")
        thief = await world.user("thief@example.com")

        with pytest.raises(PermissionDenied):
            await accept(world, thief, issued.token)
        assert await world.role_of(acme.workspace, thief) is None

    async def test_an_invite_is_accepted_once(self, world: World, acme: Acme) -> None:
        """A used invite is gone."""
        issued = await invite(world, acme.owner, acme.workspace, "new@example.com")
        newbie = await world.user("new@example.com")
        await accept(world, newbie, issued.token)

        with pytest.raises(InviteGone):
            await accept(world, newbie, issued.token)

    async def test_expired_revoked_replaced_and_declined_invites_are_gone(
        self, world: World, acme: Acme
    ) -> None:
        """Every ended invite answers InviteGone (HTTP 410); unknown tokens NotFound."""
        s = world.services
        newbie = await world.user("new@example.com")
        expired = await invite(world, acme.owner, acme.workspace, "new@example.com")
        clock_of(world).advance(days=8)
        revoked = await invite(world, acme.owner, acme.workspace, "new@example.com")
        await world.run(
            lambda uow: inv.revoke_invite(
                tx_of(s, uow, as_(acme.owner)), acme.workspace.id, revoked.invite.id
            )
        )
        replaced = await invite(world, acme.owner, acme.workspace, "new@example.com")
        resent = await world.run(
            lambda uow: inv.resend_invite(
                tx_of(s, uow, as_(acme.admin), POLICY), acme.workspace.id, replaced.invite.id
            )
        )
        await world.run(lambda uow: inv.decline_invite(tx_of(s, uow, Actor.system()), resent.token))

        for issued in (expired, revoked, replaced, resent):
            with pytest.raises(InviteGone):
                await accept(world, newbie, issued.token)
        with pytest.raises(NotFound):
            await accept(world, newbie, "never-issued")

    async def test_a_resend_has_a_new_link_and_expiry(self, world: World, acme: Acme) -> None:
        """The resent invite works where the original no longer does."""
        s = world.services
        first = await invite(world, acme.owner, acme.workspace, "new@example.com")
        clock_of(world).advance(days=6)
        resent = await world.run(
            lambda uow: inv.resend_invite(
                tx_of(s, uow, as_(acme.owner), POLICY), acme.workspace.id, first.invite.id
            )
        )
        clock_of(world).advance(days=6)
        newbie = await world.user("new@example.com")

        await accept(world, newbie, resent.token)

        assert resent.invite.expires_at - first.invite.expires_at == timedelta(days=6)
        assert Role.MEMBER == await world.role_of(acme.workspace, newbie)

    async def test_admins_cannot_manage_owner_invites(self, world: World, acme: Acme) -> None:
        """An owner's invitation for an owner is beyond an admin."""
        s = world.services
        issued = await invite(world, acme.owner, acme.workspace, "boss@example.com", Role.OWNER)

        with pytest.raises(PermissionDenied):
            await world.run(
                lambda uow: inv.revoke_invite(
                    tx_of(s, uow, as_(acme.admin)), acme.workspace.id, issued.invite.id
                )
            )

    async def test_listing_needs_admin_and_shows_the_inviter(
        self, world: World, acme: Acme
    ) -> None:
        """Pending invites list with their inviter, for admins and owners only."""
        await invite(world, acme.owner, acme.workspace, "new@example.com")

        [view] = await world.run(
            lambda uow: inv.list_invites(tx_of(None, uow, as_(acme.admin)), acme.workspace.id)
        )
        assert ("new@example.com", "Olive Owner", InviteStatus.PENDING) == (
            view.invite.email,
            view.inviter.name if view.inviter else None,
            view.invite.status,
        )
        with pytest.raises(PermissionDenied):
            await world.run(
                lambda uow: inv.list_invites(tx_of(None, uow, as_(acme.member)), acme.workspace.id)
            )


class TestDisabledUsers:
    async def test_disabling_ends_sessions_and_sign_in(self, world: World) -> None:
        """A disabled user's sessions end at once; links are refused; enabling restores."""
        s = world.services
        policy = auth.AuthPolicy(base_url="https://app.example.com")
        fran = await world.user("fran@example.com")
        await world.run(
            lambda uow: auth.request_login_link(
                tx_of(s, uow, Actor(None), policy), email=fran.email
            )
        )
        row = (await world.run(lambda uow: uow.outbox.list()))[0]
        text = (await unsealed(world.services, row)).message.text
        match = re.search(r"token=([\w-]+)", text)
        assert match is not None
        signed_in = await world.run(
            lambda uow: auth.confirm_login_link(
                tx_of(s, uow, Actor(None), policy), token=match.group(1)
            )
        )

        await world.run(lambda uow: disable_user(tx_of(s, uow, Actor.system()), fran.id))

        with pytest.raises(NotAuthenticated):
            await world.run(
                lambda uow: auth.authenticate(tx_of(s, uow, None, policy), signed_in.token)
            )
        clock_of(world).advance(seconds=1)  # so the newest email is this one
        await world.run(
            lambda uow: auth.request_login_link(
                tx_of(s, uow, Actor(None), policy), email=fran.email
            )
        )
        row = (await world.run(lambda uow: uow.outbox.list()))[0]
        newest = (await unsealed(world.services, row)).message
        assert "disabled" in newest.text
        assert "token=" not in newest.text
        await world.run(lambda uow: enable_user(tx_of(s, uow, Actor.system()), fran.id))
        assert ["user.created", "auth.login", "user.disabled", "user.enabled"] == [
            e.action for e in await world.audit()
        ]

    async def test_a_link_sent_before_disabling_no_longer_works(self, world: World) -> None:
        """Disabling also defeats links already in the mailbox."""
        s = world.services
        policy = auth.AuthPolicy(base_url="https://app.example.com")
        fran = await world.user("fran@example.com")
        await world.run(
            lambda uow: auth.request_login_link(
                tx_of(s, uow, Actor(None), policy), email=fran.email
            )
        )
        row = (await world.run(lambda uow: uow.outbox.list()))[0]
        text = (await unsealed(world.services, row)).message.text
        match = re.search(r"token=([\w-]+)", text)
        assert match is not None
        await world.run(lambda uow: disable_user(tx_of(s, uow, Actor.system()), fran.id))

        with pytest.raises(TokenInvalid):
            await world.run(
                lambda uow: auth.confirm_login_link(
                    tx_of(s, uow, Actor(None), policy), token=match.group(1)
                )
            )


class TestSeed:
    async def test_the_seed_is_idempotent_and_its_audit_trail_verifies(self, world: World) -> None:
        """Two runs add the data once, with pending invites and an unbroken history."""
        s = world.services

        first = await world.run(lambda uow: seed_demo_data(tx_of(s, uow)))
        second = await world.run(lambda uow: seed_demo_data(tx_of(s, uow)))

        assert (4, 3, 4, 2, 2) == (
            first.users,
            first.workspaces,
            first.memberships,
            first.invites,
            first.subscriptions,
        )
        assert not second.created_anything
        chains = await world.run(lambda uow: uow.audit.chains())
        for chain in chains:
            assert await world.run(lambda uow, c=chain: verify_chain(uow, c)) is None
        acme = await world.run(lambda uow: uow.workspaces.get_by_slug("demo-studio"))
        assert acme is not None
        [late] = await world.run(lambda uow: uow.invites.list_pending(acme.id))
        assert InviteStatus.EXPIRED == late.state_at(s.clock.now())
