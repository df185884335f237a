"""Real databases for tests: migrated SQLite files, and Postgres databases cloned per test
from a migrated template, so every test starts from a clean, current schema."""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from adapters.sql import migrate

POSTGRES_ENV = "SAASCORE_TEST_POSTGRES_URL"
PREFIX = "saascore_t_"


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def postgres_admin_url() -> str:
    """The Postgres URL tests may use, or skip (fail in CI: Postgres tests are required)."""
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        if in_ci():
            pytest.fail(f"{POSTGRES_ENV} is not set: CI must run the Postgres tests")
        pytest.skip(f"set {POSTGRES_ENV} to run the Postgres tests")
    return url


def _asyncpg_dsn(url: str, database: str | None = None) -> str:
    parsed = make_url(url).set(drivername="postgresql")
    if database is not None:
        parsed = parsed.set(database=database)
    return parsed.render_as_string(hide_password=False)


async def _admin(url: str, *statements: str) -> None:
    conn = await asyncpg.connect(_asyncpg_dsn(url), timeout=10)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


def run_admin(url: str, *statements: str) -> None:
    try:
        asyncio.run(_admin(url, *statements))
    except OSError as exc:
        pytest.fail(f"{POSTGRES_ENV} names a server that cannot be reached: {exc}")


class PostgresDatabases:
    """Makes throw-away databases on the server named by SAASCORE_TEST_POSTGRES_URL."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url
        self.template = f"{PREFIX}template_{uuid.uuid4().hex[:8]}"
        self._made: list[str] = []
        self._template_ready = False

    def url_for(self, name: str) -> str:
        return (
            make_url(self.admin_url)
            .set(drivername="postgresql+asyncpg", database=name)
            .render_as_string(hide_password=False)
        )

    def _ensure_template(self) -> None:
        if self._template_ready:
            return
        run_admin(self.admin_url, f'CREATE DATABASE "{self.template}"')
        self._made.append(self.template)
        migrate.upgrade(self.url_for(self.template))
        self._template_ready = True

    def new(self, *, migrated: bool = True) -> str:
        """A new database, at the head revision unless ``migrated=False``; returns its URL."""
        name = f"{PREFIX}{uuid.uuid4().hex[:12]}"
        if migrated:
            self._ensure_template()
            run_admin(self.admin_url, f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"')
        else:
            run_admin(self.admin_url, f'CREATE DATABASE "{name}"')
        self._made.append(name)
        return self.url_for(name)

    def drop_all(self) -> None:
        statements = [f'DROP DATABASE IF EXISTS "{n}" WITH (FORCE)' for n in reversed(self._made)]
        if statements:
            run_admin(self.admin_url, *statements)
        self._made.clear()


class SqliteDatabases:
    """Migrated SQLite files, copied from one migrated template."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._template: Path | None = None

    def new(self, *, migrated: bool = True) -> str:
        path = self.root / f"{uuid.uuid4().hex[:12]}.db"
        if migrated:
            if self._template is None:
                self._template = self.root / "template.db"
                migrate.upgrade(sqlite_url(self._template))
            shutil.copyfile(self._template, path)
        return sqlite_url(path)


def sqlite_url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"
