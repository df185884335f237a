"""A stateful property over invites and memberships: whatever mix of inviting, resending,
revoking, accepting, declining, expiring, removing, leaving and transferring happens, the
memory and SQL adapters agree on every outcome, no invite is accepted twice, and the
workspace always has an owner."""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from adapters.clock import FrozenClock
from entrypoints.bootstrap import Services
from saascore import invites as inv
from saascore import workspaces as ws
from saascore.models import Actor, Role, User
from saascore.policies import InvitePolicy
from saascore.ports import UnitOfWork
from saascore.users import register_user
from tests.support.context import tx_of
from tests.support.side_by_side import SideBySide

PEOPLE = 4
POLICY = InvitePolicy(base_url="https://app.example.com")
person = st.integers(min_value=0, max_value=PEOPLE - 1)
slot = st.integers(min_value=0, max_value=15)
roles = st.sampled_from(list(Role))

Step = Callable[[int, Services, UnitOfWork], Awaitable[Any]]


class Invitations(SideBySide):
    def __init__(self, make_sql_url: Callable[[], str]) -> None:
        super().__init__(make_sql_url, "invites")
        self.users: list[User] = []
        self.workspace = ""
        self.tokens: list[list[str]] = [[], []]  # per backend: the token of each invite
        self.invite_ids: list[str] = []

    def _actor(self, n: int) -> Actor:
        return Actor(user_id=self.users[n].id)

    def _token(self, index: int, n: int) -> str:
        tokens = self.tokens[index]
        return tokens[n % len(tokens)] if tokens else "no-invite-yet"

    def _invite_id(self, n: int) -> str:
        return self.invite_ids[n % len(self.invite_ids)] if self.invite_ids else "none"

    @initialize()
    def a_workspace_with_one_owner(self) -> None:
        async def setup(_: int, s: Services, uow: UnitOfWork) -> tuple[list[User], str]:
            people = [
                await register_user(tx_of(s, uow, Actor.system()), email=f"p{n}@example.com")
                for n in range(PEOPLE)
            ]
            created = await ws.create_workspace(
                tx_of(s, uow, Actor(user_id=people[0].id)), name="Acme"
            )
            return people, created.id

        (people, workspace), _ = self.each(setup)
        self.users, self.workspace = people, workspace

    def _issued(self, outcomes: list[Any]) -> None:
        if all(isinstance(o, inv.Issued) for o in outcomes):
            assert outcomes[0].invite.id == outcomes[1].invite.id
            self.invite_ids.append(outcomes[0].invite.id)
            for index, issued in enumerate(outcomes):
                self.tokens[index].append(issued.token)
        else:
            assert outcomes[0] == outcomes[1]

    @rule(actor=person, invitee=person, role=roles)
    def invite(self, actor: int, invitee: int, role: Role) -> None:
        self._issued(
            self.each(
                lambda _, s, uow: inv.create_invite(
                    tx_of(s, uow, self._actor(actor), POLICY),
                    self.workspace,
                    email=self.users[invitee].email,
                    role=role,
                )
            )
        )

    @rule(actor=person, n=slot)
    def resend(self, actor: int, n: int) -> None:
        self._issued(
            self.each(
                lambda _, s, uow: inv.resend_invite(
                    tx_of(s, uow, self._actor(actor), POLICY), self.workspace, self._invite_id(n)
                )
            )
        )

    @rule(actor=person, n=slot)
    def revoke(self, actor: int, n: int) -> None:
        self.agree(
            lambda _, s, uow: inv.revoke_invite(
                tx_of(s, uow, self._actor(actor)), self.workspace, self._invite_id(n)
            )
        )

    @rule(who=person, n=slot)
    def accept(self, who: int, n: int) -> None:
        self.agree(
            lambda i, s, uow: inv.accept_invite(
                tx_of(s, uow, self._actor(who), s.invite_policy), self.users[who], self._token(i, n)
            )
        )

    @rule(n=slot)
    def decline(self, n: int) -> None:
        self.agree(
            lambda i, s, uow: inv.decline_invite(tx_of(s, uow, Actor.system()), self._token(i, n))
        )

    @rule(days=st.integers(min_value=1, max_value=8))
    def time_passes(self, days: int) -> None:
        for services in self.backends:
            clock = services.clock
            assert isinstance(clock, FrozenClock)
            clock.advance(days=days)

    @rule(actor=person, other=person)
    def remove(self, actor: int, other: int) -> None:
        self.agree(
            lambda _, s, uow: ws.remove_member(
                tx_of(s, uow, self._actor(actor)), self.workspace, user_id=self.users[other].id
            )
        )

    @rule(actor=person)
    def leave(self, actor: int) -> None:
        self.agree(
            lambda _, s, uow: ws.leave_workspace(tx_of(s, uow, self._actor(actor)), self.workspace)
        )

    @rule(actor=person, other=person)
    def transfer(self, actor: int, other: int) -> None:
        self.agree(
            lambda _, s, uow: ws.transfer_ownership(
                tx_of(s, uow, self._actor(actor)), self.workspace, user_id=self.users[other].id
            )
        )

    @invariant()
    def agree_keep_an_owner_and_accept_each_invite_once(self) -> None:
        if not self.workspace:
            return

        async def state(_: int, s: Services, uow: UnitOfWork) -> Any:
            members = [
                (m.user.email, m.membership.role)
                for m in await uow.memberships.list_members(self.workspace)
            ]
            pending = sorted(
                (i.id, i.email, i.role) for i in await uow.invites.list_pending(self.workspace)
            )
            accepted = Counter(
                e.data["invite"]
                for e in await uow.audit.list(workspace_id=self.workspace, limit=10_000)
                if e.action == "invite.accepted"
            )
            return members, pending, accepted

        memory, sql = self.each(state)
        assert memory == sql
        members, _, accepted = memory
        assert any(role is Role.OWNER for _, role in members)
        assert all(count == 1 for count in accepted.values())


@pytest.mark.parametrize(("backend", "examples"), [("sqlite", 40), ("postgres", 10)])
def test_invites_and_members_stay_consistent(
    request: pytest.FixtureRequest, backend: str, examples: int
) -> None:
    """Memory and SQL agree step by step; invites accept once; an owner always remains."""
    databases = request.getfixturevalue(f"{backend}_databases")
    run_state_machine_as_test(
        lambda: Invitations(databases.new),
        settings=settings(
            max_examples=examples,
            stateful_step_count=30,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
