"""A stateful property: no sequence of role changes, removals, leaves, transfers and
additions leaves a workspace without an owner, and the memory and SQL adapters agree on the
outcome of every step and on the memberships after it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from adapters.clock import FrozenClock, SequentialIds
from entrypoints.bootstrap import Services, bootstrap, memory_services
from entrypoints.settings import Settings
from saascore import workspaces as ws
from saascore.errors import SaasCoreError
from saascore.models import Actor, Role
from saascore.ports import UnitOfWork
from saascore.users import register_user

PEOPLE = 4
person = st.integers(min_value=0, max_value=PEOPLE - 1)
roles = st.sampled_from(list(Role))


def sql_services(url: str) -> Services:
    built = bootstrap(Settings(database_url=url, environment="test"))
    built.clock, built.ids = FrozenClock(), SequentialIds("stateful")
    return built


class Ownership(RuleBasedStateMachine):
    def __init__(self, make_sql_url: Callable[[], str]) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.backends = [
            memory_services(clock=FrozenClock(), ids=SequentialIds("stateful")),
            sql_services(make_sql_url()),
        ]
        self.users: list[str] = []
        self.workspace = ""

    def _each(self, step: Callable[[Services, UnitOfWork], Awaitable[Any]]) -> list[Any]:
        """Run ``step`` on every backend in its own unit of work; return each outcome."""

        async def one(services: Services) -> Any:
            async with services.uow() as uow:
                try:
                    result = await step(services, uow)
                except SaasCoreError as exc:
                    return type(exc).__name__
                await uow.commit()
                return result

        return [self.loop.run_until_complete(one(s)) for s in self.backends]

    def _agree(self, step: Callable[[Services, UnitOfWork], Awaitable[Any]]) -> None:
        memory, sql = self._each(step)
        assert memory == sql

    def _actor(self, n: int) -> Actor:
        return Actor(user_id=self.users[n])

    @initialize()
    def a_workspace_with_one_owner(self) -> None:
        async def setup(s: Services, uow: UnitOfWork) -> tuple[list[str], str]:
            people = [
                (
                    await register_user(
                        uow, s.clock, s.ids, Actor.system(), email=f"p{n}@example.com"
                    )
                ).id
                for n in range(PEOPLE)
            ]
            created = await ws.create_workspace(
                uow, s.clock, s.ids, Actor(user_id=people[0]), name="Acme"
            )
            return people, created.id

        memory, sql = self._each(setup)
        assert memory == sql
        self.users, self.workspace = memory

    @rule(actor=person, other=person, role=roles)
    def add(self, actor: int, other: int, role: Role) -> None:
        self._agree(
            lambda s, uow: ws.add_member(
                uow,
                s.clock,
                s.ids,
                self._actor(actor),
                self.workspace,
                user_id=self.users[other],
                role=role,
            )
        )

    @rule(actor=person, other=person, role=roles)
    def change_role(self, actor: int, other: int, role: Role) -> None:
        self._agree(
            lambda s, uow: ws.change_role(
                uow,
                s.clock,
                s.ids,
                self._actor(actor),
                self.workspace,
                user_id=self.users[other],
                role=role,
            )
        )

    @rule(actor=person, other=person)
    def remove(self, actor: int, other: int) -> None:
        self._agree(
            lambda s, uow: ws.remove_member(
                uow,
                s.clock,
                s.ids,
                self._actor(actor),
                self.workspace,
                user_id=self.users[other],
            )
        )

    @rule(actor=person)
    def leave(self, actor: int) -> None:
        self._agree(
            lambda s, uow: ws.leave_workspace(
                uow,
                s.clock,
                s.ids,
                self._actor(actor),
                self.workspace,
            )
        )

    @rule(actor=person, other=person)
    def transfer(self, actor: int, other: int) -> None:
        self._agree(
            lambda s, uow: ws.transfer_ownership(
                uow,
                s.clock,
                s.ids,
                self._actor(actor),
                self.workspace,
                user_id=self.users[other],
            )
        )

    @invariant()
    def always_an_owner_and_the_adapters_agree(self) -> None:
        if not self.workspace:
            return

        async def members(s: Services, uow: UnitOfWork) -> list[tuple[str, Role]]:
            found = await uow.memberships.list_members(self.workspace)
            return [(m.user.email, m.membership.role) for m in found]

        memory, sql = self._each(members)
        assert memory == sql
        assert any(role is Role.OWNER for _, role in memory)

    def teardown(self) -> None:
        for services in self.backends:
            self.loop.run_until_complete(services.aclose())
        self.loop.close()


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
