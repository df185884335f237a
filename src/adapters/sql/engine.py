"""Engines for the two supported databases, set up the way saascore needs them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import StaticPool

_DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "sqlite+aiosqlite": "sqlite+aiosqlite",
    "postgres": "postgresql+asyncpg",
    "postgresql": "postgresql+asyncpg",
    "postgresql+asyncpg": "postgresql+asyncpg",
}


def normalise_database_url(raw: str) -> str:
    """Return ``raw`` with the async driver spelled out; raise ``ValueError`` naming the problem.

    ``sqlite:///path`` and ``postgresql://...`` are accepted for convenience and mean
    aiosqlite and asyncpg, the drivers saascore supports.
    """
    try:
        url = make_url(raw.strip())
    except ArgumentError:
        raise ValueError(
            "must be a URL like sqlite+aiosqlite:///saascore.db or "
            "postgresql+asyncpg://user@host:5432/dbname"
        ) from None
    driver = _DRIVERS.get(url.drivername)
    if driver is None:
        raise ValueError(
            f"unsupported database {url.drivername!r}: use sqlite+aiosqlite or postgresql+asyncpg"
        )
    if driver.startswith("postgresql") and not url.database:
        raise ValueError("a Postgres URL must name the database, e.g. .../saascore")
    return url.set(drivername=driver).render_as_string(hide_password=False)


# Execution options of a read unit of work's connection: on SQLite a deferred BEGIN (no write
# lock; WAL readers run beside the writer), on Postgres BEGIN READ ONLY.
READ_ONLY = "saascore_read_only"
READ_ONLY_OPTIONS: dict[str, dict[str, Any]] = {
    "sqlite": {READ_ONLY: True},
    "postgresql": {"postgresql_readonly": True},
}


def _is_memory_sqlite(url: URL) -> bool:
    return url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")


def make_engine(database_url: str, **options: Any) -> AsyncEngine:
    """Create an engine: SQLite with WAL, foreign keys and immediate write locks; Postgres with
    pooled connections that are checked before use, so the app recovers when the server
    returns."""
    url = make_url(normalise_database_url(database_url))
    # A failed statement's error never carries the values bound to it (an address, a name).
    options.setdefault("hide_parameters", True)
    if url.get_backend_name() == "sqlite":
        if _is_memory_sqlite(url):
            options.setdefault("poolclass", StaticPool)
        options.setdefault("connect_args", {"timeout": 30})
        engine = create_async_engine(url, **options)
        _configure_sqlite(engine)
        return engine
    options.setdefault("pool_pre_ping", True)
    if "poolclass" not in options:
        options.setdefault("pool_size", 10)
        options.setdefault("max_overflow", 10)
        # A request that finds every connection busy answers 503 after this long, as a
        # SQLite one does when it waits for the write turn.
        options.setdefault("pool_timeout", 10)
    options.setdefault("connect_args", {"timeout": 10})
    return create_async_engine(url, **options)


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, emit BEGIN (see _on_begin).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in (
            "PRAGMA foreign_keys=ON",
            "PRAGMA journal_mode=WAL",
            "PRAGMA synchronous=NORMAL",
            "PRAGMA busy_timeout=10000",
        ):
            cursor.execute(pragma)
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        # IMMEDIATE takes the write lock up front: a transaction that reads then writes
        # waits for its turn instead of failing with SQLITE_BUSY halfway through. A read
        # unit of work never writes, so its deferred BEGIN takes no lock at all.
        if connection.get_execution_options().get(READ_ONLY):
            connection.exec_driver_sql("BEGIN")
        else:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
