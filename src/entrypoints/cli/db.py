"""``saascore db``: migrations, backups and demo data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import click
from alembic.util import CommandError

from adapters.sql import backup as backups
from adapters.sql import migrate
from adapters.sql.engine import make_engine
from entrypoints.bootstrap import Services
from entrypoints.cli.common import run_async, settings, with_services
from entrypoints.cli.errors import EXIT_BACKUP_REFUSED, CliError
from entrypoints.cli.seed import SeedReport, seed_demo_data
from entrypoints.dispatcher import prune_now
from saascore import __version__
from saascore.errors import InvalidInput, PermissionDenied
from saascore.models import Actor


def _sql_url() -> str:
    current = settings()
    if current.uses_memory_database:
        raise InvalidInput({"DATABASE_URL": "memory:// keeps nothing; migrations need SQL"})
    return current.database_url


async def _current_revision(url: str) -> str | None:
    engine = make_engine(url)
    try:
        return await migrate.current_revision(engine)
    finally:
        await engine.dispose()


def _describe(revision: str | None) -> str:
    if revision is None:
        return "empty (no migrations applied)"
    head = migrate.head_revision()
    return f"{revision} (head)" if revision == head else f"{revision} (behind head {head})"


@click.group()
def db() -> None:
    """Migrate the schema, back up and restore the database, load demo data."""


@db.command()
@click.argument("revision", default="head")
def upgrade(revision: str) -> None:
    """Upgrade the schema to REVISION (default: the newest)."""
    url = _sql_url()
    try:
        migrate.upgrade(url, revision)
    except CommandError as exc:
        raise CliError(f"cannot upgrade: {exc}", 7) from exc
    click.echo(f"database at {_describe(run_async(_current_revision(url)))}")


@db.command()
@click.argument("revision")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def downgrade(revision: str, yes: bool) -> None:
    """Downgrade the schema to REVISION ("base" drops every table). Data in dropped
    tables and columns is lost: back up first."""
    url = _sql_url()
    if not yes:
        click.confirm(f"Downgrade the database to {revision}? Dropped data is lost", abort=True)
    try:
        migrate.downgrade(url, revision)
    except CommandError as exc:
        raise CliError(f"cannot downgrade: {exc}", 7) from exc
    click.echo(f"database at {_describe(run_async(_current_revision(url)))}")


@db.command()
def current() -> None:
    """Show the schema revision of the database."""
    click.echo(_describe(run_async(_current_revision(_sql_url()))))


@db.command()
def history() -> None:
    """List the known schema revisions, newest first."""
    head = migrate.head_revision()
    for revision, message in migrate.history():
        click.echo(f"{revision}  {message}{'  (head)' if revision == head else ''}")


async def seed_services(services: Services) -> SeedReport:
    async with services.transaction(Actor.system()) as tx:
        return await seed_demo_data(tx, offline_billing=services.billing_stub is not None)


@db.command()
@click.option("--force", is_flag=True, help="Seed even when ENVIRONMENT=production.")
def seed(force: bool) -> None:
    """Load the demo data (idempotent: a second run adds nothing)."""
    if settings().is_production and not force:
        raise PermissionDenied(
            "refusing to load demo data with ENVIRONMENT=production; pass --force to insist"
        )
    report = with_services(seed_services)
    if report.created_anything:
        click.echo(
            f"seeded {report.users} users, {report.workspaces} workspaces, "
            f"{report.memberships} memberships, {report.invites} invites, "
            f"{report.subscriptions} subscriptions"
        )
    else:
        click.echo("demo data already present; nothing to do")


@db.command()
def prune() -> None:
    """Delete used sign-in links, ended sessions and email delivered over 30 days ago (the
    web app also does this hourly). Invitations and the audit trail are kept."""
    report = with_services(prune_now)
    click.echo(
        f"deleted {report.login_links} sign-in links, {report.sessions} ended sessions, "
        f"{report.sent_email} delivered emails"
    )


def _when(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _size(manifest: backups.Manifest) -> str:
    return f"{manifest.tables} tables, {manifest.rows} rows"


@db.command()
@click.option(
    "--to",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("backups"),
    show_default=True,
    help="The folder to write the backup into (made if missing).",
)
@click.option(
    "--keep-days",
    type=click.IntRange(min=0),
    default=7,
    show_default=True,
    help="Then delete the saascore backups in that folder older than this (never the new one).",
)
def backup(directory: Path, keep_days: int) -> None:
    """Back up the database: SQLite through its online backup API, Postgres through
    pg_dump, both consistent while the app writes. A manifest beside the data file holds
    the schema revision, the rows per table and the file's SHA-256."""
    url = _sql_url()
    now = datetime.now(UTC)
    made = run_async(backups.create_backup(url, directory, now=now, app_version=__version__))
    manifest = made.manifest
    click.echo(
        f"backup written: {made.data_path} ({_size(manifest)}, sha256 {manifest.sha256[:12]})"
    )
    click.echo(f"manifest written: {made.manifest_path}")
    click.echo(f"schema revision: {_describe(manifest.schema_revision)}")
    cutoff = now - timedelta(days=keep_days)
    deleted = backups.prune_backups(directory, older_than=cutoff, keep=made)
    for old in deleted:
        click.echo(f"deleted old backup: {old.data_path} (made {_when(old.manifest.created_at)})")
    count = f"{len(deleted)} backup{'' if len(deleted) == 1 else 's'}"
    click.echo(f"retention: deleted {count} older than {keep_days} days")


@db.command()
@click.argument("path", metavar="BACKUP", type=click.Path(path_type=Path))
@click.option(
    "--verify-only",
    is_flag=True,
    help="Restore into a scratch database, compare its rows with the manifest, drop it; "
    "the database is not touched.",
)
@click.option("--force", is_flag=True, help="Overwrite a database that holds rows.")
def restore(path: Path, verify_only: bool, force: bool) -> None:
    """Restore BACKUP (its manifest, its data file, or the name they share) into the
    database, and upgrade the schema when the backup is older than the code. A backup whose
    manifest is missing or whose size or SHA-256 differs is refused (exit 16) and nothing
    is touched; a database that holds rows is refused (exit 6) unless --force."""
    url = _sql_url()
    found = backups.open_backup(path)
    manifest = found.manifest
    click.echo(
        f"backup checked: {found.data_path} ({manifest.kind}, schema "
        f"{manifest.schema_revision}, {_size(manifest)}, sha256 {manifest.sha256[:12]}, "
        f"made {_when(manifest.created_at)} by saascore {manifest.app_version})"
    )
    if verify_only:
        _verify(found, url)
        return
    restored = run_async(backups.restore_backup(found, url, force=force))
    click.echo(f"restored into {restored.target}: row counts match the manifest")
    if restored.upgraded_from:
        head = migrate.head_revision()
        click.echo(f"schema upgraded: {restored.upgraded_from} -> {head} (head)")
    else:
        click.echo(f"schema at {_describe(manifest.schema_revision)}")


def _verify(found: backups.Backup, url: str) -> None:
    verified = run_async(backups.verify_restore(found, url))
    click.echo(f"restored into {verified.scratch}, removed afterwards")
    for problem in verified.differences:
        click.echo(problem)
    if verified.differences:
        raise CliError(
            f"row counts differ from the manifest in {len(verified.differences)} tables",
            EXIT_BACKUP_REFUSED,
        )
    click.echo(f"row counts match the manifest ({_size(found.manifest)})")
    if verified.upgraded_from:
        head = migrate.head_revision()
        click.echo(f"schema upgrade {verified.upgraded_from} -> {head} (head) works on the copy")
    click.echo("database untouched")
