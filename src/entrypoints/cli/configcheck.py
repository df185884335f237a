"""``saascore config check``: the runbook's troubleshooting table as checks.

Each check gives ``ok``, ``warn`` or ``error`` and, for anything but ``ok``, the fix in the
same line. Settings that do not load are errors (each names its variable); the database is
only checked once they do.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal
from urllib.parse import urlsplit

import attrs
from attrs import frozen

from adapters.sql import make_engine
from adapters.sql.checks import permission_problems
from adapters.sql.migrate import readiness_problems
from entrypoints.settings import (
    DEV_SECRET_KEY,
    SECRET_FIELDS,
    Settings,
    SettingsError,
    load_settings,
    redacted,
    variable,
)

Level = Literal["ok", "warn", "error"]

# What a secret looks like when it turns up where anyone may read it.
SECRET_SHAPES = re.compile(r"\b(sk|rk)_(live|test)_[A-Za-z0-9]+|\bwhsec_[A-Za-z0-9]+")
# Settings that are shown to people (links, emails, pages) or to the browser.
PUBLIC_FIELDS = ("base_url", "smtp_from", "stripe_api_base", "host")


@frozen
class Finding:
    level: Level
    name: str
    message: str

    def line(self) -> str:
        return f"{self.level:<5}  {self.name}: {self.message}"


def _url_password(value: str) -> bool:
    try:
        return bool(urlsplit(value).password)
    except ValueError:
        return False


def static_findings(settings: Settings) -> list[Finding]:
    """Checks that need no network."""
    found: list[Finding] = []
    production = settings.is_production
    if production and settings.secret_key == DEV_SECRET_KEY:  # load_settings refuses it too
        found.append(Finding("error", "SECRET_KEY", "the public development key: set a random one"))
    for name in PUBLIC_FIELDS:
        value = str(getattr(settings, name))
        if SECRET_SHAPES.search(value) or _url_password(value):
            found.append(
                Finding(
                    "error",
                    variable(name),
                    "holds a secret, and this setting is shown to people: move the secret to "
                    "its own variable (STRIPE_SECRET_KEY, SMTP_PASSWORD, ...) and rotate it",
                )
            )
    if settings.stripe_secret_key.startswith("pk_"):
        found.append(
            Finding(
                "error",
                "STRIPE_SECRET_KEY",
                "is a publishable key (pk_...): use the secret key (sk_... or rk_...)",
            )
        )
    if settings.billing_backend == "stripe" and not settings.stripe_webhook_secret:
        found.append(  # load_settings refuses it too
            Finding("error", "STRIPE_WEBHOOK_SECRET", "Stripe is enabled without a webhook secret")
        )
    if settings.web_concurrency > 1 and settings.rate_limit_storage_url.startswith("memory://"):
        found.append(
            Finding(
                "error",
                "RATE_LIMIT_STORAGE_URL",
                f"memory:// with WEB_CONCURRENCY={settings.web_concurrency}: each worker counts "
                "on its own, so clients get that many times the limit; set "
                "RATE_LIMIT_STORAGE_URL=redis://host:6379/0",
            )
        )
    if production and settings.database_url.startswith("sqlite"):
        found.append(
            Finding(
                "warn",
                "DATABASE_URL",
                "SQLite in production: fine on one machine with one worker; use Postgres to run "
                "several workers or machines",
            )
        )
    if not production and settings.email_backend == "stub":
        found.append(
            Finding("ok", "EMAIL_BACKEND", "stub: email is printed, not sent (development)")
        )
    if not [f for f in found if f.level != "ok"]:
        found.append(Finding("ok", "settings", f"loaded (ENVIRONMENT={settings.environment})"))
    return found


async def database_findings(settings: Settings) -> list[Finding]:
    """Reachable, migrated, and usable by this role."""
    if settings.uses_memory_database:
        return [Finding("warn", "DATABASE_URL", "memory://: nothing survives a restart")]
    engine = make_engine(settings.database_url)
    try:
        problems = await readiness_problems(engine)
        down = [p for p in problems if p.startswith("database unreachable")]
        denied = [p for p in down if "permission denied" in p]
        if down and not denied:
            return [
                Finding(
                    "error",
                    "DATABASE_URL",
                    f"{down[0]}: check the host, port, name and credentials, and that the "
                    "server runs",
                )
            ]
        found = [Finding("error", "migrations", p) for p in problems if p not in down]
        found += [Finding("error", "database", p) for p in await permission_problems(engine)]
        if denied and not found:
            found.append(Finding("error", "database", denied[0]))
    finally:
        await engine.dispose()
    if not found:
        found.append(Finding("ok", "database", "reachable, at the newest migration, writable"))
    return found


async def check(environ: Mapping[str, str] | None = None) -> tuple[list[Finding], Settings | None]:
    """Every finding, and the settings when they loaded."""
    try:
        settings = load_settings(environ)
    except SettingsError as exc:
        findings = [_problem(line) for line in exc.problems]
        findings.append(Finding("warn", "database", "not checked: fix the settings above first"))
        return findings, None
    return static_findings(settings) + await database_findings(settings), settings


def _problem(line: str) -> Finding:
    name, _, message = line.partition(": ")
    return Finding("error", name, message)


def shown(settings: Settings) -> dict[str, Any]:
    """The effective settings with every secret redacted, passwords in URLs included."""
    values = redacted(settings)
    for name, value in attrs.asdict(settings).items():
        if name not in SECRET_FIELDS and isinstance(value, str) and _url_password(value):
            parts = urlsplit(value)
            values[name] = value.replace(f":{parts.password}@", ":***@", 1)
    return {variable(name): value for name, value in values.items()}
