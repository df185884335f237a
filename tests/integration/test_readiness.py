"""/readyz and 503s on real databases, including one that is down."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from litestar import get
from litestar.di import NamedDependency
from litestar.testing import AsyncTestClient

from entrypoints.bootstrap import bootstrap
from entrypoints.settings import Settings
from entrypoints.web import create_app
from saascore.ports import UnitOfWork
from tests.support.databases import SqliteDatabases

DOWN_POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:1/nothing"


@get("/test/count-users")
async def count_users(uow: NamedDependency[UnitOfWork]) -> dict[str, int]:
    return {"users": len(await uow.users.list())}


async def client_for(url: str) -> AsyncIterator[AsyncTestClient[Any]]:
    app = create_app(
        Settings(database_url=url, environment="test"), extra_route_handlers=[count_users]
    )
    async with AsyncTestClient(app) as client:
        yield client


class TestReadiness:
    async def test_a_migrated_database_is_ready(self, database_url: str) -> None:
        """On memory, SQLite and Postgres at head, /readyz answers 200."""
        async for client in client_for(database_url):
            response = await client.get("/readyz")

            assert (200, []) == (response.status_code, response.json()["problems"])

    async def test_a_database_behind_on_migrations_is_not_ready(
        self, sqlite_databases: SqliteDatabases
    ) -> None:
        """An unmigrated database answers 503 naming the revision gap and the fix."""
        async for client in client_for(sqlite_databases.new(migrated=False)):
            response = await client.get("/readyz")

            [problem] = response.json()["problems"]
            assert 503 == response.status_code
            assert "migrations behind" in problem
            assert "saascore db upgrade" in problem

    async def test_a_database_that_is_down_is_not_ready(self) -> None:
        """An unreachable server answers 503 with the reason, and /healthz still says up."""
        async for client in client_for(DOWN_POSTGRES):
            ready = await client.get("/readyz")
            alive = await client.get("/healthz")

            assert 503 == ready.status_code
            assert ready.json()["problems"][0].startswith("database unreachable")
            assert 200 == alive.status_code

    async def test_requests_needing_a_down_database_get_503(self) -> None:
        """A route whose unit of work cannot connect answers a 503 problem, not a 500."""
        async for client in client_for(DOWN_POSTGRES):
            response = await client.get("/test/count-users")

            assert (503, "database_unavailable") == (response.status_code, response.json()["code"])


class TestServicesLifetime:
    async def test_services_are_built_at_start_and_closed_at_stop(self, sqlite_url: str) -> None:
        """create_app connects nothing until start-up, and disposes the engine at shutdown."""
        app = create_app(Settings(database_url=sqlite_url, environment="test"))
        assert not hasattr(app.state, "services")

        async with AsyncTestClient(app):
            services = app.state.services
            assert services.closers

        assert [] == services.closers


@pytest.mark.parametrize("url", ["memory://"])
async def test_bootstrap_memory_needs_no_engine(url: str) -> None:
    """DATABASE_URL=memory:// builds in-memory storage that is ready at once."""
    services = bootstrap(Settings(database_url=url))

    assert [] == await services.readiness()
    async with services.uow() as uow:
        assert [] == list(await uow.users.list())
    await services.aclose()
    assert [] == services.closers
