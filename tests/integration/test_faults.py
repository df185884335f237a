"""Fault injection against real server processes: an SMTP server that refuses, is closed or
hangs; a Postgres database that goes away mid-request; a Stripe API that answers 500 or
never answers; and request bodies that are too large or of the wrong type.

Each app is ``saascore serve`` in a subprocess on a free 127.0.0.1 port, configured only
through its environment, and observed from outside: over HTTP, at the SMTP server that
records what it accepts, and in its database.
"""

from __future__ import annotations

import asyncio
import socket
import sqlite3
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy import text
from sqlalchemy.engine import make_url

from adapters.sql.engine import make_engine
from adapters.sql.uow import SqlUnitOfWork
from entrypoints.web.app import MAX_BODY_BYTES
from entrypoints.web.problems import status_for
from saascore.errors import DatabaseUnavailable
from tests.support.appserver import (
    AppProcess,
    FakeStripe,
    base_env,
    create_workspace,
    eventually,
    running,
    sign_in,
    signed_headers,
    smtp_env,
    stripe_env,
    subscription_event,
)
from tests.support.databases import PostgresDatabases, SqliteDatabases, postgres_admin_url
from tests.support.smtp import HOST, CapturingHandler, SmtpServer

PROBLEM_JSON = "application/problem+json"
FAST = 1.0  # seconds: a request that does not wait on SMTP answers well within this


def problem_of(response: httpx.Response) -> tuple[int, str]:
    """The status and problem code; fails unless the body is a problem document."""
    assert response.headers["content-type"].startswith(PROBLEM_JSON), response.text
    body = response.json()
    assert {"type", "title", "status", "detail", "code", "request_id"} <= body.keys(), body
    assert response.status_code == body["status"]
    return response.status_code, str(body["code"])


# ------------------------------------------------------------------------------------ SMTP


class RefusingHandler(CapturingHandler):
    """Answers every message with a temporary failure until ``refusing`` is cleared."""

    def __init__(self) -> None:
        super().__init__()
        self.refusing = True
        self.refused = 0

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.refusing:
            self.refused += 1
            return "451 4.3.0 mailbox busy, try again later"
        return await super().handle_DATA(server, session, envelope)


class SmtpFault:
    """An SMTP peer that is ``closed`` (nothing listens), ``refusing`` (451 to every message)
    or ``hanging`` (accepts TCP, never says a word), until ``recover`` makes it a working
    server on the same port."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.server = SmtpServer()
        self._silent: socket.socket | None = None
        if kind == "refusing":
            self.server.handler = RefusingHandler()
            self.server.start()
        elif kind == "hanging":
            # Listening without ever accepting: the kernel completes the handshake and the
            # client waits for a greeting that never comes.
            self._silent = socket.socket()
            self._silent.bind((HOST, 0))
            self._silent.listen(16)
            self.server.port = int(self._silent.getsockname()[1])

    @property
    def port(self) -> int:
        return self.server.port

    def recover(self) -> None:
        if self.kind == "refusing":
            assert isinstance(self.server.handler, RefusingHandler)
            assert self.server.handler.refused >= 1, "the server was never asked"
            self.server.handler.refusing = False
            return
        if self._silent is not None:
            self._silent.close()
            self._silent = None
        self.server.start()

    def close(self) -> None:
        if self._silent is not None:
            self._silent.close()
        self.server.stop()


@pytest.fixture(params=["closed", "refusing", "hanging"])
def smtp_fault(request: pytest.FixtureRequest) -> Iterator[SmtpFault]:
    fault = SmtpFault(request.param)
    try:
        yield fault
    finally:
        fault.close()


def outbox_rows(database: Path) -> list[dict[str, Any]]:
    with sqlite3.connect(database) as conn:
        conn.row_factory = sqlite3.Row
        rows = conn.execute(
            "SELECT recipient, status, attempts, last_error, claimed_until FROM outbox "
            "ORDER BY recipient"
        ).fetchall()
    return [dict(row) for row in rows]


def make_retries_due(database: Path) -> None:
    """What waiting out the first retry delay (30 s) would do, without the wait."""
    with sqlite3.connect(database) as conn:
        conn.execute("UPDATE outbox SET next_attempt_at = created_at WHERE status = 'pending'")


class TestSmtpOutage:
    async def test_sign_in_requests_answer_and_mail_waits_until_smtp_returns(
        self, smtp_fault: SmtpFault, sqlite_url: str, tmp_path: Path
    ) -> None:
        """With SMTP closed, refusing or hanging, login-link requests answer 202 at once; the
        messages wait in the outbox with the error; once SMTP works, each is delivered once."""
        database = Path(make_url(sqlite_url).database or "")
        app = AppProcess(tmp_path, base_env(DATABASE_URL=sqlite_url, **smtp_env(smtp_fault.port)))
        addresses = [f"waiting{n}@example.com" for n in range(3)]
        with running(app):
            async with httpx.AsyncClient(base_url=app.base, timeout=10) as client:
                # The last request repeats the first address: a second link, a second email.
                for address in [*addresses, addresses[0]]:
                    started = time.monotonic()
                    asked = await client.post("/api/auth/login-link", json={"email": address})
                    took = time.monotonic() - started
                    assert (202, True) == (asked.status_code, took < FAST), (took, asked.text)

                async def all_failed_once() -> list[dict[str, Any]]:
                    rows = outbox_rows(database)
                    done = len(rows) == len(addresses) + 1 and all(
                        r["last_error"] and r["claimed_until"] is None for r in rows
                    )
                    return rows if done else []

                rows = await eventually(
                    all_failed_once, "failed attempt for each message", within=15, report=app.report
                )
                assert {"pending"} == {r["status"] for r in rows}, rows
                assert [] == smtp_fault.server.envelopes

                smtp_fault.recover()
                make_retries_due(database)

                async def all_sent() -> list[dict[str, Any]]:
                    rows = outbox_rows(database)
                    return rows if {r["status"] for r in rows} == {"sent"} else []

                await eventually(all_sent, "delivery of each", within=15, report=app.report)
                await asyncio.sleep(1.5)  # one more dispatcher poll: nothing is sent again

        delivered = sorted(str(m["To"]) for m in smtp_fault.server.messages)
        assert sorted([*addresses, addresses[0]]) == delivered


# -------------------------------------------------------------------------------- Postgres


async def _admin_connect(url: str) -> asyncpg.Connection:
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    return await asyncpg.connect(dsn, timeout=10)


async def _terminate_others(admin: asyncpg.Connection, database: str) -> int:
    killed = await admin.fetch(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE datname = $1 AND pid <> pg_backend_pid()",
        database,
    )
    return len(killed)


@pytest.fixture
def postgres_database(postgres_databases: PostgresDatabases) -> Iterator[tuple[str, str]]:
    """A migrated database, and the admin URL; connections are allowed again afterwards."""
    url = postgres_databases.new()
    yield url, postgres_admin_url()
    name = make_url(url).database

    async def allow() -> None:
        admin = await _admin_connect(postgres_admin_url())
        try:
            await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        finally:
            await admin.close()

    asyncio.run(allow())


@pytest.mark.postgres
class TestDatabaseOutage:
    async def test_requests_get_503_during_the_outage_and_200_after_without_restart(
        self, postgres_database: tuple[str, str], tmp_path: Path
    ) -> None:
        """A connection killed mid-request and a database refusing connections give 503
        problems (never 500); the same process answers 200 again once the database is back."""
        url, admin_url = postgres_database
        name = make_url(url).database
        assert name is not None
        with SmtpServer() as smtp:
            app = AppProcess(tmp_path, base_env(DATABASE_URL=url, **smtp_env(smtp.port)))
            with running(app):
                async with httpx.AsyncClient(base_url=app.base, timeout=15) as client:
                    await sign_in(client, smtp, "owner@example.com")
                    assert 200 == (await client.get("/api/me")).status_code
                    pid = app.pid

                    await self._kill_connection_mid_request(client, url, name)
                    await self._refuse_connections_for_a_moment(client, admin_url, name)

                    assert (True, pid) == (app.running(), app.pid), app.report()
                    assert "Traceback" not in app.output(), app.report()

    async def _kill_connection_mid_request(
        self, client: httpx.AsyncClient, url: str, name: str
    ) -> None:
        holder = await _admin_connect(url)
        try:
            # Hold the sessions table, so the request blocks inside its first query...
            transaction = holder.transaction()
            await transaction.start()
            await holder.execute("LOCK TABLE sessions IN ACCESS EXCLUSIVE MODE")
            request = asyncio.create_task(client.get("/api/me"))

            async def blocked() -> int:
                return int(
                    await holder.fetchval(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 "
                        "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()",
                        name,
                    )
                )

            await eventually(blocked, "the request waiting on the lock")
            # ...then kill its connection while it waits.
            assert await _terminate_others(holder, name) >= 1
            response = await asyncio.wait_for(request, timeout=10)
            await transaction.rollback()
        finally:
            await holder.close()

        assert (503, "database_unavailable") == problem_of(response)
        # The pool drops the dead connection; the next request gets a fresh one.
        assert 200 == (await client.get("/api/me")).status_code

    async def _refuse_connections_for_a_moment(
        self, client: httpx.AsyncClient, admin_url: str, name: str
    ) -> None:
        admin = await _admin_connect(admin_url)
        try:
            await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
            await _terminate_others(admin, name)

            me = await client.get("/api/me")
            link = await client.post("/api/auth/login-link", json={"email": "new@example.com"})
            ready = await client.get("/readyz")

            assert (503, "database_unavailable") == problem_of(me)
            assert (503, "database_unavailable") == problem_of(link)
            assert 503 == ready.status_code, ready.text
            assert "database unreachable" in ready.json()["problems"][0]
            assert 200 == (await client.get("/healthz")).status_code

            await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        finally:
            await admin.close()

        async def answers() -> int:
            status = (await client.get("/api/me")).status_code
            return status if status == 200 else 0

        await eventually(answers, "GET /api/me answering 200 again", within=10, every=0.2)
        assert 200 == (await client.get("/readyz")).status_code
        again = await client.post("/api/auth/login-link", json={"email": "new@example.com"})
        assert 202 == again.status_code, again.text


# ---------------------------------------------------------------------- Stripe, and bodies


class Shop:
    """One app process on SQLite whose Stripe is ``stripe`` (a ``FakeStripe``) and whose
    email goes to ``smtp``; tests switch the fake's mode."""

    def __init__(self, app: AppProcess, stripe: FakeStripe, smtp: SmtpServer) -> None:
        self.app = app
        self.stripe = stripe
        self.smtp = smtp
        self._people = 0

    async def owner(self, client: httpx.AsyncClient) -> tuple[str, str]:
        """A new owner signed in on ``client``, with a new workspace: (csrf, workspace id)."""
        self._people += 1
        csrf = await sign_in(client, self.smtp, f"owner{self._people}@example.com")
        return csrf, await create_workspace(client, csrf, f"Shop {self._people}")


@pytest.fixture(scope="module")
def shop(
    sqlite_databases: SqliteDatabases, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Shop]:
    with ExitStack() as stack:
        smtp = stack.enter_context(SmtpServer())
        stripe = stack.enter_context(FakeStripe("error"))
        env = base_env(
            DATABASE_URL=sqlite_databases.new(),
            **smtp_env(smtp.port),
            **stripe_env(stripe.api_base),
        )
        app = AppProcess(tmp_path_factory.mktemp("shop"), env, name="shop")
        stack.enter_context(running(app))
        yield Shop(app, stripe, smtp)


STRIPE_WAIT = 8.0  # 1 s timeout, the SDK's two retries and its back-off, and some slack


@pytest.mark.parametrize("mode", ["error", "hang"])
class TestStripeOutage:
    async def test_checkout_answers_503_within_seconds(self, shop: Shop, mode: str) -> None:
        """Stripe answering 500 or not at all: the owner's checkout gets 503
        billing_unavailable in a few seconds, not a 500 and not a hung request."""
        shop.stripe.mode = mode  # type: ignore[assignment]
        async with httpx.AsyncClient(base_url=shop.app.base, timeout=30) as client:
            csrf, workspace = await shop.owner(client)
            calls = shop.stripe.requests

            started = time.monotonic()
            response = await client.post(
                f"/api/workspaces/{workspace}/billing/checkout",
                json={"plan": "pro"},
                headers={"X-CSRF-Token": csrf},
            )
            took = time.monotonic() - started

        assert (503, "billing_unavailable") == problem_of(response)
        assert took < STRIPE_WAIT, took
        assert shop.stripe.requests > calls  # Stripe really was asked

    async def test_a_webhook_whose_refetch_fails_applies_once(self, shop: Shop, mode: str) -> None:
        """The re-fetch of the subscription fails, so the event's own copy is applied; the
        same event delivered again is a duplicate, and the audit log shows one change."""
        shop.stripe.mode = mode  # type: ignore[assignment]
        async with httpx.AsyncClient(base_url=shop.app.base, timeout=30) as client:
            _, workspace = await shop.owner(client)
            payload = subscription_event(workspace, f"evt_faults_{mode}_{workspace[:8]}")
            calls = shop.stripe.requests

            first = await client.post(
                "/api/billing/webhook", content=payload, headers=signed_headers(payload)
            )
            again = await client.post(
                "/api/billing/webhook", content=payload, headers=signed_headers(payload)
            )
            billing = (await client.get(f"/api/workspaces/{workspace}/billing")).json()
            audit = await client.get(
                f"/api/workspaces/{workspace}/audit",
                params={"action": "billing.subscription_updated"},
            )

        assert (200, "applied") == (first.status_code, first.json()["outcome"]), first.text
        assert (200, "duplicate") == (again.status_code, again.json()["outcome"]), again.text
        assert shop.stripe.requests > calls  # the re-fetch was tried
        assert ("pro", "active", True) == (
            billing["plan"]["name"],
            billing["status"],
            billing["entitled"],
        )
        assert 1 == len(audit.json()["events"]), audit.text


class TestRequestBodies:
    @pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
    async def test_a_body_over_the_limit_gets_413(self, shop: Shop, chunked: bool) -> None:
        """One byte over 1 MiB is refused with a 413 problem, whether or not the client
        announced the length."""
        oversized = b"x" * (MAX_BODY_BYTES + 1)

        async def pieces() -> Any:
            for start in range(0, len(oversized), 64 * 1024):
                yield oversized[start : start + 64 * 1024]

        async with httpx.AsyncClient(base_url=shop.app.base, timeout=10) as client:
            response = await client.post(
                "/api/auth/login-link",
                content=pieces() if chunked else oversized,
                headers={"Content-Type": "application/json"},
            )

        assert (413, "payload_too_large") == problem_of(response)

    @pytest.mark.parametrize("media_type", ["text/plain", "application/x-www-form-urlencoded"])
    async def test_a_json_route_refuses_other_media_types_with_415(
        self, shop: Shop, media_type: str
    ) -> None:
        """A JSON route answers 415 to a body of another type, even when it parses as JSON."""
        async with httpx.AsyncClient(base_url=shop.app.base, timeout=10) as client:
            response = await client.post(
                "/api/auth/login-link",
                content=b'{"email": "someone@example.com"}',
                headers={"Content-Type": media_type},
            )

        assert (415, "unsupported_media_type") == problem_of(response)
        assert 0 == len([m for m in shop.smtp.messages if m["To"] == "someone@example.com"])


# ---------------------------------------------------------------------------- slow clients

TRICKLE_SECONDS = 30.0


async def _trickle(base: str, cookie: str, path: str, seconds: float) -> bytes:
    """A signed-in client sending a form body to ``path`` one byte a second for ``seconds``
    (with no CSRF header, so the server must read the form for ``_csrf``); what came back."""
    port = int(base.rsplit(":", 1)[1])
    reader, writer = await asyncio.open_connection(HOST, port)
    body = b"_csrf=" + b"x" * 200
    writer.write(
        f"POST {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nCookie: {cookie}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {len(body)}\r\n\r\n".encode()
    )
    await writer.drain()
    deadline = time.monotonic() + seconds
    try:
        for byte in body:
            if time.monotonic() >= deadline:
                break
            writer.write(bytes([byte]))
            await writer.drain()
            try:  # a server that gave up answers meanwhile
                return await asyncio.wait_for(reader.read(65536), timeout=1.0)
            except TimeoutError:
                continue
        return await asyncio.wait_for(reader.read(65536), timeout=15.0)
    except (ConnectionError, TimeoutError):
        return b""
    finally:
        writer.close()


async def _victim_answers(client: httpx.AsyncClient, seconds: float) -> list[tuple[int, float]]:
    """``GET /api/me`` and ``GET /readyz`` every second for ``seconds``: status and time."""
    answers = []
    deadline = time.monotonic() + seconds
    await asyncio.sleep(1.0)  # let the tricklers get inside the server first
    while time.monotonic() < deadline:
        for path in ("/api/me", "/readyz"):
            started = time.monotonic()
            response = await client.get(path)
            answers.append((response.status_code, time.monotonic() - started))
        await asyncio.sleep(1.0)
    return answers


async def _under_slow_clients(
    app: AppProcess, smtp: SmtpServer, tricklers: int, path: str
) -> list[tuple[int, float]]:
    async with (
        httpx.AsyncClient(base_url=app.base, timeout=15) as attacker,
        httpx.AsyncClient(base_url=app.base, timeout=15) as victim,
    ):
        await sign_in(attacker, smtp, "slow@example.com")
        await sign_in(victim, smtp, "victim@example.com")
        cookie = "; ".join(f"{name}={value}" for name, value in attacker.cookies.items())
        slow = [
            asyncio.create_task(_trickle(app.base, cookie, path, TRICKLE_SECONDS))
            for _ in range(tricklers)
        ]
        answers = await _victim_answers(victim, TRICKLE_SECONDS - 2)
        await asyncio.gather(*slow)
    return answers


async def _slow_clients_leave_others_alone(
    database_url: str, tmp_path: Path, tricklers: int
) -> None:
    with SmtpServer() as smtp:
        env = base_env(
            DATABASE_URL=database_url,
            BODY_READ_TIMEOUT_SECONDS="60",  # longer than the trickle
            **smtp_env(smtp.port),
        )
        app = AppProcess(tmp_path, env)
        with running(app):
            answers = await _under_slow_clients(app, smtp, tricklers, "/api/auth/logout")

    assert len(answers) >= 20, answers
    assert all(status == 200 for status, _ in answers), answers
    assert max(took for _, took in answers) < 1.0, answers


class TestSlowClients:
    async def test_a_slow_body_on_sqlite_holds_no_write_turn(
        self, sqlite_url: str, tmp_path: Path
    ) -> None:
        """A signed-in client trickling a form body to an unsafe route for 30 s leaves
        everyone else's requests and /readyz answering 200 within a second all along."""
        await _slow_clients_leave_others_alone(sqlite_url, tmp_path, 1)

    @pytest.mark.postgres
    async def test_slow_bodies_on_postgres_hold_no_connection(
        self, postgres_url: str, tmp_path: Path
    ) -> None:
        """25 such clients, more than the default pool has connections, do the same."""
        await _slow_clients_leave_others_alone(postgres_url, tmp_path, 25)


async def test_a_body_that_does_not_arrive_in_time_gets_408(
    sqlite_url: str, tmp_path: Path
) -> None:
    """A body still incomplete after BODY_READ_TIMEOUT_SECONDS is answered 408 with a
    problem body, and the session it named is untouched (the sign-out never ran)."""
    with SmtpServer() as smtp:
        env = base_env(
            DATABASE_URL=sqlite_url, BODY_READ_TIMEOUT_SECONDS="2", **smtp_env(smtp.port)
        )
        app = AppProcess(tmp_path, env)
        with running(app):
            async with httpx.AsyncClient(base_url=app.base, timeout=15) as client:
                await sign_in(client, smtp, "slow@example.com")
                cookie = "; ".join(f"{name}={value}" for name, value in client.cookies.items())
                started = time.monotonic()
                answer = await _trickle(app.base, cookie, "/api/auth/logout", 10.0)
                took = time.monotonic() - started
                still_signed_in = await client.get("/api/me")

    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408"), answer
    assert b"application/problem+json" in head, answer
    assert b'"code":"request_timeout"' in body, answer
    assert took < 6.0, took
    assert 200 == still_signed_in.status_code


@pytest.mark.postgres
async def test_a_pool_with_no_free_connection_answers_database_unavailable(
    postgres_url: str,
) -> None:
    """Every pooled connection busy: the next unit of work fails with DatabaseUnavailable
    (a 503 database_unavailable problem over HTTP) once the pool timeout passes, not with
    SQLAlchemy's TimeoutError (a 500); the pool serves again once a connection is back."""
    engine = make_engine(postgres_url, pool_size=1, max_overflow=0, pool_timeout=0.2)
    try:
        async with SqlUnitOfWork(engine) as holder:
            await holder.users.get("nobody")
            with pytest.raises(DatabaseUnavailable, match="no connection is free"):
                async with SqlUnitOfWork(engine) as starved:
                    await starved.users.get("nobody")
        async with SqlUnitOfWork(engine) as later:
            assert await later.users.get("nobody") is None
    finally:
        await engine.dispose()
    assert 503 == status_for(DatabaseUnavailable("x"))


@pytest.mark.postgres
async def test_a_postgres_reader_is_a_read_only_transaction(postgres_url: str) -> None:
    """On Postgres a read unit of work is BEGIN READ ONLY, so even a write slipped past the
    adapter would be refused by the server."""
    engine = make_engine(postgres_url)
    try:
        async with SqlUnitOfWork(engine, read_only=True) as reader:
            shown = await reader.execute(text("SHOW transaction_read_only"))
            assert "on" == shown.scalar()
        async with SqlUnitOfWork(engine) as writer:
            shown = await writer.execute(text("SHOW transaction_read_only"))
            assert "off" == shown.scalar()
    finally:
        await engine.dispose()


def test_engines_never_put_bound_values_in_errors(sqlite_url: str) -> None:
    """A failed statement's message (and so a 500's log line) shows the SQL, never the
    values bound to it: an address, a name."""
    engine = make_engine(sqlite_url)
    assert engine.sync_engine.hide_parameters
