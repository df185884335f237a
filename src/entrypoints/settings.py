"""Settings: one attrs class, loaded from the environment (and an optional ``.env``) by one
function. A bad value stops start-up with a line that names the variable."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Mapping
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from typing import Any, Literal, get_args, get_type_hints
from urllib.parse import urlsplit

import attrs
import cattrs
from attrs import field, fields, frozen
from cattrs.errors import CattrsError
from dotenv import dotenv_values

from adapters.ratelimit import SUPPORTED_SCHEMES, redis_available
from adapters.sql.engine import normalise_database_url
from saascore.models import Plan

Environment = Literal["development", "test", "production"]
EmailBackend = Literal["stub", "smtp", "memory"]
SmtpTls = Literal["starttls", "tls", "none"]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]
LogFormat = Literal["auto", "json", "console"]
BillingBackend = Literal["stub", "stripe", "none", "memory"]

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
    web_concurrency: int = 1  # worker processes (uvicorn's and gunicorn's variable)
    body_read_timeout_seconds: int = 10  # a request body not all there by then answers 408
    log_level: LogLevel = "INFO"
    log_format: LogFormat = "auto"
    # Sign-in
    signup_enabled: bool = True
    login_link_ttl_seconds: int = 600
    session_idle_ttl_seconds: int = 7 * 24 * 3600
    session_absolute_ttl_seconds: int = 30 * 24 * 3600
    trusted_proxies: str = ""
    # Invites
    invite_ttl_seconds: int = 7 * 24 * 3600
    invite_limit_per_workspace: int = 50
    invite_limit_window_minutes: int = 60
    # Email
    email_backend: EmailBackend = "stub"
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_username: str = ""
    smtp_password: str = field(default="", repr=False)
    smtp_from: str = "saascore <no-reply@localhost>"
    smtp_tls: SmtpTls = "starttls"
    smtp_timeout_seconds: int = 10
    outbox_max_attempts: int = 8
    outbox_poll_seconds: int = 5
    # Rate limits: the general one per client, and stricter ones for sign-in
    rate_limit_storage_url: str = "memory://"
    rate_limit_max: int = 300
    rate_limit_window_minutes: int = 5
    login_link_limit_per_email: int = 5
    login_link_limit_per_ip: int = 20
    login_link_limit_window_minutes: int = 15
    confirm_limit_per_ip: int = 30
    confirm_limit_window_minutes: int = 15
    # Billing
    billing_backend: BillingBackend = "stub"
    billing_plans: str = "free::5,pro:price_pro_monthly:25,business:price_business_monthly:"
    billing_past_due_grace_seconds: int = 7 * 24 * 3600
    stripe_secret_key: str = field(default="", repr=False)
    stripe_webhook_secret: str = field(default="", repr=False)
    stripe_api_base: str = ""
    stripe_timeout_seconds: int = 5
    webhook_limit_per_ip: int = 600
    webhook_limit_window_minutes: int = 1

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

    @property
    def uses_https(self) -> bool:
        return self.base_url.startswith("https://")

    @property
    def plans(self) -> tuple[Plan, ...]:
        return parse_plans(self.billing_plans)

    @property
    def trusted_networks(self) -> tuple[IPv4Network | IPv6Network, ...]:
        return _networks(self.trusted_proxies)


SECRET_FIELDS = frozenset(
    {"secret_key", "smtp_password", "stripe_secret_key", "stripe_webhook_secret"}
)


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
    url = normalise_database_url(value)
    if url.startswith("postgresql") and importlib.util.find_spec("asyncpg") is None:
        raise ValueError("Postgres needs its driver: pip install 'saascore[postgres]'")
    return url


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
    # The scheme is case-insensitive: "HTTPS://app.example.com" is https all the same (and
    # must turn on Secure cookies, the __Host- prefix and HSTS).
    return (parts.scheme + value[len(parts.scheme) :]).rstrip("/")


def _port(value: int, _: Mapping[str, Any]) -> int:
    if not 1 <= value <= 65535:
        raise ValueError("must be between 1 and 65535")
    return value


def _positive(value: int, _: Mapping[str, Any]) -> int:
    if value < 1:
        raise ValueError("must be 1 or more")
    return value


def _networks(value: str) -> tuple[IPv4Network | IPv6Network, ...]:
    return tuple(
        ip_network(part.strip(), strict=False) for part in value.split(",") if part.strip()
    )


def _trusted_proxies(value: str, _: Mapping[str, Any]) -> str:
    try:
        _networks(value)
    except ValueError:
        raise ValueError(
            "must be a comma-separated list of IP addresses or networks, e.g. 10.0.0.0/8,::1"
        ) from None
    return value


def _email_backend(value: str, values: Mapping[str, Any]) -> str:
    if values.get("environment") == "production" and value != "smtp":
        raise ValueError(
            f"{value!r} does not deliver email; production needs EMAIL_BACKEND=smtp and SMTP_HOST"
        )
    if value == "smtp" and not values.get("smtp_host"):
        raise ValueError("smtp needs SMTP_HOST (and usually SMTP_USERNAME and SMTP_PASSWORD)")
    return value


def parse_plans(value: str) -> tuple[Plan, ...]:
    """``name:price_id:seats`` entries, comma-separated; the first is the free plan (no price
    id); an empty seat count means no limit. ``ValueError`` names what is wrong."""
    plans: list[Plan] = []
    for entry in (e.strip() for e in value.split(",") if e.strip()):
        parts = entry.split(":")
        if len(parts) != 3 or not parts[0]:
            raise ValueError(f"{entry!r} is not name:price_id:seats")
        name, price, seats = (p.strip() for p in parts)
        if seats and not (seats.isdigit() and int(seats) >= 1):
            raise ValueError(f"{name}: seats must be a whole number of 1 or more, or empty")
        if any(p.name == name for p in plans):
            raise ValueError(f"{name} is listed twice")
        plans.append(
            Plan(name=name, price_id=price or None, seat_limit=int(seats) if seats else None)
        )
    if not plans or not plans[0].is_free:
        raise ValueError("the first plan must be the free one, with no price id, e.g. free::5")
    if any(p.is_free for p in plans[1:]):
        raise ValueError("only the first plan may be free; give the others a Stripe price id")
    return tuple(plans)


def _billing_plans(value: str, _: Mapping[str, Any]) -> str:
    parse_plans(value)
    return value


def _billing_backend(value: str, values: Mapping[str, Any]) -> str:
    if values.get("environment") == "production" and value in ("stub", "memory"):
        raise ValueError(
            f"{value!r} lets anyone 'pay' without paying; production needs BILLING_BACKEND=stripe "
            "(or none for a free-only service)"
        )
    return value


def _needed_for_stripe(hint: str) -> Callable[[str, Mapping[str, Any]], str]:
    def check(value: str, values: Mapping[str, Any]) -> str:
        if values.get("billing_backend") == "stripe" and not value:
            raise ValueError(f"required when BILLING_BACKEND=stripe: {hint}")
        return value

    return check


def _optional_url(value: str, _: Mapping[str, Any]) -> str:
    return _base_url(value, {}) if value else value


def _rate_limit_storage(value: str, _: Mapping[str, Any]) -> str:
    scheme = value.removeprefix("async+").split("://", 1)[0]
    if "://" not in value or scheme not in SUPPORTED_SCHEMES:
        raise ValueError("must be memory:// or redis://host:6379/0 (rediss:// for TLS)")
    if scheme != "memory" and not redis_available():
        raise ValueError("needs the Redis driver: pip install 'saascore[redis]'")
    return value


_CHECKS: Mapping[str, Callable[[Any, Mapping[str, Any]], Any]] = {
    "database_url": _database_url,
    "secret_key": _secret_key,
    "base_url": _base_url,
    "port": _port,
    "smtp_port": _port,
    "trusted_proxies": _trusted_proxies,
    "email_backend": _email_backend,
    "rate_limit_storage_url": _rate_limit_storage,
    "billing_backend": _billing_backend,
    "billing_plans": _billing_plans,
    "stripe_secret_key": _needed_for_stripe("the secret API key (sk_live_... or sk_test_...)"),
    "stripe_webhook_secret": _needed_for_stripe(
        "the signing secret of the webhook endpoint (whsec_...)"
    ),
    "stripe_api_base": _optional_url,
    **dict.fromkeys(
        (
            "login_link_ttl_seconds",
            "session_idle_ttl_seconds",
            "session_absolute_ttl_seconds",
            "smtp_timeout_seconds",
            "outbox_max_attempts",
            "outbox_poll_seconds",
            "rate_limit_max",
            "rate_limit_window_minutes",
            "login_link_limit_per_email",
            "login_link_limit_per_ip",
            "login_link_limit_window_minutes",
            "confirm_limit_per_ip",
            "invite_ttl_seconds",
            "invite_limit_per_workspace",
            "invite_limit_window_minutes",
            "confirm_limit_window_minutes",
            "billing_past_due_grace_seconds",
            "web_concurrency",
            "body_read_timeout_seconds",
            "stripe_timeout_seconds",
            "webhook_limit_per_ip",
            "webhook_limit_window_minutes",
        ),
        _positive,
    ),
}

_converter = cattrs.Converter()
_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}


def _to_bool(value: object, _: type) -> bool:
    # cattrs alone would read "false" as True.
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE | _FALSE:
        return text in _TRUE
    raise ValueError("must be true or false")


_converter.register_structure_hook(bool, _to_bool)


def _format_error(exc: BaseException, type_: Any) -> str:
    if type_ is not None and get_args(type_) and all(isinstance(a, str) for a in get_args(type_)):
        return "must be one of " + ", ".join(get_args(type_))
    if type_ is int:
        return "must be a whole number"
    if type_ is bool:
        return "must be true or false"
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
    types = get_type_hints(Settings)
    values: dict[str, Any] = attrs.asdict(Settings())
    problems: dict[str, str] = {}
    for name, text in raw.items():
        try:
            values[name] = _converter.structure(text, types[name])
        except (ValueError, TypeError, CattrsError) as exc:
            problems[name] = _format_error(exc, types[name])
    for name, check in _CHECKS.items():
        if name in problems:
            continue
        try:
            values[name] = check(values[name], values)
        except ValueError as exc:
            problems[name] = str(exc)
    if problems:
        raise SettingsError([f"{variable(name)}: {problem}" for name, problem in problems.items()])
    return Settings(**values)


def redacted(settings: Settings) -> dict[str, Any]:
    """The settings as a dict with every secret replaced, safe to print or log."""
    values = attrs.asdict(settings)
    for name in SECRET_FIELDS:
        values[name] = "***"
    return values
