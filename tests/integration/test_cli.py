"""The `saascore` command through click's runner, on SQLite files and Postgres."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import func, select

from adapters.sql import make_engine
from adapters.sql.tables import metadata
from entrypoints.bootstrap import bootstrap
from entrypoints.cli.main import cli
from entrypoints.settings import Settings
from saascore.models import EmailMessage
from tests.support.context import tx_of
from tests.support.databases import PostgresDatabases, SqliteDatabases
from tests.support.smtp import SmtpServer, free_port

DOWN_POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:1/nothing"
PRODUCTION = {
    "ENVIRONMENT": "production",
    "SECRET_KEY": "p" * 40,
    "EMAIL_BACKEND": "smtp",
    "SMTP_HOST": "127.0.0.1",
    "BILLING_BACKEND": "none",
}


@pytest.fixture(params=["sqlite", "postgres"])
def empty_url(request: pytest.FixtureRequest, tmp_cwd: Path) -> str:
    """An empty (unmigrated) database of each SQL kind."""
    if request.param == "sqlite":
        sqlite: SqliteDatabases = request.getfixturevalue("sqlite_databases")
        return sqlite.new(migrated=False)
    postgres: PostgresDatabases = request.getfixturevalue("postgres_databases")
    return postgres.new(migrated=False)


def run(url: str, *args: str, **env: str) -> Result:
    return CliRunner().invoke(
        cli,
        list(args),
        env={"DATABASE_URL": url, "LOG_LEVEL": "WARNING", **env},
        catch_exceptions=False,
    )


def row_counts(url: str) -> dict[str, int]:
    async def count() -> dict[str, int]:
        engine = make_engine(url)
        try:
            async with engine.connect() as conn:
                return {
                    name: (await conn.execute(select(func.count()).select_from(table))).scalar_one()
                    for name, table in metadata.tables.items()
                }
        finally:
            await engine.dispose()

    return asyncio.run(count())


def one_error_line(result: Result) -> str:
    lines = result.output.strip().splitlines()
    assert 1 == len(lines), result.output
    assert "Traceback" not in result.output
    return lines[0]


class TestDb:
    def test_upgrade_current_history(self, empty_url: str) -> None:
        """upgrade migrates to head and says so; current and history agree."""
        upgraded = run(empty_url, "db", "upgrade")
        current = run(empty_url, "db", "current")
        history = run(empty_url, "db", "history")

        assert (0, "database at 0004 (head)\n") == (upgraded.exit_code, upgraded.output)
        assert "0004 (head)\n" == current.output
        assert history.output.startswith("0004  billing: a subscription record")

    def test_downgrade_asks_unless_told_yes(self, empty_url: str) -> None:
        """Downgrading drops data, so it wants confirmation; --yes gives it."""
        run(empty_url, "db", "upgrade")

        refused = CliRunner().invoke(
            cli, ["db", "downgrade", "base"], input="n\n", env={"DATABASE_URL": empty_url}
        )
        done = run(empty_url, "db", "downgrade", "base", "--yes")

        assert 1 == refused.exit_code
        assert (0, "database at empty (no migrations applied)\n") == (done.exit_code, done.output)

    def test_seed_twice_leaves_identical_row_counts(self, empty_url: str) -> None:
        """The demo seed is idempotent: the second run adds nothing."""
        run(empty_url, "db", "upgrade")

        first = run(empty_url, "db", "seed")
        counts = row_counts(empty_url)
        second = run(empty_url, "db", "seed")

        assert (
            "seeded 4 users, 3 workspaces, 4 memberships, 2 invites, 2 subscriptions\n"
            == first.output
        )
        assert "demo data already present; nothing to do\n" == second.output
        assert counts == row_counts(empty_url)
        expected = {
            "users": 4,
            "workspaces": 3,
            "memberships": 7,
            "invites": 2,
            "outbox": 0,
            "subscriptions": 2,
            "billing_events": 0,
        }
        assert expected == {k: v for k, v in counts.items() if k in expected}

    def test_seed_refuses_production_without_force(self, empty_url: str) -> None:
        """Demo data never lands in production by accident."""
        run(empty_url, "db", "upgrade", **PRODUCTION)

        refused = run(empty_url, "db", "seed", **PRODUCTION)
        forced = run(empty_url, "db", "seed", "--force", **PRODUCTION)

        assert 5 == refused.exit_code
        assert "--force" in one_error_line(refused)
        assert 0 == forced.exit_code

    def test_memory_has_nothing_to_migrate(self, tmp_cwd: Path) -> None:
        """Migrating memory:// is bad input, said in one line."""
        result = run("memory://", "db", "upgrade")

        assert 7 == result.exit_code
        assert "DATABASE_URL" in one_error_line(result)


class TestAdminCommands:
    def test_workspaces_and_users_after_seeding(self, empty_url: str) -> None:
        """Operators see the demo workspaces, their members and the users."""
        run(empty_url, "db", "upgrade")
        run(empty_url, "db", "seed")

        listed = run(empty_url, "workspaces", "list")
        shown = json.loads(run(empty_url, "workspaces", "show", "acme-inc", "--json").output)
        users = json.loads(run(empty_url, "users", "list", "--json").output)

        assert ["Acme Inc", "Demo Studio", "Initech"] == [
            line.split("  ")[0] for line in listed.output.splitlines()[1:]
        ]
        assert {
            ("ada@example.com", "admin"),
            ("founder@example.com", "owner"),
            ("max@example.com", "member"),
        } == {(m["email"], m["role"]) for m in shown["members"]}
        assert 4 == len(users)

    def test_an_unknown_workspace_is_one_line_and_exit_4(self, empty_url: str) -> None:
        """Not found maps to exit code 4 with a message naming what was asked for."""
        run(empty_url, "db", "upgrade")

        result = run(empty_url, "workspaces", "show", "nope")

        assert 4 == result.exit_code
        assert "'nope'" in one_error_line(result)


class TestErrors:
    def test_a_nonsense_database_url_names_the_variable(self, tmp_cwd: Path) -> None:
        """Bad settings exit 3 with one line naming DATABASE_URL."""
        result = run("nonsense", "db", "upgrade")

        assert 3 == result.exit_code
        assert "DATABASE_URL" in one_error_line(result)

    def test_a_database_that_is_down_is_exit_10(self, tmp_cwd: Path) -> None:
        """An unreachable database is a dependency failure, reported in one line."""
        upgrade = run(DOWN_POSTGRES, "db", "upgrade")
        listing = run(DOWN_POSTGRES, "users", "list")

        assert (10, 10) == (upgrade.exit_code, listing.exit_code)
        assert "cannot reach the database" in one_error_line(upgrade)
        one_error_line(listing)

    def test_dev_refuses_production(self, tmp_cwd: Path) -> None:
        """`saascore dev` is never a production server."""
        result = run("memory://", "dev", **PRODUCTION)

        assert 5 == result.exit_code
        assert "saascore serve" in one_error_line(result)

    def test_settings_come_from_dotenv(self, tmp_cwd: Path) -> None:
        """A .env in the working folder is read when the environment is silent."""
        (tmp_cwd / ".env").write_text("DATABASE_URL=nonsense-from-dotenv\n")

        result = CliRunner().invoke(cli, ["db", "current"], env={"DATABASE_URL": None})

        assert 3 == result.exit_code
        assert "DATABASE_URL" in one_error_line(result)


def queue_one(url: str) -> None:
    """Put one message in the outbox of ``url``, as a sign-in request would."""

    async def work() -> None:
        services = bootstrap(Settings(database_url=url, environment="test"))
        try:
            async with services.uow() as uow:
                await tx_of(services, uow).enqueue(
                    EmailMessage("fran@example.com", "Hello", "text")
                )
                await uow.commit()
        finally:
            await services.aclose()

    asyncio.run(work())


class TestMail:
    def test_outbox_status_and_flush_through_smtp(self, sqlite_url: str, tmp_cwd: Path) -> None:
        """status counts the queue; flush delivers through SMTP and says so."""
        queue_one(sqlite_url)
        with SmtpServer() as server:
            smtp = {
                "EMAIL_BACKEND": "smtp",
                "SMTP_HOST": server.host,
                "SMTP_PORT": str(server.port),
                "SMTP_TLS": "none",
            }
            before = run(sqlite_url, "outbox", "status", **smtp)
            flushed = run(sqlite_url, "outbox", "flush", **smtp)
            after = json.loads(run(sqlite_url, "outbox", "status", "--json", **smtp).output)

        assert before.output.startswith("pending 1, sent 0, failed 0")
        assert (0, "sent 1, will retry 0, gave up 0\n") == (flushed.exit_code, flushed.output)
        assert (0, 1) == (after["pending"], after["sent"])
        assert ["fran@example.com"] == [m["To"] for m in server.messages]

    def test_flush_with_smtp_down_keeps_the_mail_and_exits_10(
        self, sqlite_url: str, tmp_cwd: Path
    ) -> None:
        """Nothing is lost: the message stays pending with its error."""
        queue_one(sqlite_url)
        down = {
            "EMAIL_BACKEND": "smtp",
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(free_port()),
            "SMTP_TLS": "none",
            "SMTP_TIMEOUT_SECONDS": "2",
        }

        flushed = run(sqlite_url, "outbox", "flush", **down)
        status = json.loads(run(sqlite_url, "outbox", "status", "--json", **down).output)

        assert (10, "sent 0, will retry 1, gave up 0\n") == (flushed.exit_code, flushed.output)
        assert 1 == status["pending"]
        assert status["recent"][0]["last_error"]

    def test_email_test_sends_straight_away(self, tmp_cwd: Path) -> None:
        """`email test` goes through the configured backend, not the outbox."""
        result = run("memory://", "email", "test", "Ops@Example.com", EMAIL_BACKEND="stub")

        assert 0 == result.exit_code
        assert "sent a test email to ops@example.com through the stub backend" in result.output

    def test_email_test_reports_a_down_server_in_one_line(self, tmp_cwd: Path) -> None:
        """An unreachable SMTP server is exit 10 with the reason, never a traceback."""
        result = run(
            "memory://",
            "email",
            "test",
            "ops@example.com",
            EMAIL_BACKEND="smtp",
            SMTP_HOST="127.0.0.1",
            SMTP_PORT=str(free_port()),
            SMTP_TLS="none",
        )

        assert 10 == result.exit_code
        one_error_line(result)


class TestPrune:
    def test_prune_reports_what_it_deleted(self, sqlite_url: str, tmp_cwd: Path) -> None:
        """`db prune` runs on a real database and says what went."""
        result = run(sqlite_url, "db", "prune")

        assert (0, "deleted 0 sign-in links, 0 ended sessions, 0 delivered emails\n") == (
            result.exit_code,
            result.output,
        )
