"""Email through the outbox and a real SMTP server (aiosmtpd): an outage loses nothing, a
recovery delivers each message exactly once, and no token reaches the logs."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from entrypoints.bootstrap import Services
from entrypoints.settings import Settings
from entrypoints.web import create_app
from saascore.models import OutboxMessage, OutboxStatus
from saascore.outbox import flush
from tests.support.context import deps_of
from tests.support.smtp import SmtpServer

TOKEN = re.compile(r"token=([A-Za-z0-9_-]{20,})")


@pytest.fixture
def smtp() -> SmtpServer:
    """An SMTP server on a free port, not listening until a test starts it."""
    return SmtpServer()


@pytest.fixture
async def app_client(sqlite_url: str, smtp: SmtpServer) -> AsyncIterator[AsyncTestClient[Any]]:
    settings = Settings(
        database_url=sqlite_url,
        environment="test",
        email_backend="smtp",
        smtp_host=smtp.host,
        smtp_port=smtp.port,
        smtp_tls="none",
        smtp_timeout_seconds=2,
        smtp_from="saascore <no-reply@saascore.test>",
        outbox_poll_seconds=1,
    )
    async with AsyncTestClient(create_app(settings)) as client:
        yield client
    smtp.stop()


def services_of(client: AsyncTestClient[Any]) -> Services:
    services: Services = client.app.state.services
    return services


async def outbox(services: Services) -> list[OutboxMessage]:
    async with services.uow() as uow:
        return list(await uow.outbox.list())


async def eventually(check: Any, within: float = 10.0) -> Any:
    """Poll ``check`` (an async callable) until it returns something truthy."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        result = await check()
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


class TestSmtpOutage:
    async def test_requests_answer_while_smtp_is_down_and_mail_waits(
        self, app_client: AsyncTestClient[Any], smtp: SmtpServer
    ) -> None:
        """A closed SMTP port does not slow or fail the request; the message stays queued
        with the error, and is delivered exactly once when the server is back."""
        services = services_of(app_client)

        response = await app_client.post(
            "/api/auth/login-link", json={"email": "founder@example.com"}
        )

        assert 202 == response.status_code

        async def failed_once() -> list[OutboxMessage]:
            return [m for m in await outbox(services) if m.last_error]

        [waiting] = await eventually(failed_once)
        assert (OutboxStatus.PENDING, 1) == (waiting.status, waiting.attempts)
        assert "founder@example.com" not in (waiting.last_error or "")

        smtp.start()
        report = await flush(deps_of(services, services.delivery_policy))
        again = await flush(deps_of(services, services.delivery_policy))

        assert (1, 0) == (report.sent, again.sent)
        [delivered] = smtp.messages
        assert "founder@example.com" == delivered["To"]
        assert TOKEN.search(delivered.get_body(("plain",)).get_content())  # type: ignore[union-attr]
        [row] = await outbox(services)
        assert (OutboxStatus.SENT, 2) == (row.status, row.attempts)

    async def test_the_dispatcher_delivers_in_the_background(
        self, app_client: AsyncTestClient[Any], smtp: SmtpServer
    ) -> None:
        """With SMTP up, a requested link arrives without anyone running a flush."""
        smtp.start()

        await app_client.post("/api/auth/login-link", json={"email": "ada@example.com"})

        async def arrived() -> int:
            return len(smtp.messages)

        assert 1 == await eventually(arrived)
        await asyncio.sleep(1.5)  # another poll: still exactly one
        assert 1 == len(smtp.messages)

    async def test_no_token_reaches_the_logs(
        self,
        app_client: AsyncTestClient[Any],
        smtp: SmtpServer,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        """The link's token is in the email only: not in any log line, failure or success."""
        services = services_of(app_client)
        await app_client.post("/api/auth/login-link", json={"email": "max@example.com"})

        async def failed_once() -> bool:
            return any(m.last_error for m in await outbox(services))

        await eventually(failed_once)
        smtp.start()
        await flush(deps_of(services, services.delivery_policy))

        [delivered] = smtp.messages
        match = TOKEN.search(delivered.get_body(("plain",)).get_content())  # type: ignore[union-attr]
        assert match
        logged = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
        assert "email accepted" in logged  # the delivery itself was logged
        assert "'request'" in logged  # and so was the request
        assert match.group(1) not in logged
