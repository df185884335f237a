"""Checks an operator runs before starting the app: can this database be used by it?"""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import bindparam, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.types import ARRAY, String

from adapters.sql.tables import metadata

WRITE = "SELECT,INSERT,UPDATE,DELETE"


async def permission_problems(engine: AsyncEngine) -> list[str]:
    """What the connected role may not do that the app needs, with the fix."""
    if engine.dialect.name == "sqlite":
        return _sqlite_problems(engine)
    names = sorted(metadata.tables)
    query = text(
        "SELECT t FROM unnest(:names) AS t "
        "WHERE to_regclass(t) IS NOT NULL AND NOT has_table_privilege(current_user, t, :wanted)"
    ).bindparams(bindparam("names", type_=ARRAY(String())))
    try:
        async with engine.connect() as connection:
            missing = [
                row[0] for row in await connection.execute(query, {"names": names, "wanted": WRITE})
            ]
            user = (await connection.execute(text("SELECT current_user"))).scalar_one()
            can_create = (
                await connection.execute(text("SELECT has_schema_privilege('public', 'CREATE')"))
            ).scalar_one()
    except (DBAPIError, OSError) as exc:
        return [f"database unreachable: {str(exc.__cause__ or exc).splitlines()[0]}"]
    problems = []
    if missing:
        problems.append(
            f"role {user} may not read and write {', '.join(missing)}: "
            f"GRANT {WRITE.replace(',', ', ')} ON ALL TABLES IN SCHEMA public TO {user}"
        )
    if not can_create:
        problems.append(
            f"role {user} may not create tables in schema public, so `saascore db upgrade` "
            f"will fail: GRANT CREATE ON SCHEMA public TO {user} (or migrate as the owner)"
        )
    return problems


def _sqlite_problems(engine: AsyncEngine) -> list[str]:
    database = make_url(str(engine.url)).database
    if not database or database == ":memory:":
        return []
    path = Path(database)
    folder = path.parent if str(path.parent) else Path()
    problems = []
    if path.exists() and not os.access(path, os.R_OK | os.W_OK):
        problems.append(f"{path} is not readable and writable by this user: fix its owner or mode")
    if not os.access(folder, os.W_OK | os.X_OK):
        problems.append(
            f"{folder} is not writable by this user: SQLite keeps its -wal and -shm files beside "
            "the database, so the folder must be writable"
        )
    return problems
