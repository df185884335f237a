"""Settings: one attrs class, loaded from the environment (and an optional ``.env``) by one
function. A bad value stops start-up with a line that names the variable."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal, get_args, get_type_hints
from urllib.parse import urlsplit

import attrs
import cattrs
from attrs import field, fields, frozen
from dotenv import dotenv_values

from adapters.sql.engine import normalise_database_url

Environment = Literal["development", "test", "production"]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]
LogFormat = Literal["auto", "json", "console"]

# Public on purpose: anyone may read it, so production refuses to start with it.
DEV_SECRET_KEY = "dev-secret-key-do-not-use-in-production-0123456789"  # noqa: S105
MEMORY_DATABASE_URL = "memory://"


@frozen
class Settings:
    """Every setting saascore reads; the variable name is the field name in capitals."""

    environment: Environment = "development"
    database_url: str = "sqlite+aiosqlite:///saascore.db"
    secret_key: str = field(default=DEV_SECRET_KEY, repr=False)
    base_url: str = "http://127.0.0.1:8000"
    host: str = "127.0.0.1"
    port: int = 8000
    log_level: LogLevel = "INFO"
    log_format: LogFormat = "auto"

    @property
    def is_production(self) -> bool:
        return self.environment == "production"

    @property
    def json_logs(self) -> bool:
        if self.log_format == "auto":
            return self.is_production
        return self.log_format == "json"

    @property
    def uses_memory_database(self) -> bool:
        return self.database_url == MEMORY_DATABASE_URL


SECRET_FIELDS = frozenset({"secret_key"})


class SettingsError(Exception):
    """The configuration cannot be used; ``problems`` holds one line per bad variable."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


def variable(name: str) -> str:
    """The environment variable that sets field ``name``."""
    return name.upper()


def _database_url(value: str, _: Mapping[str, Any]) -> str:
    if value == MEMORY_DATABASE_URL:
        return value
    return normalise_database_url(value)


def _secret_key(value: str, values: Mapping[str, Any]) -> str:
    if values.get("environment") == "production" and value == DEV_SECRET_KEY:
        raise ValueError(
            "the development key must not be used in production; set a random value, e.g. "
            "`python -c 'import secrets; print(secrets.token_urlsafe(48))'`"
        )
    if len(value) < 32:
        raise ValueError("must be at least 32 characters of random text")
    return value


def _base_url(value: str, _: Mapping[str, Any]) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("must be an absolute http(s) URL like https://app.example.com")
    return value.rstrip("/")


def _port(value: int, _: Mapping[str, Any]) -> int:
    if not 1 <= value <= 65535:
        raise ValueError("must be between 1 and 65535")
    return value


_CHECKS: Mapping[str, Callable[[Any, Mapping[str, Any]], Any]] = {
    "database_url": _database_url,
    "secret_key": _secret_key,
    "base_url": _base_url,
    "port": _port,
}

_converter = cattrs.Converter(forbid_extra_keys=True)


def _format_error(exc: BaseException, type_: Any) -> str:
    if type_ is not None and get_args(type_) and all(isinstance(a, str) for a in get_args(type_)):
        return "must be one of " + ", ".join(get_args(type_))
    if type_ is int:
        return "must be a whole number"
    return str(exc) or "invalid value"


def _raw_values(environ: Mapping[str, str], env_file: Path | None) -> dict[str, str]:
    names = {variable(f.name): f.name for f in fields(Settings)}
    sources: list[Mapping[str, str | None]] = []
    if env_file is not None and env_file.is_file():
        sources.append(dotenv_values(env_file))
    sources.append(environ)  # the real environment wins over .env
    raw: dict[str, str] = {}
    for source in sources:
        for key, value in source.items():
            if key in names and value is not None:
                raw[names[key]] = value.strip()
    return raw


def load_settings(
    environ: Mapping[str, str] | None = None, *, env_file: Path | None = Path(".env")
) -> Settings:
    """Read settings from ``environ`` (default ``os.environ``) and ``env_file``.

    Raises ``SettingsError`` listing every bad variable, one line each.
    """
    if environ is None:
        import os  # noqa: PLC0415 - read only when asked, never at import time

        environ = os.environ
    raw = _raw_values(environ, env_file)
    try:
        values: dict[str, Any] = attrs.asdict(_converter.structure(raw, Settings))
    except cattrs.ClassValidationError as group:
        problems = []
        for exc in group.exceptions:
            note = getattr(exc, "__notes__", [""])[0]
            name = note.rsplit(" ", 1)[-1] if note else "?"
            type_ = get_type_hints(Settings).get(name)
            problems.append(f"{variable(name)}: {_format_error(exc, type_)}")
        raise SettingsError(problems) from None
    problems = []
    for name, check in _CHECKS.items():
        try:
            values[name] = check(values[name], values)
        except ValueError as exc:
            problems.append(f"{variable(name)}: {exc}")
    if problems:
        raise SettingsError(problems)
    return Settings(**values)


def redacted(settings: Settings) -> dict[str, Any]:
    """The settings as a dict with every secret replaced, safe to print or log."""
    values = attrs.asdict(settings)
    for name in SECRET_FIELDS:
        values[name] = "***"
    return values
