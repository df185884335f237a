"""Two app processes on one Postgres database and one Redis, as behind a load balancer: the
general rate limit is one budget across both, both drain the outbox without sending any
message twice, one webhook delivered to both at the same moment applies once, and a session
started on one process works on the other.

Both are ``saascore serve`` subprocesses on free 127.0.0.1 ports. Each test's client speaks
from addresses of its own (``X-Forwarded-For`` through the trusted 127.0.0.1 proxy), so its
rate-limit counters in the shared Redis meet no other test's; the module deletes the keys it
made at the end, and nothing else.
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack
from typing import Any

import asyncpg
import httpx
import pytest
import redis
from aiosmtpd.smtp import SMTP, Envelope, Session
from attrs import frozen
from sqlalchemy.engine import make_url

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
from tests.support.databases import PostgresDatabases
from tests.support.redis import redis_url
from tests.support.smtp import CapturingHandler, SmtpServer

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

RATE_LIMIT_MAX = 10
QUEUED = 50
SMTP_DELAY = 0.02  # seconds per accepted message: a batch takes long enough to overlap


class SlowHandler(CapturingHandler):
    """Accepts every message, a little slowly, like a real server."""

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        await asyncio.sleep(SMTP_DELAY)
        return await super().handle_DATA(server, session, envelope)


@frozen
class Pair:
    """Two app processes sharing a database, a Redis, an SMTP server and a (failing) Stripe."""

    a: AppProcess
    b: AppProcess
    database_url: str
    smtp: SmtpServer
    stripe: FakeStripe
    run: str  # in every address and IP this module uses, so its Redis keys are findable
    _ips: Iterator[int]

    def ip(self) -> str:
        """An address no other client used: a rate-limit key of its own."""
        n = next(self._ips)
        assert n < 254, "out of addresses"
        return f"{self.network}.{n + 1}"

    @property
    def network(self) -> str:
        """10.x.y, from the run id: another run's keys would be in another network."""
        return network_of(self.run)

    def client(self, app: AppProcess) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=app.base, timeout=20, headers={"X-Forwarded-For": self.ip()}
        )

    def email(self, label: str) -> str:
        return f"{label}@{self.run}.example.com"

    def report(self) -> str:
        return self.a.report() + self.b.report()

    async def query(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        dsn = make_url(self.database_url).set(drivername="postgresql")
        conn = await asyncpg.connect(dsn.render_as_string(hide_password=False), timeout=10)
        try:
            return list(await conn.fetch(sql, *args))
        finally:
            await conn.close()


def network_of(run: str) -> str:
    return f"10.{int(run[:2], 16)}.{int(run[2:4], 16)}"


def _delete_keys(url: str, run: str) -> None:
    """Delete the rate-limit counters this module made (by its addresses and emails)."""
    client = redis.Redis.from_url(url)
    try:
        for pattern in (f"*{run}*", f"*/{network_of(run)}.*"):
            keys = list(client.scan_iter(match=pattern, count=500))
            if keys:
                client.delete(*keys)
    finally:
        client.close()


@pytest.fixture(scope="module")
def pair(
    postgres_databases: PostgresDatabases, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Pair]:
    rate_limits = redis_url()
    database_url = postgres_databases.new()
    run = uuid.uuid4().hex[:10]
    with ExitStack() as stack:
        smtp = SmtpServer()
        smtp.handler = SlowHandler()
        stack.enter_context(smtp)
        stripe = stack.enter_context(FakeStripe("error"))
        env = base_env(
            DATABASE_URL=database_url,
            RATE_LIMIT_STORAGE_URL=rate_limits,
            RATE_LIMIT_MAX=str(RATE_LIMIT_MAX),
            RATE_LIMIT_WINDOW_MINUTES="5",
            TRUSTED_PROXIES="127.0.0.1",
            LOGIN_LINK_LIMIT_PER_IP="1000",
            LOGIN_LINK_LIMIT_PER_EMAIL="100",
            **smtp_env(smtp.port),
            **stripe_env(stripe.api_base),
        )
        folder = tmp_path_factory.mktemp("pair")
        a, b = AppProcess(folder, env, name="a"), AppProcess(folder, env, name="b")
        stack.callback(_delete_keys, rate_limits, run)
        stack.enter_context(running(a, b))
        yield Pair(a, b, database_url, smtp, stripe, run, itertools.count())


@pytest.fixture
async def clients(pair: Pair) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    """A client of each process, speaking from one new address."""
    ip = pair.ip()
    async with (
        httpx.AsyncClient(base_url=pair.a.base, timeout=20, headers={"X-Forwarded-For": ip}) as a,
        httpx.AsyncClient(base_url=pair.b.base, timeout=20, headers={"X-Forwarded-For": ip}) as b,
    ):
        yield a, b


def sent_by(app: AppProcess) -> int:
    """How many messages ``app``'s dispatcher says it delivered so far."""
    return sum(r.get("sent", 0) for r in app.log_records() if r.get("event") == "outbox dispatched")


class TestTwoProcesses:
    async def test_the_general_rate_limit_is_one_budget_across_processes(
        self, pair: Pair, clients: tuple[httpx.AsyncClient, httpx.AsyncClient]
    ) -> None:
        """Requests alternated between the two processes: exactly RATE_LIMIT_MAX are admitted
        in total (each process alone would admit that many again), then 429s follow."""
        statuses: list[tuple[str, int]] = []
        for n in range(2 * RATE_LIMIT_MAX):
            client = clients[n % 2]
            response = await client.get("/api/billing/plans")
            statuses.append(("ab"[n % 2], response.status_code))
            if response.status_code == 429:
                assert response.headers["Retry-After"], response.headers

        admitted = [name for name, status in statuses if status == 200]
        refused = [status for _, status in statuses if status != 200]
        assert RATE_LIMIT_MAX == len(admitted), statuses
        assert {"a", "b"} == set(admitted), statuses
        assert [429] * RATE_LIMIT_MAX == refused, statuses

    async def test_both_drain_the_outbox_and_no_message_is_sent_twice(self, pair: Pair) -> None:
        """50 sign-in links requested from both processes at once: every one is delivered
        exactly once, and both processes' dispatchers took part."""
        recipients = [pair.email(f"queued{n}") for n in range(QUEUED)]
        before = sent_by(pair.a), sent_by(pair.b)

        async def ask(n: int, recipient: str) -> int:
            app = (pair.a, pair.b)[n % 2]
            async with pair.client(app) as client:
                response = await client.post("/api/auth/login-link", json={"email": recipient})
            return response.status_code

        statuses = await asyncio.gather(*(ask(n, r) for n, r in enumerate(recipients)))
        assert [202] * QUEUED == statuses

        async def all_sent() -> bool:
            rows = await pair.query(
                "SELECT status FROM outbox WHERE recipient = ANY($1::text[])", recipients
            )
            return len(rows) == QUEUED and all(r["status"] == "sent" for r in rows)

        await eventually(all_sent, "delivery of all 50", within=20, report=pair.report)
        await asyncio.sleep(1.5)  # another poll of each dispatcher: nothing goes out again

        delivered = Counter(str(m["To"]) for m in pair.smtp.messages)
        assert dict.fromkeys(recipients, 1) == {r: delivered[r] for r in recipients}
        by_a, by_b = sent_by(pair.a) - before[0], sent_by(pair.b) - before[1]
        assert (QUEUED, True, True) == (by_a + by_b, by_a > 0, by_b > 0), (by_a, by_b)

    async def test_one_webhook_delivered_to_both_at_once_applies_once(
        self, pair: Pair, clients: tuple[httpx.AsyncClient, httpx.AsyncClient]
    ) -> None:
        """The same signed event POSTed to both processes at the same moment: one applies it,
        the other reports a duplicate, and the audit log records one change."""
        a, b = clients
        csrf = await sign_in(a, pair.smtp, pair.email("payer"))
        workspace = await create_workspace(a, csrf, f"Paying {pair.run}")
        payload = subscription_event(workspace, f"evt_twice_{pair.run}")
        calls = pair.stripe.requests

        first, second = await asyncio.gather(
            a.post("/api/billing/webhook", content=payload, headers=signed_headers(payload)),
            b.post("/api/billing/webhook", content=payload, headers=signed_headers(payload)),
        )

        assert (200, 200) == (first.status_code, second.status_code), first.text + second.text
        outcomes = sorted([first.json()["outcome"], second.json()["outcome"]])
        assert ["applied", "duplicate"] == outcomes
        # Both re-fetched the subscription (at most 3 calls each: the SDK's two retries), so
        # both were past the duplicate check when they raced to apply.
        assert pair.stripe.requests - calls > 3, pair.stripe.requests - calls
        audit = await a.get(
            f"/api/workspaces/{workspace}/audit", params={"action": "billing.subscription_updated"}
        )
        assert 1 == len(audit.json()["events"]), audit.text
        ledger = await pair.query(
            "SELECT count(*) AS n FROM billing_events WHERE event_id = $1", f"evt_twice_{pair.run}"
        )
        assert 1 == ledger[0]["n"]

    async def test_a_session_started_on_one_process_works_on_the_other(
        self, pair: Pair, clients: tuple[httpx.AsyncClient, httpx.AsyncClient]
    ) -> None:
        """Signed in on A: B knows the session, accepts its CSRF token, and signing out on B
        ends it on A too."""
        a, b = clients
        email = pair.email("roamer")
        csrf = await sign_in(a, pair.smtp, email)
        b.cookies = a.cookies

        me = await b.get("/api/me")
        created = await b.post(
            "/api/workspaces", json={"name": "Made on B"}, headers={"X-CSRF-Token": csrf}
        )
        on_a = await a.get("/api/workspaces")
        signed_out = await b.post("/api/auth/logout", headers={"X-CSRF-Token": csrf})
        after = await a.get("/api/me")

        assert (200, email) == (me.status_code, me.json()["user"]["email"]), me.text
        assert 201 == created.status_code, created.text
        assert ["Made on B"] == [w["name"] for w in on_a.json()]
        assert 204 == signed_out.status_code, signed_out.text
        assert 401 == after.status_code, after.text
