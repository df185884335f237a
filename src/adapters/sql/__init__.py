"""SQL adapters on SQLAlchemy Core (async): SQLite through aiosqlite, Postgres through asyncpg."""

from adapters.sql.engine import make_engine, normalise_database_url
from adapters.sql.uow import SqlUnitOfWork

__all__ = ["SqlUnitOfWork", "make_engine", "normalise_database_url"]
