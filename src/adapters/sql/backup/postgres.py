"""Postgres backups with the PostgreSQL client tools: ``pg_dump --format=custom`` inside a
snapshot that the row counts share, and ``pg_restore`` in a single transaction.

The connection settings reach the tools through libpq's environment variables (``PGHOST``,
``PGUSER``, ``PGPASSWORD``…), so a password never appears on a command line.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

from sqlalchemy import inspect, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import NullPool

from adapters.sql.backup.manifest import COUNTED, Backup, Inventory, inventory, reason
from adapters.sql.engine import make_engine, normalise_database_url
from saascore.errors import DatabaseUnavailable, ExternalServiceError, PermissionDenied

# How long a restore waits for a table the running app holds, and a dump for a table a
# migration holds, before giving up (and rolling back) rather than hanging.
LOCK_TIMEOUT = "60s"
SCRATCH_PREFIX = "saascore_verify_"


def _url(database_url: str) -> URL:
    return make_url(normalise_database_url(database_url))


def _query(url: URL, name: str) -> str | None:
    value = url.query.get(name)
    return value[-1] if isinstance(value, tuple) else value


def libpq_environment(database_url: str) -> dict[str, str]:
    """The environment for a client tool: the URL's settings as libpq variables, over the
    inherited ones (which asyncpg reads too, so both connect to the same place)."""
    url = _url(database_url)
    ssl = _query(url, "sslmode") or _query(url, "ssl")
    given = {
        "PGHOST": _query(url, "host") or url.host,
        "PGPORT": str(url.port) if url.port else None,
        "PGUSER": url.username,
        "PGPASSWORD": url.password,
        "PGSSLMODE": "require" if ssl == "true" else ssl,
    }
    environment = {**os.environ, **{k: v for k, v in given.items() if v}}
    environment["PGAPPNAME"] = "saascore-backup"
    environment.setdefault("PGCONNECT_TIMEOUT", "10")
    environment["PGOPTIONS"] = f"{environment.get('PGOPTIONS', '')} -c lock_timeout={LOCK_TIMEOUT}"
    return environment


def _dbname(database_url: str) -> str:
    """``--dbname`` as a conninfo string: a database name is taken literally, whatever it holds."""
    name = _url(database_url).database or ""
    return "dbname='" + name.replace("\\", "\\\\").replace("'", "\\'") + "'"


async def _run(tool: str, args: Sequence[str], database_url: str, *operands: str) -> None:
    executable = shutil.which(tool)
    if executable is None:
        raise ExternalServiceError(
            f"{tool} is not on PATH: install the PostgreSQL client tools "
            "(the server's major version or newer)"
        )
    process = await asyncio.create_subprocess_exec(
        executable,
        *args,
        "--no-password",
        f"--dbname={_dbname(database_url)}",
        *operands,
        env=libpq_environment(database_url),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        _, stderr = await process.communicate()
    except BaseException:  # cancelled (Ctrl-C): never leave the tool running on its own
        process.kill()
        await process.wait()
        raise
    if process.returncode != 0:
        raise ExternalServiceError(f"{tool} failed: {_complaint(stderr)}")


def _complaint(stderr: bytes) -> str:
    lines = [line.strip() for line in stderr.decode(errors="replace").splitlines()]
    errors = [line for line in lines if "error" in line.lower()] or lines or ["no message"]
    return errors[0][:300]


@contextmanager
def _reachable() -> Iterator[None]:
    try:
        yield
    except (DBAPIError, OSError) as exc:
        raise DatabaseUnavailable(f"cannot reach the database: {reason(exc)}") from exc


async def read_inventory(database_url: str) -> Inventory:
    engine = make_engine(database_url, poolclass=NullPool)
    try:
        with _reachable():
            async with engine.connect() as connection:
                return await connection.run_sync(inventory)
    finally:
        await engine.dispose()


async def back_up(database_url: str, partial: Path) -> Inventory:
    """Dump the database to ``partial`` and count its rows, both in one exported snapshot: the
    manifest describes exactly the rows in the dump, however busy the app is meanwhile."""
    engine = make_engine(database_url, poolclass=NullPool)
    try:
        with _reachable():
            async with engine.connect() as connection:
                await connection.execution_options(
                    isolation_level="REPEATABLE READ", postgresql_readonly=True
                )
                async with connection.begin():
                    snapshot = await connection.scalar(text("SELECT pg_export_snapshot()"))
                    found = await connection.run_sync(inventory)
                    args = ["--format=custom", f"--file={partial}", f"--snapshot={snapshot}"]
                    args.append(f"--lock-wait-timeout={LOCK_TIMEOUT}")
                    await _run("pg_dump", args, database_url)
        return found
    finally:
        await engine.dispose()


async def _pg_restore(data: Path, database_url: str, *, clean: bool) -> None:
    args = ["--no-owner", "--no-acl", "--single-transaction", "--exit-on-error"]
    if clean:
        args += ["--clean", "--if-exists"]
    await _run("pg_restore", args, database_url, str(data))


async def restore(backup: Backup, database_url: str) -> Inventory:
    """Restore over the database in one transaction (``pg_restore --clean``); what the dump
    replaces, and saascore tables it does not hold (a newer schema's), are dropped."""
    engine = make_engine(database_url, poolclass=NullPool)
    try:
        with _reachable():
            await _drop_tables_missing_from(backup, engine)
    finally:
        await engine.dispose()
    await _pg_restore(backup.data_path, database_url, clean=True)
    return await read_inventory(database_url)


async def _drop_tables_missing_from(backup: Backup, engine: AsyncEngine) -> None:
    # A newer schema's tables would block the restore (their foreign keys point at tables
    # it drops) and then the upgrade (which creates them): they go first.
    async with engine.begin() as connection:
        present = await connection.run_sync(lambda c: set(inspect(c).get_table_names()))
        extra = sorted((COUNTED & present) - set(backup.manifest.row_counts))
        if extra:
            quote = connection.dialect.identifier_preparer.quote
            names = ", ".join(quote(name) for name in extra)
            await connection.execute(text(f"DROP TABLE IF EXISTS {names} CASCADE"))


@asynccontextmanager
async def scratch_restore(backup: Backup, database_url: str) -> AsyncIterator[str]:
    """Restore into a new database on the server ``database_url`` names; yield its URL and
    drop it afterwards, whatever happened."""
    name = f"{SCRATCH_PREFIX}{secrets.token_hex(6)}"
    scratch_url = _url(database_url).set(database=name).render_as_string(hide_password=False)
    admin = make_engine(database_url, poolclass=NullPool)
    try:
        try:
            await _admin(admin, f'CREATE DATABASE "{name}" TEMPLATE template0')
        except DBAPIError as exc:
            raise PermissionDenied(
                f"cannot create a scratch database for --verify-only ({reason(exc)}): "
                "the DATABASE_URL user needs CREATEDB"
            ) from exc
        try:
            await _pg_restore(backup.data_path, scratch_url, clean=False)
            yield scratch_url
        finally:
            await _drop(admin, name)
    finally:
        await admin.dispose()


async def _drop(engine: AsyncEngine, name: str) -> None:
    try:
        await _admin(engine, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    except DBAPIError as exc:
        raise ExternalServiceError(
            f"could not drop the scratch database {name} ({reason(exc)}): drop it by hand"
        ) from exc


async def _admin(engine: AsyncEngine, statement: str) -> None:
    """Run ``statement`` outside a transaction (CREATE/DROP DATABASE need that); a statement
    the server refuses raises ``DBAPIError``, a server that cannot be reached
    ``DatabaseUnavailable``."""
    with _reachable():
        connection = await engine.connect()
    try:
        await connection.execution_options(isolation_level="AUTOCOMMIT")
        await connection.execute(text(statement))
    finally:
        await connection.close()
