"""``saascore db``: migrations and demo data."""

from __future__ import annotations

import click
from alembic.util import CommandError

from adapters.sql import migrate
from adapters.sql.engine import make_engine
from entrypoints.bootstrap import Services
from entrypoints.cli.common import run_async, settings, with_services
from entrypoints.cli.errors import CliError
from entrypoints.dispatcher import prune_now
from entrypoints.seed import SeedReport, seed_demo_data
from saascore.errors import InvalidInput, PermissionDenied


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
    """Migrate the schema and load demo data."""


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
    async with services.uow() as uow:
        report = await seed_demo_data(
            uow,
            services.clock,
            offline_billing=services.settings.billing_backend in ("stub", "memory"),
        )
        await uow.commit()
    return report


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
