"""Settings load from the environment and .env, and bad values name their variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from entrypoints.settings import DEV_SECRET_KEY, Settings, SettingsError, load_settings, redacted

GOOD_SECRET = "s" * 40
PRODUCTION = {
    "ENVIRONMENT": "production",
    "SECRET_KEY": GOOD_SECRET,
    "EMAIL_BACKEND": "smtp",
    "SMTP_HOST": "smtp.example.com",
    "BILLING_BACKEND": "none",
}


def problems(environ: dict[str, str]) -> list[str]:
    with pytest.raises(SettingsError) as caught:
        load_settings(environ, env_file=None)
    return caught.value.problems


class TestLoadSettings:
    def test_defaults_run_locally(self) -> None:
        """With nothing set, saascore runs in development on a SQLite file."""
        settings = load_settings({}, env_file=None)

        assert Settings() == settings
        assert settings.database_url.startswith("sqlite+aiosqlite:///")
        assert not settings.json_logs

    def test_values_are_read_and_converted(self) -> None:
        """Numbers, choices and URLs are converted and normalised."""
        settings = load_settings(
            {
                **PRODUCTION,
                "PORT": "9000",
                "DATABASE_URL": "postgresql://app@db:5432/saascore",
                "BASE_URL": "https://x.io/",
                "UNRELATED": "ignored",
            },
            env_file=None,
        )

        assert (settings.port, settings.database_url, settings.base_url, settings.json_logs) == (
            9000,
            "postgresql+asyncpg://app@db:5432/saascore",
            "https://x.io",
            True,
        )

    def test_dotenv_fills_in_and_the_environment_wins(self, tmp_path: Path) -> None:
        """A .env file is read, and real environment variables override it."""
        env_file = tmp_path / ".env"
        env_file.write_text("PORT=9001\nLOG_LEVEL=DEBUG\n")

        settings = load_settings({"PORT": "9002"}, env_file=env_file)

        assert (settings.port, settings.log_level) == (9002, "DEBUG")

    @pytest.mark.parametrize(
        ("environ", "expected"),
        [
            ({"DATABASE_URL": "nonsense"}, "DATABASE_URL: must be a URL"),
            ({"DATABASE_URL": "mysql://h/db"}, "DATABASE_URL: unsupported database 'mysql'"),
            ({"DATABASE_URL": "postgresql://h"}, "DATABASE_URL: a Postgres URL must name"),
            ({"PORT": "eighty"}, "PORT: must be a whole number"),
            ({"PORT": "0"}, "PORT: must be between 1 and 65535"),
            ({"ENVIRONMENT": "prod"}, "ENVIRONMENT: must be one of development, test, production"),
            ({"LOG_FORMAT": "xml"}, "LOG_FORMAT: must be one of auto, json, console"),
            ({"BASE_URL": "example.com"}, "BASE_URL: must be an absolute http(s) URL"),
            ({"SECRET_KEY": "short"}, "SECRET_KEY: must be at least 32 characters"),
            (
                {**PRODUCTION, "SECRET_KEY": DEV_SECRET_KEY},
                "SECRET_KEY: the development key must not be used",
            ),
            ({**PRODUCTION, "EMAIL_BACKEND": "stub"}, "EMAIL_BACKEND: 'stub' does not deliver"),
            ({"EMAIL_BACKEND": "smtp"}, "EMAIL_BACKEND: smtp needs SMTP_HOST"),
            ({"SIGNUP_ENABLED": "maybe"}, "SIGNUP_ENABLED: must be true or false"),
            ({"TRUSTED_PROXIES": "10.0.0.0/8,proxy"}, "TRUSTED_PROXIES: must be a comma-separated"),
            ({"RATE_LIMIT_STORAGE_URL": "memcached://h"}, "RATE_LIMIT_STORAGE_URL: must be"),
            ({"RATE_LIMIT_MAX": "0"}, "RATE_LIMIT_MAX: must be 1 or more"),
            ({"SMTP_TLS": "ssl"}, "SMTP_TLS: must be one of starttls, tls, none"),
            ({"BILLING_BACKEND": "paypal"}, "BILLING_BACKEND: must be one of stub, stripe"),
            (
                {**PRODUCTION, "BILLING_BACKEND": "stub"},
                "BILLING_BACKEND: 'stub' lets anyone 'pay' without paying",
            ),
            (
                {"BILLING_BACKEND": "stripe", "STRIPE_WEBHOOK_SECRET": "whsec_1"},
                "STRIPE_SECRET_KEY: required when BILLING_BACKEND=stripe",
            ),
            (
                {"BILLING_BACKEND": "stripe", "STRIPE_SECRET_KEY": "sk_test_1"},
                "STRIPE_WEBHOOK_SECRET: required when BILLING_BACKEND=stripe",
            ),
            ({"BILLING_PLANS": "pro:price_1:5"}, "BILLING_PLANS: the first plan must be the free"),
            ({"BILLING_PLANS": "free::5,pro"}, "BILLING_PLANS: 'pro' is not name:price_id:seats"),
            ({"BILLING_PLANS": "free::5,pro:p:0"}, "BILLING_PLANS: pro: seats must be a whole"),
            ({"BILLING_PLANS": "free::,free:p:3"}, "BILLING_PLANS: free is listed twice"),
            ({"BILLING_PLANS": "free::,team::3"}, "BILLING_PLANS: only the first plan may be free"),
            ({"STRIPE_API_BASE": "localhost:8420"}, "STRIPE_API_BASE: must be an absolute"),
        ],
    )
    def test_a_bad_value_is_one_line_naming_the_variable(
        self, environ: dict[str, str], expected: str
    ) -> None:
        """Every problem is reported on its own line, starting with the variable's name."""
        [problem] = problems(environ)

        assert problem.startswith(expected)

    def test_plans_are_read_free_first(self) -> None:
        settings = load_settings(
            {"BILLING_PLANS": " free::3 , pro:price_1:10, max:price_2: "}, env_file=None
        )

        assert [("free", None, 3), ("pro", "price_1", 10), ("max", "price_2", None)] == [
            (p.name, p.price_id, p.seat_limit) for p in settings.plans
        ]

    def test_stripe_secrets_are_redacted(self) -> None:
        settings = Settings(stripe_secret_key="sk_live_secret", stripe_webhook_secret="whsec_x")

        shown = redacted(settings)

        assert ("***", "***") == (shown["stripe_secret_key"], shown["stripe_webhook_secret"])
        assert "sk_live_secret" not in repr(settings)
        assert "whsec_x" not in repr(settings)

    def test_every_bad_variable_is_reported_at_once(self) -> None:
        """Type errors and rule errors come back together, so one restart fixes them all."""
        found = problems({"PORT": "x", "ENVIRONMENT": "nope", "BASE_URL": "x", "SMTP_PORT": "0"})

        assert {"PORT", "ENVIRONMENT", "BASE_URL", "SMTP_PORT"} == {p.split(":")[0] for p in found}

    @pytest.mark.parametrize(
        ("text", "expected"),
        [("false", False), ("0", False), ("off", False), ("TRUE", True), ("yes", True)],
    )
    def test_booleans_read_as_people_write_them(self, text: str, expected: bool) -> None:
        """ "false" means false (plain cattrs would read any non-empty string as true)."""
        assert expected == load_settings({"SIGNUP_ENABLED": text}, env_file=None).signup_enabled

    def test_trusted_proxies_are_networks(self) -> None:
        """Single addresses and CIDR ranges, IPv4 and IPv6, comma-separated."""
        settings = load_settings({"TRUSTED_PROXIES": "10.0.0.0/8, 192.0.2.7,::1"}, env_file=None)

        assert ["10.0.0.0/8", "192.0.2.7/32", "::1/128"] == [
            str(n) for n in settings.trusted_networks
        ]


class TestRedacted:
    def test_secrets_never_show(self) -> None:
        """The printable form of settings hides the secret key."""
        shown = redacted(Settings(secret_key=GOOD_SECRET))

        assert shown["secret_key"] == "***"
        assert GOOD_SECRET not in repr(Settings(secret_key=GOOD_SECRET))
        assert DEV_SECRET_KEY not in str(shown)


def test_an_upper_case_https_base_url_is_https() -> None:
    """``BASE_URL=HTTPS://…`` turns on Secure cookies, ``__Host-`` and HSTS like ``https://``."""
    settings = load_settings({"BASE_URL": "HTTPS://app.example.com/"}, env_file=None)

    assert ("https://app.example.com", True) == (settings.base_url, settings.uses_https)
