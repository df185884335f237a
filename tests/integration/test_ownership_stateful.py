"""A stateful property: no sequence of role changes, removals, leaves, transfers and
additions leaves a workspace without an owner, and the memory and SQL adapters agree on the
outcome of every step and on the memberships after it."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from entrypoints.bootstrap import Services
from saascore import workspaces as ws
from saascore.models import Actor, Role
from saascore.ports import UnitOfWork
from saascore.users import register_user
from tests.support.context import tx_of
from tests.support.side_by_side import SideBySide

PEOPLE = 4
person = st.integers(min_value=0, max_value=PEOPLE - 1)
roles = st.sampled_from(list(Role))


class Ownership(SideBySide):
    def __init__(self, make_sql_url: Callable[[], str]) -> None:
        super().__init__(make_sql_url, "stateful")
        self.users: list[str] = []
        self.workspace = ""

    def _actor(self, n: int) -> Actor:
        return Actor(user_id=self.users[n])

    @initialize()
    def a_workspace_with_one_owner(self) -> None:
        async def setup(_: int, s: Services, uow: UnitOfWork) -> tuple[list[str], str]:
            people = [
                (await register_user(tx_of(s, uow, Actor.system()), email=f"p{n}@example.com")).id
                for n in range(PEOPLE)
            ]
            created = await ws.create_workspace(
                tx_of(s, uow, Actor(user_id=people[0])), name="Acme"
            )
            return people, created.id

        memory, sql = self.each(setup)
        assert memory == sql
        self.users, self.workspace = memory

    @rule(actor=person, other=person, role=roles)
    def add(self, actor: int, other: int, role: Role) -> None:
        self.agree(
            lambda _, s, uow: ws.add_member(
                tx_of(s, uow, self._actor(actor)),
                self.workspace,
                user_id=self.users[other],
                role=role,
            )
        )

    @rule(actor=person, other=person, role=roles)
    def change_role(self, actor: int, other: int, role: Role) -> None:
        self.agree(
            lambda _, s, uow: ws.change_role(
                tx_of(s, uow, self._actor(actor)),
                self.workspace,
                user_id=self.users[other],
                role=role,
            )
        )

    @rule(actor=person, other=person)
    def remove(self, actor: int, other: int) -> None:
        self.agree(
            lambda _, s, uow: ws.remove_member(
                tx_of(s, uow, self._actor(actor)), self.workspace, user_id=self.users[other]
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
                tx_of(s, uow, self._actor(actor)), self.workspace, user_id=self.users[other]
            )
        )

    @invariant()
    def always_an_owner_and_the_adapters_agree(self) -> None:
        if not self.workspace:
            return

        async def members(_: int, s: Services, uow: UnitOfWork) -> list[tuple[str, Role]]:
            found = await uow.memberships.list_members(self.workspace)
            return [(m.user.email, m.membership.role) for m in found]

        memory, sql = self.each(members)
        assert memory == sql
        assert any(role is Role.OWNER for _, role in memory)


@pytest.mark.parametrize(("backend", "examples"), [("sqlite", 60), ("postgres", 15)])
def test_a_workspace_always_keeps_an_owner(
    request: pytest.FixtureRequest, backend: str, examples: int
) -> None:
    """Whatever members do, in any order, an owner remains, on memory and SQL alike."""
    databases = request.getfixturevalue(f"{backend}_databases")
    run_state_machine_as_test(
        lambda: Ownership(databases.new),
        settings=settings(
            max_examples=examples,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
