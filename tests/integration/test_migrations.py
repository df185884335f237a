"""Migrations build exactly the schema the code describes, and run both ways."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from adapters.sql import make_engine, migrate
from adapters.sql.tables import metadata
from tests.support.databases import PostgresDatabases, SqliteDatabases

BACKENDS = ["sqlite", "postgres"]
T = TypeVar("T")


def empty_database(request: pytest.FixtureRequest, backend: str) -> str:
    if backend == "sqlite":
        sqlite: SqliteDatabases = request.getfixturevalue("sqlite_databases")
        return sqlite.new(migrated=False)
    postgres: PostgresDatabases = request.getfixturevalue("postgres_databases")
    return postgres.new(migrated=False)


@pytest.fixture(params=BACKENDS)
def empty_url(request: pytest.FixtureRequest) -> str:
    return empty_database(request, request.param)


def _diff(connection: Connection) -> list[object]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, metadata))


def _tables(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names())


def inspect_with(url: str, fn: Callable[[Connection], T]) -> T:
    """Run ``fn`` on a connection to ``url``, from synchronous test code."""

    async def run() -> T:
        engine = make_engine(url)
        try:
            async with engine.connect() as connection:
                return await connection.run_sync(fn)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def readiness(url: str) -> list[str]:
    async def run() -> list[str]:
        engine = make_engine(url)
        try:
            return await migrate.readiness_problems(engine)
        finally:
            await engine.dispose()

    return asyncio.run(run())


class TestMigrations:
    def test_head_matches_the_tables_the_code_uses(self, empty_url: str) -> None:
        """After upgrading, Alembic finds no difference between the database and tables.py."""
        migrate.upgrade(empty_url)

        assert [] == inspect_with(empty_url, _diff)

    def test_downgrade_to_base_and_up_again(self, empty_url: str) -> None:
        """Every migration has a working downgrade; the schema can be rebuilt after it."""
        migrate.upgrade(empty_url)
        migrate.downgrade(empty_url, "base")
        after_down = inspect_with(empty_url, _tables)
        migrate.upgrade(empty_url)

        assert after_down <= {"alembic_version"}
        assert {"users", "workspaces", "memberships", "audit_events"} <= inspect_with(
            empty_url, _tables
        )

    def test_readiness_follows_the_revision(self, empty_url: str) -> None:
        """An empty database is not ready and says why; a migrated one is ready."""
        before = readiness(empty_url)
        migrate.upgrade(empty_url)
        after = readiness(empty_url)

        assert ["migrations behind"] == [p.split(":")[0] for p in before]
        assert [] == after


class TestRevisions:
    def test_history_is_one_line_of_descent(self) -> None:
        """Revisions form a single chain ending at the head (no branches to merge)."""
        revisions = migrate.history()

        assert migrate.head_revision() == revisions[0][0]
        assert len({r for r, _ in revisions}) == len(revisions)
