"""Development comforts that must not weaken production: the dev mailbox, loopback
origins, and links that point at the address actually served."""

from __future__ import annotations

import asyncio
import re

import pytest
from litestar.testing import AsyncTestClient

from entrypoints.cli.server import _listening
from entrypoints.settings import Settings
from entrypoints.web import create_app
from entrypoints.web.auth import allowed_origins


class TestDevMailbox:
    async def test_the_stub_backend_shows_sent_links(self) -> None:
        """With EMAIL_BACKEND=stub, /dev/mailbox lists the sign-in email with its link."""
        app = create_app(Settings(database_url="memory://", email_backend="stub"))
        async with AsyncTestClient(app) as client:
            await client.post("/api/auth/login-link", json={"email": "fran@example.com"})
            stub = app.state.services.email
            for _ in range(100):
                if stub.recent():
                    break
                await asyncio.sleep(0.02)

            page = await client.get("/dev/mailbox")

        assert 200 == page.status_code
        assert "fran@example.com" in page.text
        assert re.search(
            r'<a href="http://127\.0\.0\.1:8000/auth/confirm\?token=[\w-]+">', page.text
        )

    @pytest.mark.parametrize("backend", ["memory", "smtp"])
    async def test_other_backends_have_no_mailbox(self, backend: str) -> None:
        """The page does not exist unless the stub backend is on."""
        settings = Settings(
            database_url="memory://",
            email_backend=backend,  # type: ignore[arg-type]
            smtp_host="127.0.0.1",
        )
        async with AsyncTestClient(create_app(settings)) as client:
            assert 404 == (await client.get("/dev/mailbox")).status_code


class TestOrigins:
    def test_loopback_names_are_one_origin_in_development(self) -> None:
        """localhost and 127.0.0.1 both pass in development, with the same port."""
        assert {"http://127.0.0.1:8000", "http://localhost:8000"} == allowed_origins(Settings())

    @pytest.mark.parametrize(
        ("base_url", "environment"),
        [
            ("https://app.example.com", "development"),
            ("http://localhost:8000", "production"),
        ],
    )
    def test_otherwise_only_the_base_url_origin(self, base_url: str, environment: str) -> None:
        """Real hosts, and production, accept exactly BASE_URL's origin."""
        settings = Settings(base_url=base_url, environment=environment)  # type: ignore[arg-type]

        assert {base_url} == allowed_origins(settings)

    async def test_a_form_post_from_localhost_is_accepted(self) -> None:
        """A developer on http://localhost:8000 can ask for a link."""
        async with AsyncTestClient(create_app(Settings(database_url="memory://"))) as client:
            ok = await client.post(
                "/api/auth/login-link",
                json={"email": "a@example.com"},
                headers={"Origin": "http://localhost:8000"},
            )
            wrong_port = await client.post(
                "/api/auth/login-link",
                json={"email": "a@example.com"},
                headers={"Origin": "http://localhost:9999"},
            )

        assert (202, 403) == (ok.status_code, wrong_port.status_code)


class TestListeningAddress:
    def test_a_default_base_url_follows_the_port(self) -> None:
        """`saascore dev --port 8765` emails links to port 8765."""
        assert "http://127.0.0.1:8765" == _listening(Settings(), None, 8765).base_url

    def test_an_explicit_base_url_is_kept(self) -> None:
        """Behind a proxy, BASE_URL is the public address and stays as configured."""
        settings = Settings(base_url="https://app.example.com")

        assert "https://app.example.com" == _listening(settings, "0.0.0.0", 9000).base_url


class TestSecurityHeaders:
    async def test_https_deployments_get_hsts_and_every_response_the_basics(self) -> None:
        """HSTS only when BASE_URL is https; nosniff, frame denial and CSP always."""
        plain = create_app(Settings(database_url="memory://"))
        secure = create_app(Settings(database_url="memory://", base_url="https://app.example.com"))
        async with AsyncTestClient(plain) as a, AsyncTestClient(secure) as b:
            http_headers = (await a.get("/healthz")).headers
            https_headers = (await b.get("/no/such/page")).headers

        assert "strict-transport-security" not in http_headers
        assert "max-age=63072000" in https_headers["strict-transport-security"]
        for headers in (http_headers, https_headers):
            assert ("nosniff", "DENY") == (
                headers["x-content-type-options"],
                headers["x-frame-options"],
            )
            assert "frame-ancestors 'none'" in headers["content-security-policy"]
