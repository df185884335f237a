"""Fixtures shared by every test: databases of each kind, and services on them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from entrypoints.bootstrap import Services, bootstrap
from entrypoints.settings import Settings
from tests.support.databases import PostgresDatabases, SqliteDatabases, postgres_admin_url

BACKENDS = ["memory", "sqlite", "postgres"]


@pytest.fixture(scope="session")
def sqlite_databases(tmp_path_factory: pytest.TempPathFactory) -> SqliteDatabases:
    return SqliteDatabases(tmp_path_factory.mktemp("sqlite"))


@pytest.fixture(scope="session")
def postgres_databases() -> Iterator[PostgresDatabases]:
    databases = PostgresDatabases(postgres_admin_url())
    yield databases
    databases.drop_all()


def make_database_url(request: pytest.FixtureRequest, backend: str) -> str:
    if backend == "memory":
        return "memory://"
    if backend == "sqlite":
        sqlite: SqliteDatabases = request.getfixturevalue("sqlite_databases")
        return sqlite.new()
    postgres: PostgresDatabases = request.getfixturevalue("postgres_databases")
    return postgres.new()


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest) -> str:
    """A migrated, empty database of each kind (memory, SQLite file, Postgres)."""
    return make_database_url(request, request.param)


@pytest.fixture
def sqlite_url(sqlite_databases: SqliteDatabases) -> str:
    """A migrated, empty SQLite file."""
    return sqlite_databases.new()


@pytest.fixture
def postgres_url(postgres_databases: PostgresDatabases) -> str:
    """A migrated, empty Postgres database."""
    return postgres_databases.new()


def settings_for(database_url: str) -> Settings:
    return Settings(database_url=database_url, environment="test")


@pytest.fixture
async def services(database_url: str) -> AsyncIterator[Services]:
    """Services on each kind of database."""
    built = bootstrap(settings_for(database_url))
    yield built
    await built.aclose()


@pytest.fixture
def tmp_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run in an empty folder, so no stray .env or database file is read."""
    monkeypatch.chdir(tmp_path)
    return tmp_path
