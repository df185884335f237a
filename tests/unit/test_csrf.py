"""CSRF tokens that are malformed in any way are refused as such, never with a 500."""

from __future__ import annotations

import asyncio
import re

import pytest
from litestar.testing import AsyncTestClient

from entrypoints.bootstrap import memory_services
from entrypoints.web import create_app


@pytest.mark.parametrize("token", [b"caf\xe9", b"", b"\xff" * 43, b"x" * 10_000])
async def test_odd_csrf_headers_are_403_not_500(token: bytes) -> None:
    """Non-ASCII, empty or huge tokens in X-CSRF-Token answer 403 csrf_failed."""
    services = memory_services()
    async with AsyncTestClient(create_app(services)) as client:
        await client.post("/api/auth/login-link", json={"email": "fran@example.com"})
        for _ in range(250):
            if services.email.sent:  # type: ignore[attr-defined]
                break
            await asyncio.sleep(0.02)
        text = services.email.sent[-1].text  # type: ignore[attr-defined]
        match = re.search(r"token=([\w-]+)", text)
        assert match is not None
        await client.post("/api/auth/confirm", json={"token": match.group(1)})

        response = await client.post(
            "/api/workspaces", json={"name": "Acme"}, headers={"x-csrf-token": token}
        )

    assert (403, "csrf_failed") == (response.status_code, response.json()["code"])
