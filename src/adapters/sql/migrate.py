"""Schema migrations and readiness, driven programmatically (no alembic.ini needed)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.sql.engine import normalise_database_url
from saascore.errors import DatabaseUnavailable

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["url"] = normalise_database_url(database_url)
    return config


def head_revision() -> str:
    """The newest revision this code knows."""
    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert head is not None, "the migrations folder holds no revision"
    return head


def history() -> list[tuple[str, str]]:
    """Every known revision, newest first, as (revision, message)."""
    scripts = ScriptDirectory.from_config(alembic_config("sqlite://"))
    return [(s.revision, s.doc) for s in scripts.walk_revisions()]


def upgrade(database_url: str, revision: str = "head") -> None:
    """Upgrade the schema (blocking; call from synchronous code such as the CLI).

    Raises ``DatabaseUnavailable`` when the database cannot be reached.
    """
    with _reachable():
        command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str) -> None:
    """Downgrade the schema to ``revision`` (``base`` removes every table)."""
    with _reachable():
        command.downgrade(alembic_config(database_url), revision)


@contextmanager
def _reachable() -> Iterator[None]:
    try:
        yield
    except (DBAPIError, OSError) as exc:
        raise DatabaseUnavailable(f"cannot reach the database: {_reason(exc)}") from exc


def _reason(exc: BaseException) -> str:
    cause = getattr(exc, "orig", None) or exc
    return f"{type(cause).__name__}: {cause}".splitlines()[0][:200]


def _current(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


async def current_revision(engine: AsyncEngine) -> str | None:
    """The revision the database is at, or ``None`` for an empty database."""
    with _reachable():
        async with engine.connect() as connection:
            return await connection.run_sync(_current)


async def upgrade_async(engine: AsyncEngine, revision: str = "head") -> None:
    """Upgrade from inside a running event loop, on a connection of ``engine``."""

    def _upgrade(connection: Connection) -> None:
        config = alembic_config(engine.url.render_as_string(hide_password=False))
        config.attributes["connection"] = connection
        command.upgrade(config, revision)

    async with engine.begin() as connection:
        await connection.run_sync(_upgrade)


READINESS_TIMEOUT = 5.0


async def readiness_problems(engine: AsyncEngine) -> list[str]:
    """Why the database is not ready to serve, or an empty list when it is."""
    try:
        async with asyncio.timeout(READINESS_TIMEOUT), engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
            current = await connection.run_sync(_current)
    except (DBAPIError, OSError, TimeoutError) as exc:
        return [f"database unreachable: {_reason(exc)}"]
    head = head_revision()
    if current != head:
        return [
            f"migrations behind: database at {current or 'empty'}, code at {head}; "
            "run `saascore db upgrade`"
        ]
    return []
