"""SQLite backups: SQLite's online backup API from the live file, and restores that replace
the database file atomically. Blocking: run these in a thread."""

from __future__ import annotations

import os
import sqlite3
import tempfile
from contextlib import closing
from pathlib import Path

from sqlalchemy import create_engine
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from adapters.sql.backup.manifest import (
    Backup,
    BackupRefused,
    Inventory,
    copy_checked,
    differences,
    inventory,
    reason,
)
from adapters.sql.engine import normalise_database_url
from saascore.errors import DatabaseUnavailable, InvalidInput, NotFound

BUSY_TIMEOUT_SECONDS = 30


class Damaged(Exception):
    """SQLite's own check of a file failed."""


def database_path(database_url: str) -> Path:
    """The file a SQLite URL names (relative to the working folder, as the app reads it)."""
    database = make_url(normalise_database_url(database_url)).database
    if database in (None, "", ":memory:"):
        raise InvalidInput({"DATABASE_URL": "an in-memory SQLite database keeps no backup"})
    return Path(database)


def read_inventory(path: Path, *, check: bool) -> Inventory:
    """Count ``path``'s rows; with ``check``, refuse a file SQLite finds damaged."""
    engine = create_engine(URL.create("sqlite", database=str(path)), poolclass=NullPool)
    try:
        with engine.connect() as connection:
            if check:
                verdict = connection.exec_driver_sql("PRAGMA quick_check").scalars().all()
                if verdict != ["ok"]:
                    raise Damaged(f"SQLite finds it damaged: {verdict[0]}")
            return inventory(connection)
    finally:
        engine.dispose()


def back_up(source: Path, partial: Path) -> Inventory:
    """Copy the live database ``source`` to ``partial`` in one step of the online backup API:
    a consistent snapshot, while WAL lets the app go on writing. Returns what the copy holds."""
    if not source.is_file():
        raise NotFound(f"no SQLite database at {source}")
    try:
        with (
            closing(sqlite3.connect(source, timeout=BUSY_TIMEOUT_SECONDS)) as live,
            closing(sqlite3.connect(partial)) as copy,
        ):
            live.backup(copy)
            # A self-contained file: no -wal beside it, whatever mode the live file is in.
            copy.execute("PRAGMA journal_mode=DELETE")
        return read_inventory(partial, check=True)
    except Damaged as exc:
        raise DatabaseUnavailable(f"cannot back up {source}: {exc}") from exc
    except (sqlite3.Error, DBAPIError) as exc:
        raise DatabaseUnavailable(f"cannot back up {source}: {reason(exc)}") from exc


def occupied(target: Path) -> Inventory | None:
    """What the target file holds, or ``None`` when there is no file yet."""
    if not target.exists():
        return None
    try:
        return read_inventory(target, check=False)
    except DBAPIError as exc:
        raise DatabaseUnavailable(f"cannot read {target}: {reason(exc)}") from exc


def restore(backup: Backup, target: Path) -> Inventory:
    """Copy the backup next to ``target``, check the copy, then swap it in with one rename:
    the target is either the old database or the restored one, never half of each."""
    if not target.parent.is_dir():
        raise NotFound(f"no folder {target.parent} for the database file")
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.restore-", dir=target.parent)
    os.close(fd)
    copy = Path(name)
    try:
        restored = _checked_copy(backup, copy)
        _settle(target)
        os.replace(copy, target)
        _fsync_folder(target.parent)
        return restored
    finally:
        copy.unlink(missing_ok=True)


def scratch_check(backup: Backup, folder: Path) -> tuple[Path, Inventory]:
    """Restore into a file in ``folder`` (for --verify-only); return it and what it holds."""
    copy = folder / backup.manifest.data_file
    return copy, _checked_copy(backup, copy, mismatch_ok=True)


def _checked_copy(backup: Backup, copy: Path, *, mismatch_ok: bool = False) -> Inventory:
    copy_checked(backup, copy)
    try:
        restored = read_inventory(copy, check=True)
    except Damaged as exc:
        raise BackupRefused(f"{backup.data_path}: {exc}; refused") from exc
    except DBAPIError as exc:
        raise BackupRefused(
            f"{backup.data_path}: not a usable SQLite database ({reason(exc)}); refused"
        ) from exc
    problems = differences(backup.manifest.row_counts, restored.counts)
    if problems and not mismatch_ok:
        raise BackupRefused(f"{backup.data_path}: row counts differ: {'; '.join(problems)}")
    return restored


def _settle(target: Path) -> None:
    """Fold the target's WAL into it and delete its -wal and -shm files: SQLite would replay a
    stale WAL into the restored file."""
    if target.exists():
        with closing(sqlite3.connect(target, timeout=BUSY_TIMEOUT_SECONDS)) as connection:
            connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    for suffix in ("-wal", "-shm"):
        Path(f"{target}{suffix}").unlink(missing_ok=True)


def _fsync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
