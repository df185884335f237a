"""`saascore db backup` and `saascore db restore` on SQLite files and Postgres databases,
through click's runner: consistent backups while the app writes, damaged backups refused
with the target untouched, --force, --verify-only, retention, and older schemas upgraded."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import sqlite3
import stat
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import func, inspect, select, table
from sqlalchemy.engine import make_url

from adapters.sql import make_engine
from adapters.sql.tables import metadata
from entrypoints.bootstrap import bootstrap
from entrypoints.cli.main import cli
from entrypoints.settings import Settings
from saascore.models import Actor
from saascore.users import register_user
from tests.support.context import tx_of
from tests.support.databases import PostgresDatabases, SqliteDatabases

NewDatabase = Callable[..., str]
TABLES = [*metadata.tables, "alembic_version"]
SEEDED_USERS = 4


def run(url: str, *args: str, **env: str) -> Result:
    return CliRunner().invoke(
        cli,
        list(args),
        env={"DATABASE_URL": url, "LOG_LEVEL": "WARNING", **env},
        catch_exceptions=False,
    )


def ok(url: str, *args: str) -> str:
    result = run(url, *args)
    assert 0 == result.exit_code, result.output
    return result.output


def refused(url: str, exit_code: int, *args: str) -> str:
    """Run a command that must fail with ``exit_code``; return its one error line."""
    result = run(url, *args)
    assert exit_code == result.exit_code, result.output
    assert "Traceback" not in result.output
    return result.output.strip().splitlines()[-1]


def row_counts(url: str) -> dict[str, int]:
    """Rows in every saascore table the database has (and in alembic_version)."""

    async def count() -> dict[str, int]:
        engine = make_engine(url)
        try:
            async with engine.connect() as conn:
                present = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
                return {
                    name: (
                        await conn.execute(select(func.count()).select_from(table(name)))
                    ).scalar_one()
                    for name in TABLES
                    if name in present
                }
        finally:
            await engine.dispose()

    return asyncio.run(count())


def emails(url: str) -> list[str]:
    async def read() -> list[str]:
        engine = make_engine(url)
        try:
            async with engine.connect() as conn:
                users = metadata.tables["users"]
                return list((await conn.execute(select(users.c.email))).scalars())
        finally:
            await engine.dispose()

    return sorted(asyncio.run(read()))


def state(url: str) -> tuple[Any, ...]:
    """What a restore that was refused must leave exactly as it was: row counts, the users,
    and for SQLite the bytes of the file."""
    database = make_url(url).database or ""
    raw = Path(database).read_bytes() if url.startswith("sqlite") else b""
    return row_counts(url), emails(url), raw


def backup(url: str, folder: str = "backups", *args: str) -> Path:
    """Back up ``url`` into ``folder``; return the manifest written."""
    output = ok(url, "db", "backup", "--to", folder, *args)
    manifest = output.splitlines()[1].removeprefix("manifest written: ")
    return Path(manifest)


def manifest_of(manifest_path: Path) -> dict[str, Any]:
    return json.loads(manifest_path.read_text())  # type: ignore[no-any-return]


def data_of(manifest_path: Path) -> Path:
    return manifest_path.with_name(manifest_of(manifest_path)["data_file"])


def edit_manifest(manifest_path: Path, **changes: Any) -> None:
    manifest_path.write_text(json.dumps({**manifest_of(manifest_path), **changes}))


@pytest.fixture(params=["sqlite", "postgres"])
def new_database(request: pytest.FixtureRequest, tmp_cwd: Path) -> NewDatabase:
    """Makes databases of one SQL kind: migrated and empty, or ``migrated=False``."""
    databases: SqliteDatabases | PostgresDatabases = request.getfixturevalue(
        f"{request.param}_databases"
    )
    return databases.new


@pytest.fixture
def seeded(new_database: NewDatabase) -> str:
    """A database with the demo data in it."""
    url = new_database()
    ok(url, "db", "seed")
    return url


class Writer(threading.Thread):
    """Registers users, one transaction each (user row, audit row, chain head), until told
    to stop: the app at work while a backup is taken."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.written = 0
        self.stopping = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            asyncio.run(self._write())
        except BaseException as exc:  # reported by stop()
            self.error = exc

    async def _write(self) -> None:
        services = bootstrap(Settings(database_url=self.url, environment="test"))
        try:
            while not self.stopping.is_set():
                async with services.uow() as uow:
                    email = f"writer{self.written}@example.com"
                    await register_user(tx_of(services, uow, Actor.system()), email=email)
                    await uow.commit()
                self.written += 1
        finally:
            await services.aclose()

    def wait_for(self, rows: int) -> None:
        deadline = time.monotonic() + 10
        while self.written < rows and self.error is None:
            assert time.monotonic() < deadline, "the writer is stuck"
            time.sleep(0.01)

    def stop(self) -> None:
        self.stopping.set()
        self.join(10)
        assert self.error is None, repr(self.error)


class TestBackupAndRestore:
    def test_a_backup_taken_while_the_app_writes_restores_every_row(
        self, seeded: str, new_database: NewDatabase
    ) -> None:
        """Rows committed during the backup do not tear it: the manifest counts exactly what
        the data file holds, a restore into an empty database has those counts, and the
        audit chain of the copy verifies."""
        writer = Writer(seeded)
        writer.start()
        try:
            writer.wait_for(10)
            before = writer.written
            manifest_path = backup(seeded)
            during = writer.written - before
            writer.wait_for(writer.written + 5)
        finally:
            writer.stop()
        manifest = manifest_of(manifest_path)
        empty = new_database(migrated=False)

        output = ok(empty, "db", "restore", str(manifest_path))

        assert during > 0, "no write landed while the backup ran"
        backed_up = manifest["row_counts"]["users"] - SEEDED_USERS
        assert before <= backed_up < writer.written
        assert manifest["row_counts"] == row_counts(empty)
        assert "row counts match the manifest" in output
        assert ok(empty, "audit", "verify").startswith("ok: ")

    def test_the_manifest_describes_the_data_file(self, seeded: str) -> None:
        """Format, kind, file name, size, SHA-256, revision, counts, time and version."""
        started = datetime.now(UTC)
        manifest_path = backup(seeded)
        manifest = manifest_of(manifest_path)
        data = data_of(manifest_path)

        kind = "sqlite" if seeded.startswith("sqlite") else "postgres"
        assert (1, kind, "0004", "0.1.0") == (
            manifest["format"],
            manifest["kind"],
            manifest["schema_revision"],
            manifest["app_version"],
        )
        assert data.suffix == {"sqlite": ".sqlite3", "postgres": ".pgdump"}[kind]
        assert data.stat().st_size == manifest["size"]
        assert hashlib.sha256(data.read_bytes()).hexdigest() == manifest["sha256"]
        assert row_counts(seeded) == manifest["row_counts"]
        assert started - timedelta(seconds=1) <= datetime.fromisoformat(manifest["created_at"])

    def test_a_database_with_rows_is_overwritten_only_with_force(
        self, seeded: str, new_database: NewDatabase
    ) -> None:
        """Refused (exit 6, naming --force) and untouched; with --force it holds the backup."""
        source = new_database()
        ok(source, "users", "create", "only@example.com")
        manifest_path = backup(source)
        before = state(seeded)

        line = refused(seeded, 6, "db", "restore", str(manifest_path))
        after_refusal = state(seeded)[:2]
        ok(seeded, "db", "restore", str(manifest_path), "--force")

        assert "--force" in line
        assert before[:2] == after_refusal
        assert manifest_of(manifest_path)["row_counts"] == row_counts(seeded)
        assert ["only@example.com"] == emails(seeded)


def leave_a_stale_wal(path: Path) -> None:
    """Make ``path`` look like the database of an app that was killed: rows committed to
    its -wal file, not yet copied into the database file."""
    aside = path.with_name("aside.db")
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA wal_autocheckpoint=0")
    for n in range(50):
        connection.execute(
            "INSERT INTO users (id, email, name, created_at) VALUES (?, ?, 'stale', ?)",
            (f"stale-{n}", f"stale{n}@example.com", "2026-01-01 00:00:00.000000"),
        )
    connection.commit()
    shutil.copyfile(path, aside)
    shutil.copyfile(f"{path}-wal", f"{aside}-wal")
    connection.close()  # folds the WAL in and deletes it: put the "killed" pair back
    shutil.copyfile(aside, path)
    shutil.copyfile(f"{aside}-wal", f"{path}-wal")


def flip_a_byte(manifest_path: Path) -> Path:
    data = data_of(manifest_path)
    raw = bytearray(data.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    data.write_bytes(bytes(raw))
    return data


def truncate(manifest_path: Path) -> Path:
    data = data_of(manifest_path)
    data.write_bytes(data.read_bytes()[: data.stat().st_size // 2])
    return data


def lose_the_manifest(manifest_path: Path) -> Path:
    data = data_of(manifest_path)
    manifest_path.unlink()
    return data


def garble_the_manifest(manifest_path: Path) -> Path:
    manifest_path.write_text('{"format": 1, "kind": "sqlite"')
    return manifest_path


DAMAGES = {
    "flipped byte": (flip_a_byte, "SHA-256 differs from the manifest"),
    "truncated": (truncate, "the manifest says"),
    "missing manifest": (lose_the_manifest, "manifest saascore-"),
    "garbled manifest": (garble_the_manifest, "unreadable manifest"),
}


class TestDamagedBackups:
    @pytest.mark.parametrize("damage", list(DAMAGES))
    @pytest.mark.parametrize("mode", ["--force", "--verify-only"])
    def test_a_damaged_backup_is_refused_and_nothing_is_touched(
        self, seeded: str, new_database: NewDatabase, damage: str, mode: str
    ) -> None:
        """Exit 16 with one line saying what is wrong; the target keeps its rows (and, for
        SQLite, every byte), even with --force."""
        source = new_database()
        ok(source, "users", "create", "backed-up@example.com")
        damaged, reason = DAMAGES[damage]
        named = damaged(backup(source))
        before = state(seeded)

        result = run(seeded, "db", "restore", str(named), mode)

        assert (16, 1) == (result.exit_code, len(result.output.strip().splitlines())), result.output
        assert reason in result.output
        assert "refused" in result.output
        assert before == state(seeded)

    def test_a_backup_of_the_other_kind_is_refused(
        self, sqlite_url: str, postgres_url: str, tmp_cwd: Path
    ) -> None:
        """A SQLite file cannot be restored into Postgres, nor a dump into SQLite."""
        ok(sqlite_url, "users", "create", "a@example.com")
        ok(postgres_url, "users", "create", "b@example.com")
        from_sqlite, from_postgres = backup(sqlite_url, "s"), backup(postgres_url, "p")

        into_postgres = refused(postgres_url, 16, "db", "restore", str(from_sqlite))
        into_sqlite = refused(sqlite_url, 16, "db", "restore", str(from_postgres), "--force")

        assert "a sqlite backup, but DATABASE_URL names a postgres database" in into_postgres
        assert "a postgres backup, but DATABASE_URL names a sqlite database" in into_sqlite
        assert (["a@example.com"], ["b@example.com"]) == (emails(sqlite_url), emails(postgres_url))

    def test_a_backup_from_a_newer_schema_is_refused(self, seeded: str) -> None:
        """A revision this code does not know cannot be restored or upgraded."""
        manifest_path = backup(seeded)
        edit_manifest(manifest_path, schema_revision="9999")

        line = refused(seeded, 16, "db", "restore", str(manifest_path), "--force")

        assert "schema revision 9999 is newer than this code's (0004)" in line

    def test_a_stale_wal_beside_the_target_is_not_replayed_into_the_restored_file(
        self, sqlite_url: str, tmp_cwd: Path
    ) -> None:
        """The database of an app that was killed keeps rows in its -wal file; SQLite must
        not replay them into the restored file."""
        ok(sqlite_url, "users", "create", "restored@example.com")
        manifest_path = backup(sqlite_url)
        target = tmp_cwd / "target.db"
        target_url = f"sqlite+aiosqlite:///{target}"
        ok(target_url, "db", "upgrade")
        leave_a_stale_wal(target)
        assert Path(f"{target}-wal").stat().st_size > 0

        ok(target_url, "db", "restore", str(manifest_path), "--force")

        assert ["restored@example.com"] == emails(target_url)
        assert manifest_of(manifest_path)["row_counts"] == row_counts(target_url)


class TestVerifyOnly:
    def test_verify_only_reports_matching_counts_and_leaves_the_target_alone(
        self, seeded: str, new_database: NewDatabase
    ) -> None:
        """The scratch copy matches the manifest; the target and the server's list of
        databases are as they were."""
        source = new_database()
        ok(source, "users", "create", "only@example.com")
        manifest_path = backup(source)
        before, databases = state(seeded), scratch_databases(seeded)

        output = ok(seeded, "db", "restore", str(manifest_path), "--verify-only")

        assert "row counts match the manifest (11 tables, 3 rows)" in output
        assert output.endswith("database untouched\n")
        assert before == state(seeded)
        assert databases == scratch_databases(seeded)

    def test_verify_only_reports_counts_that_differ(self, seeded: str) -> None:
        """A manifest that promises other counts than the copy holds fails (exit 16) and
        names the table; the scratch database is dropped all the same."""
        manifest_path = backup(seeded)
        counts = manifest_of(manifest_path)["row_counts"]
        edit_manifest(manifest_path, row_counts={**counts, "users": SEEDED_USERS + 1})
        databases = scratch_databases(seeded)

        result = run(seeded, "db", "restore", str(manifest_path), "--verify-only")

        assert 16 == result.exit_code
        assert f"users: {SEEDED_USERS} restored, {SEEDED_USERS + 1} in the manifest" in (
            result.output
        )
        assert databases == scratch_databases(seeded)

    def test_a_sqlite_restore_whose_copy_differs_keeps_the_old_file(
        self, sqlite_url: str, tmp_cwd: Path
    ) -> None:
        """SQLite checks the copy before swapping it in: the target stays as it was."""
        ok(sqlite_url, "db", "seed")
        manifest_path = backup(sqlite_url)
        counts = manifest_of(manifest_path)["row_counts"]
        edit_manifest(manifest_path, row_counts={**counts, "users": 0})
        before = state(sqlite_url)

        line = refused(sqlite_url, 16, "db", "restore", str(manifest_path), "--force")

        assert "users: 4 restored, 0 in the manifest" in line
        assert before == state(sqlite_url)


def scratch_databases(url: str) -> list[str]:
    """The --verify-only databases on the Postgres server (none for SQLite)."""
    if url.startswith("sqlite"):
        return []
    found: list[str] = []

    async def names() -> None:
        engine = make_engine(url)
        try:
            async with engine.connect() as conn:
                rows = await conn.exec_driver_sql(
                    "SELECT datname FROM pg_database WHERE datname LIKE 'saascore_verify_%'"
                )
                found.extend(rows.scalars())
        finally:
            await engine.dispose()

    asyncio.run(names())
    return found


def files_of(manifest_path: Path) -> set[str]:
    return {manifest_path.name, data_of(manifest_path).name}


class TestRetention:
    def test_backups_older_than_keep_days_go_and_newer_ones_stay(
        self, sqlite_url: str, tmp_cwd: Path
    ) -> None:
        """By the time in their manifests; files that are not saascore backups stay, and
        so does the backup just made, even with --keep-days 0."""
        folder = tmp_cwd / "backups"
        old, recent = backup(sqlite_url), backup(sqlite_url)
        now = datetime.now(UTC)
        edit_manifest(old, created_at=(now - timedelta(days=10)).isoformat())
        edit_manifest(recent, created_at=(now - timedelta(days=3)).isoformat())
        strangers = {"notes.txt", "saascore-unreadable.manifest.json"}
        for name in strangers:
            (folder / name).write_text("{")
        old_data, recent_files = data_of(old), files_of(recent)

        output = ok(sqlite_url, "db", "backup", "--to", "backups", "--keep-days", "7")
        newest = files_of(Path(output.splitlines()[1].removeprefix("manifest written: ")))
        left = {p.name for p in folder.iterdir()}
        later = ok(sqlite_url, "db", "backup", "--to", "backups", "--keep-days", "0")
        last = files_of(Path(later.splitlines()[1].removeprefix("manifest written: ")))

        assert f"deleted old backup: {old_data} (made " in output
        assert output.endswith("retention: deleted 1 backup older than 7 days\n")
        assert recent_files | newest | strangers == left
        assert later.endswith("retention: deleted 2 backups older than 0 days\n")
        assert last | strangers == {p.name for p in folder.iterdir()}


class TestOlderSchemas:
    @pytest.mark.parametrize("target", ["empty", "at head, with --force"])
    def test_a_backup_of_an_older_schema_is_restored_then_upgraded(
        self, new_database: NewDatabase, target: str
    ) -> None:
        """A 0003 backup restores into an empty database, or over one at head, and ends at
        head with its rows; --verify-only tries the upgrade on its copy."""
        source = new_database()
        ok(source, "db", "seed")
        ok(source, "db", "downgrade", "0003", "--yes")
        manifest_path = backup(source)
        if target == "empty":
            into, args = new_database(migrated=False), []
        else:
            into, args = new_database(), ["--force"]
            ok(into, "db", "seed")

        verified = ok(into, "db", "restore", str(manifest_path), "--verify-only")
        restored = ok(into, "db", "restore", str(manifest_path), *args)

        assert "schema upgrade 0003 -> 0004 (head) works on the copy" in verified
        assert "schema upgraded: 0003 -> 0004 (head)" in restored
        assert "0004 (head)\n" == ok(into, "db", "current")
        counts = row_counts(into)
        assert {"users": SEEDED_USERS, "subscriptions": 0} == {
            name: counts[name] for name in ("users", "subscriptions")
        }
        assert "0003" == manifest_of(manifest_path)["schema_revision"]
        assert "subscriptions" not in manifest_of(manifest_path)["row_counts"]


class TestPostgresTools:
    def test_the_password_reaches_the_tools_through_the_environment(
        self, postgres_databases: PostgresDatabases, tmp_cwd: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """pg_dump and pg_restore get PGPASSWORD, never a password on the command line; the
        manifest and the output hide it too."""
        calls = tmp_cwd / "calls.txt"
        tools = tmp_cwd / "bin"
        tools.mkdir()
        for tool in ("pg_dump", "pg_restore"):
            wrapper = tools / tool
            wrapper.write_text(
                "#!/bin/sh\n"
                f'printf "args: %s\\nPGPASSWORD: %s\\n" "$*" "$PGPASSWORD" >> "{calls}"\n'
                f'exec "{shutil.which(tool)}" "$@"\n'
            )
            wrapper.chmod(0o755)
        monkeypatch.setenv("PATH", f"{tools}{os.pathsep}{os.environ['PATH']}")
        url = make_url(postgres_databases.new()).set(password="s3cret-pw")
        with_password = url.render_as_string(hide_password=False)
        empty = make_url(postgres_databases.new()).set(password="s3cret-pw")

        made = run(with_password, "db", "backup")
        manifest_path = Path(made.output.splitlines()[1].removeprefix("manifest written: "))
        restored = run(
            empty.render_as_string(hide_password=False), "db", "restore", str(manifest_path)
        )

        assert (0, 0) == (made.exit_code, restored.exit_code), made.output + restored.output
        lines = calls.read_text().splitlines()
        assert 2 == len([line for line in lines if line.startswith("args: ")])
        assert all("s3cret-pw" not in line for line in lines if line.startswith("args: "))
        assert {"PGPASSWORD: s3cret-pw"} == {
            line for line in lines if line.startswith("PGPASSWORD")
        }
        assert "s3cret-pw" not in made.output + restored.output + manifest_path.read_text()

    def test_without_pg_dump_the_backup_says_so_in_one_line(
        self, postgres_url: str, tmp_cwd: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """No PostgreSQL client tools: exit 10, one line, no file left behind."""
        monkeypatch.setenv("PATH", str(tmp_cwd))

        line = refused(postgres_url, 10, "db", "backup")

        assert "pg_dump is not on PATH" in line
        assert [] == list((tmp_cwd / "backups").iterdir())


class TestBackupFiles:
    def test_backups_are_readable_by_their_owner_only(self, seeded: str, tmp_cwd: Path) -> None:
        """The folder is 0700 when the backup makes it; data file and manifest are 0600,
        whatever the umask: they hold every user's data."""
        manifest = backup(seeded, "private/backups")

        assert 0o700 == stat.S_IMODE((tmp_cwd / "private" / "backups").stat().st_mode)
        assert 0o600 == stat.S_IMODE(manifest.stat().st_mode)
        assert 0o600 == stat.S_IMODE(data_of(manifest).stat().st_mode)

    def test_symlinks_planted_at_every_temporary_name_are_not_followed(
        self, seeded: str, tmp_cwd: Path
    ) -> None:
        """Links planted in the backup folder at the names a backup used to write through
        leave their targets untouched, and the backup is complete and restorable."""
        folder = tmp_cwd / "backups"
        folder.mkdir()
        victim = tmp_cwd / "victim.txt"
        victim.write_text("precious")
        first = backup(seeded)
        stem = first.name.split(".")[0]
        for name in (first.name, data_of(first).name):
            # the names this backup and the next ones in the same second would write through
            for taken in [stem, *(f"{stem}-{n}" for n in range(2, 6))]:
                (folder / f".{name.replace(stem, taken)}.partial").symlink_to(victim)

        second = backup(seeded)

        assert "precious" == victim.read_text()
        assert not second.is_symlink()
        assert not data_of(second).is_symlink()
        ok(seeded, "db", "restore", str(second), "--verify-only")

    def test_a_symlinked_backup_is_refused(self, seeded: str, tmp_cwd: Path) -> None:
        """A data file that is a symbolic link (to a file with the right bytes, even) is
        refused: a restore reads only what the backup folder holds."""
        manifest = backup(seeded)
        data = data_of(manifest)
        elsewhere = tmp_cwd / "elsewhere.bin"
        elsewhere.write_bytes(data.read_bytes())
        data.unlink()
        data.symlink_to(elsewhere)

        output = refused(seeded, 16, "db", "restore", str(manifest), "--verify-only")

        assert "symbolic link" in output
