"""Backups of the SQL database, and restores from them (``saascore db backup|restore``).

A backup is two files side by side in one folder::

    saascore-20261126T230000Z.sqlite3        the data: a SQLite file, or ``.pgdump`` (pg_dump -Fc)
    saascore-20261126T230000Z.manifest.json  format, kind, data file name, size, SHA-256, schema
                                             revision, rows per table, time, app version, source

SQLite is copied with its online backup API, Postgres is dumped by ``pg_dump`` in a snapshot
the row counts share: both are consistent while the app writes. A restore checks the manifest,
the size and the SHA-256 first, and raises ``BackupRefused`` before touching anything when one
fails; it restores a backup of an older schema and then upgrades it to the code's.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path

from alembic.util import CommandError
from attrs import evolve, frozen
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from adapters.sql import migrate
from adapters.sql.backup import postgres, sqlite
from adapters.sql.backup.manifest import (
    DATA_SUFFIXES,
    MANIFEST_SUFFIX,
    VERSION_TABLE,
    Backup,
    BackupRefused,
    Inventory,
    Kind,
    Manifest,
    differences,
    new_stem,
    open_backup,
    prune_backups,
    reason,
    seal,
    write_atomically,
)
from adapters.sql.engine import normalise_database_url
from saascore.errors import Conflict, InvalidInput, SaasCoreError

__all__ = [
    "Backup",
    "BackupRefused",
    "Manifest",
    "Restored",
    "Verified",
    "create_backup",
    "describe",
    "kind_of",
    "open_backup",
    "prune_backups",
    "restore_backup",
    "verify_restore",
]


def kind_of(database_url: str) -> Kind:
    backend = make_url(normalise_database_url(database_url)).get_backend_name()
    return "sqlite" if backend == "sqlite" else "postgres"


def describe(database_url: str) -> str:
    """The database a URL names, for people: a SQLite path, or the URL without its password."""
    if kind_of(database_url) == "sqlite":
        return str(sqlite.database_path(database_url))
    return make_url(normalise_database_url(database_url)).render_as_string(hide_password=True)


async def create_backup(
    database_url: str, directory: Path, *, now: datetime, app_version: str
) -> Backup:
    """Back up the database into ``directory``: the data file first (written aside, then
    renamed), the manifest last, so a backup with a manifest is a complete one."""
    kind = kind_of(database_url)
    data_path = await asyncio.to_thread(_new_data_path, directory, now, kind)
    # Written in a folder of our own (0700, a random name): nothing planted in the backup
    # folder, such as a symlink at a predictable temporary name, is ever followed.
    private = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix=".partial-", dir=directory))
    partial = private / data_path.name
    try:
        found = await _dump(kind, database_url, partial)
        if found.revision is None:
            raise InvalidInput(
                {"DATABASE_URL": "no saascore schema to back up; run `saascore db upgrade`"}
            )
        manifest = Manifest(
            kind=kind,
            data_file=data_path.name,
            size=0,
            sha256="",
            schema_revision=found.revision,
            row_counts=found.counts,
            created_at=now,
            app_version=app_version,
            source=describe(database_url),
        )
        return await asyncio.to_thread(_complete, partial, data_path, manifest)
    finally:
        await asyncio.to_thread(shutil.rmtree, private, True)


def _new_data_path(directory: Path, now: datetime, kind: Kind) -> Path:
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    return directory / f"{new_stem(directory, now)}{DATA_SUFFIXES[kind]}"


def _complete(partial: Path, data_path: Path, manifest: Manifest) -> Backup:
    os.chmod(partial, 0o600)  # backups hold every user's data: the owner's to read only
    size, sha256 = seal(partial)
    os.replace(partial, data_path)  # a rename: a symlink planted at data_path is replaced
    manifest = evolve(manifest, size=size, sha256=sha256)
    manifest_path = data_path.with_name(data_path.stem + MANIFEST_SUFFIX)
    try:
        write_atomically(manifest_path, manifest.to_json())
    except BaseException:
        data_path.unlink(missing_ok=True)
        raise
    return Backup(manifest_path, data_path, manifest)


async def _dump(kind: Kind, database_url: str, partial: Path) -> Inventory:
    if kind == "sqlite":
        source = sqlite.database_path(database_url)
        return await asyncio.to_thread(sqlite.back_up, source, partial)
    return await postgres.back_up(database_url, partial)


@frozen
class Restored:
    """What a restore did: the database it restored into, what that holds now, and the
    revision it was upgraded from (``None`` when the backup was already at head)."""

    target: str
    counts: Mapping[str, int]
    upgraded_from: str | None


async def restore_backup(backup: Backup, database_url: str, *, force: bool) -> Restored:
    """Restore a checked backup (``open_backup``) over the database, then upgrade its schema
    when the backup is older than the code.

    Raises ``BackupRefused`` when the backup is of the other kind of database or of a schema
    this code does not know, and ``Conflict`` when the database holds rows and not ``force``.
    """
    kind = _require_usable(backup, database_url)
    await _require_empty(kind, database_url, force=force)
    if kind == "sqlite":
        target = sqlite.database_path(database_url)
        restored = await asyncio.to_thread(sqlite.restore, backup, target)
    else:
        restored = await postgres.restore(backup, database_url)
        problems = differences(backup.manifest.row_counts, restored.counts)
        if problems:
            raise BackupRefused(f"restored, but row counts differ: {'; '.join(problems)}")
    upgraded_from = None
    if restored.revision != migrate.head_revision():
        try:
            await _upgrade(database_url)
        except UPGRADE_FAILURES as exc:
            raise SaasCoreError(
                f"restored at schema {restored.revision}, but the upgrade to "
                f"{migrate.head_revision()} failed ({reason(exc)}); fix that, then run "
                "`saascore db upgrade`"
            ) from exc
        upgraded_from = restored.revision
    return Restored(describe(database_url), restored.counts, upgraded_from)


def _require_usable(backup: Backup, database_url: str, *, any_sqlite: bool = False) -> Kind:
    manifest, kind = backup.manifest, kind_of(database_url)
    head = migrate.head_revision()
    if manifest.schema_revision not in {revision for revision, _ in migrate.history()}:
        raise BackupRefused(
            f"{backup.data_path}: schema revision {manifest.schema_revision} is newer than "
            f"this code's ({head}); restore it with saascore {manifest.app_version} or later"
        )
    if manifest.kind != kind and not (any_sqlite and manifest.kind == "sqlite"):
        raise BackupRefused(
            f"{backup.data_path}: a {manifest.kind} backup, but DATABASE_URL names a "
            f"{kind} database"
        )
    return manifest.kind


async def _require_empty(kind: Kind, database_url: str, *, force: bool) -> None:
    if force:
        return
    if kind == "sqlite":
        found = await asyncio.to_thread(sqlite.occupied, sqlite.database_path(database_url))
    else:
        found = await postgres.read_inventory(database_url)
    rows = {} if found is None else {n: c for n, c in found.counts.items() if c}
    rows.pop(VERSION_TABLE, None)
    if rows:
        held = ", ".join(f"{name} {count}" for name, count in sorted(rows.items()))
        raise Conflict(
            f"{describe(database_url)} holds {sum(rows.values())} rows ({held}); "
            "pass --force to overwrite it with the backup"
        )


UPGRADE_FAILURES = (CommandError, DBAPIError)


async def _upgrade(database_url: str) -> None:
    # migrate.upgrade runs an event loop of its own: give it a thread of its own.
    await asyncio.to_thread(migrate.upgrade, database_url)


@frozen
class Verified:
    """What --verify-only found in its scratch copy of the backup (``scratch`` names it)."""

    scratch: str
    counts: Mapping[str, int]
    differences: Sequence[str]
    upgraded_from: str | None


async def verify_restore(backup: Backup, database_url: str) -> Verified:
    """Restore a checked backup into a scratch database, compare its row counts with the
    manifest, try the schema upgrade on it, and throw it away. The database at
    ``database_url`` is never touched: a Postgres backup only borrows its server, and a
    SQLite backup is verified in a temporary folder, whatever ``database_url`` names."""
    if _require_usable(backup, database_url, any_sqlite=True) == "sqlite":
        with tempfile.TemporaryDirectory(prefix="saascore-verify-") as folder:
            copy, found = await asyncio.to_thread(sqlite.scratch_check, backup, Path(folder))
            scratch = f"scratch file {copy}"
            return await _judge(backup, scratch, f"sqlite+aiosqlite:///{copy}", found)
    async with postgres.scratch_restore(backup, database_url) as scratch_url:
        found = await postgres.read_inventory(scratch_url)
        scratch = f"scratch database {make_url(scratch_url).database}"
        return await _judge(backup, scratch, scratch_url, found)


async def _judge(backup: Backup, scratch: str, scratch_url: str, found: Inventory) -> Verified:
    problems = differences(backup.manifest.row_counts, found.counts)
    upgraded_from = None
    if not problems and found.revision != migrate.head_revision():
        try:
            await _upgrade(scratch_url)
        except UPGRADE_FAILURES as exc:
            raise BackupRefused(
                f"{backup.data_path}: restores, but its schema {found.revision} does not "
                f"upgrade to {migrate.head_revision()} ({reason(exc)})"
            ) from exc
        upgraded_from = found.revision
    return Verified(scratch, found.counts, problems, upgraded_from)
