"""`saascore config check`: each rule of the troubleshooting table trips on the configuration it
is about, names the variable and says how to fix it; a good configuration passes."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import make_url, text

from adapters.sql import make_engine
from entrypoints.cli.main import cli

PRODUCTION = {
    "ENVIRONMENT": "production",
    "SECRET_KEY": "p" * 40,
    "EMAIL_BACKEND": "smtp",
    "SMTP_HOST": "smtp.example.com",
    "BILLING_BACKEND": "none",
}


def check(url: str, *args: str, **env: str) -> Result:
    return CliRunner().invoke(
        cli, ["config", "check", *args], env={"DATABASE_URL": url, "LOG_LEVEL": "WARNING", **env}
    )


def lines(result: Result, level: str) -> list[str]:
    return [line for line in result.stdout.splitlines() if line.startswith(level)]


@pytest.fixture
def migrated(sqlite_url: str, tmp_cwd: Path) -> str:
    return sqlite_url


class TestRules:
    def test_a_good_configuration_passes(self, migrated: str) -> None:
        result = check(migrated)

        assert 0 == result.exit_code, result.output
        assert [] == lines(result, "error")
        assert "ok     database: reachable, at the newest migration, writable" in result.stdout

    @pytest.mark.parametrize(
        ("env", "variable", "fix"),
        [
            ({**PRODUCTION, "EMAIL_BACKEND": "stub"}, "EMAIL_BACKEND", "EMAIL_BACKEND=smtp"),
            ({**PRODUCTION, "SMTP_HOST": ""}, "EMAIL_BACKEND", "SMTP_HOST"),
            (
                {"BILLING_BACKEND": "stripe", "STRIPE_SECRET_KEY": "sk_test_1"},
                "STRIPE_WEBHOOK_SECRET",
                "whsec_",
            ),
            (
                {**PRODUCTION, "SECRET_KEY": "dev-secret-key-do-not-use-in-production-0123456789"},
                "SECRET_KEY",
                "secrets.token_urlsafe",
            ),
            ({"DATABASE_URL": "mysql://db.example/app"}, "DATABASE_URL", "sqlite+aiosqlite"),
        ],
    )
    def test_settings_that_do_not_load_are_errors_naming_the_variable(
        self, migrated: str, env: dict[str, str], variable: str, fix: str
    ) -> None:
        result = check(migrated, **env)

        [error] = lines(result, "error")
        assert 3 == result.exit_code
        assert error.startswith(f"error  {variable}: ")
        assert fix in error
        assert "not checked: fix the settings above first" in result.stdout

    @pytest.mark.parametrize(
        ("env", "variable"),
        [
            ({"BASE_URL": "https://app.example.com/?key=sk_live_abc123"}, "BASE_URL"),
            ({"BASE_URL": "https://admin:hunter2@app.example.com"}, "BASE_URL"),
            ({"SMTP_FROM": "whsec_abcdef <a@example.com>"}, "SMTP_FROM"),
            ({"STRIPE_API_BASE": "http://127.0.0.1:8420/sk_test_abc123"}, "STRIPE_API_BASE"),
            ({"STRIPE_SECRET_KEY": "pk_live_abc"}, "STRIPE_SECRET_KEY"),
        ],
    )
    def test_a_secret_where_people_can_read_it_is_an_error(
        self, migrated: str, env: dict[str, str], variable: str
    ) -> None:
        result = check(migrated, **env)

        [error] = lines(result, "error")
        assert 3 == result.exit_code
        assert error.startswith(f"error  {variable}: ")
        assert "hunter2" not in result.output

    def test_memory_rate_limits_with_several_workers(self, migrated: str) -> None:
        result = check(migrated, WEB_CONCURRENCY="4")

        [error] = lines(result, "error")
        assert 3 == result.exit_code
        assert error.startswith("error  RATE_LIMIT_STORAGE_URL: memory:// with WEB_CONCURRENCY=4")
        assert "redis://" in error

    def test_redis_rate_limits_with_several_workers_pass(self, migrated: str) -> None:
        result = check(
            migrated, WEB_CONCURRENCY="4", RATE_LIMIT_STORAGE_URL="redis://127.0.0.1:6379/0"
        )

        assert 0 == result.exit_code, result.output

    def test_an_unreachable_database(self, tmp_cwd: Path) -> None:
        result = check("postgresql+asyncpg://postgres@127.0.0.1:1/nothing")

        [error] = lines(result, "error")
        assert 3 == result.exit_code
        assert error.startswith("error  DATABASE_URL: database unreachable")

    def test_migrations_behind(self, tmp_cwd: Path) -> None:
        empty = f"sqlite+aiosqlite:///{tmp_cwd / 'empty.db'}"

        result = check(empty)

        [error] = lines(result, "error")
        assert 3 == result.exit_code
        assert "migrations behind: database at empty" in error
        assert "saascore db upgrade" in error

    def test_sqlite_in_production_is_a_warning(self, migrated: str) -> None:
        result = check(migrated, **PRODUCTION)

        assert 0 == result.exit_code, result.output
        assert lines(result, "warn")[0].startswith("warn   DATABASE_URL: SQLite in production")


@pytest.fixture
def powerless_url(postgres_url: str) -> Iterator[str]:
    """The same Postgres database, reached as a role that was granted nothing."""
    role = f"saascore_nobody_{uuid.uuid4().hex[:8]}"

    async def run(*statements: str) -> None:
        engine = make_engine(postgres_url)
        try:
            async with engine.begin() as conn:
                for sql in statements:
                    await conn.execute(text(sql))
        finally:
            await engine.dispose()

    asyncio.run(run(f"CREATE ROLE {role} LOGIN"))
    try:
        yield make_url(postgres_url).set(username=role).render_as_string(hide_password=False)
    finally:
        asyncio.run(run(f"DROP OWNED BY {role}", f"DROP ROLE {role}"))


def test_a_role_without_permissions(powerless_url: str, tmp_cwd: Path) -> None:
    result = check(powerless_url)

    errors = lines(result, "error")
    assert 3 == result.exit_code
    assert any("may not read and write" in e and "GRANT" in e for e in errors), result.output


def test_show_prints_the_settings_with_every_secret_redacted(migrated: str) -> None:
    secrets = {
        "SECRET_KEY": "s3cret-" * 6,
        "SMTP_PASSWORD": "smtp-pass-123",
        "STRIPE_SECRET_KEY": "sk_test_topsecret",
        "STRIPE_WEBHOOK_SECRET": "whsec_topsecret",
        "RATE_LIMIT_STORAGE_URL": "redis://:redis-pass-9@127.0.0.1:6379/0",
    }

    result = check(migrated, "--show", **secrets)

    shown = json.loads(result.stdout[result.stdout.index("{") :])
    for value in ("s3cret-", "smtp-pass-123", "topsecret", "redis-pass-9"):
        assert value not in result.output
    assert ("***", "***") == (shown["STRIPE_SECRET_KEY"], shown["SMTP_PASSWORD"])
    assert "redis://:***@127.0.0.1:6379/0" == shown["RATE_LIMIT_STORAGE_URL"]
    assert migrated == shown["DATABASE_URL"]
