"""One contract for every ``BillingGateway``: the in-memory one, the offline stub, and the
Stripe adapter talking to a local Stripe (localstripe with ``tests/support/localstripe_ext``).

The Stripe runs skip when localstripe cannot start (and fail in CI). The Stripe-only tests at
the end take webhooks signed and delivered by localstripe itself, in Stripe's older payload
shape, and check that a dead or failing Stripe becomes ``BillingUnavailable`` quickly.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
import stripe
from aiohttp import web
from attrs import frozen

from adapters.billing.local import InMemoryBillingGateway
from adapters.billing.stripe import StripeBillingGateway
from adapters.billing.stub import StubBillingGateway
from saascore.errors import BillingUnavailable, WebhookRejected
from saascore.models import BillingEvent, SubscriptionStatus
from saascore.ports import BillingGateway
from tests.support.smtp import HOST, free_port
from tests.support.stripe_server import LocalStripe, running_localstripe

PRICE = "price_pro_monthly"
STRIPE_KEY = "sk_test_anything"
SECRETS = {
    "memory": "whsec_memory_contract",
    "stub": "whsec_stub_contract",
    "stripe": "whsec_stripe_contract",
}
DELIVERY_WAIT = 10.0  # localstripe delivers about 1 s after the call that caused the event


@pytest.fixture(scope="module")
def localstripe(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStripe]:
    with running_localstripe(tmp_path_factory.mktemp("localstripe")) as server:
        server.create_plan(PRICE)
        yield server


@frozen
class Billing:
    """A gateway under test, the secret its webhooks are signed with, and how to pay."""

    kind: str
    gateway: BillingGateway
    webhook_secret: str
    pay: Callable[[str], Awaitable[str]]  # checkout session id -> the new subscription's id


def memory_billing(kind: str) -> Billing:
    gateway = (
        InMemoryBillingGateway(webhook_secret=SECRETS[kind])
        if kind == "memory"
        else StubBillingGateway("http://127.0.0.1:8000/billing/stub", webhook_secret=SECRETS[kind])
    )

    async def pay(session_id: str) -> str:
        events = gateway.complete_checkout(session_id)
        return next(e.subscription_id for e in events if e.subscription_id)

    return Billing(kind, gateway, SECRETS[kind], pay)


def stripe_billing(server: LocalStripe) -> Billing:
    gateway = StripeBillingGateway(
        STRIPE_KEY, SECRETS["stripe"], api_base=server.api_base, timeout=5
    )

    async def pay(session_id: str) -> str:
        session = await server.complete_checkout(session_id)
        return str(session["subscription"])

    return Billing("stripe", gateway, SECRETS["stripe"], pay)


@pytest.fixture(params=["memory", "stub", "stripe"])
def billing(request: pytest.FixtureRequest) -> Billing:
    if request.param == "stripe":
        return stripe_billing(request.getfixturevalue("localstripe"))
    return memory_billing(request.param)


@pytest.fixture
def stripe_only(localstripe: LocalStripe) -> Billing:
    return stripe_billing(localstripe)


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def last_segment(url: str) -> str:
    return urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1]


def assert_absolute_url(url: str) -> None:
    parts = urlsplit(url)
    assert parts.scheme in ("http", "https"), url
    assert parts.netloc, url


@frozen
class Subscribed:
    workspace_id: str
    customer_id: str
    subscription_id: str


async def new_customer(billing: Billing, workspace_id: str) -> str:
    return await billing.gateway.create_customer(
        workspace_id=workspace_id,
        name="Acme",
        email="owner@acme.test",
        idempotency_key=new_id("customer"),
    )


async def checkout(billing: Billing, customer_id: str, workspace_id: str) -> str:
    return await billing.gateway.start_checkout(
        customer_id=customer_id,
        workspace_id=workspace_id,
        price_id=PRICE,
        success_url="https://app.test/billing/done",
        cancel_url="https://app.test/billing",
        idempotency_key=new_id("checkout"),
    )


async def subscribe(billing: Billing) -> Subscribed:
    """A workspace that has paid a checkout: an active subscription."""
    workspace_id = new_id("ws")
    customer_id = await new_customer(billing, workspace_id)
    url = await checkout(billing, customer_id, workspace_id)
    subscription_id = await billing.pay(last_segment(url))
    return Subscribed(workspace_id, customer_id, subscription_id)


def subscription_events(events: list[BillingEvent], subscription_id: str) -> list[str]:
    return [
        e.type
        for e in events
        if e.subscription_id == subscription_id and e.type.startswith("customer.subscription.")
    ]


async def next_second() -> datetime:
    """Wait until a new second starts (Stripe's events have second resolution); return now."""
    await asyncio.sleep(1.02 - time.time() % 1)
    return datetime.now(UTC)


# ------------------------------------------------------------------ customers and checkout


async def test_create_customer_returns_an_id_and_a_repeated_key_the_same_customer(
    billing: Billing,
) -> None:
    # Upstream localstripe ignores Idempotency-Key; our extension replays the first response
    # like Stripe does, so every adapter is held to it (the Stripe one must send the key).
    workspace_id, key = new_id("ws"), new_id("customer")
    gateway = billing.gateway

    async def create(idempotency_key: str) -> str:
        return await gateway.create_customer(
            workspace_id=workspace_id,
            name="Acme",
            email="owner@acme.test",
            idempotency_key=idempotency_key,
        )

    first = await create(key)
    again = await create(key)
    other = await create(new_id("customer"))

    assert isinstance(first, str)
    assert first
    assert first == again
    assert other != first


async def test_start_checkout_returns_a_url_and_a_repeated_key_the_same_session(
    billing: Billing,
) -> None:
    workspace_id = new_id("ws")
    customer_id = await new_customer(billing, workspace_id)
    key = new_id("checkout")

    async def start(idempotency_key: str) -> str:
        return await billing.gateway.start_checkout(
            customer_id=customer_id,
            workspace_id=workspace_id,
            price_id=PRICE,
            success_url="https://app.test/billing/done",
            cancel_url="https://app.test/billing",
            idempotency_key=idempotency_key,
        )

    url = await start(key)

    assert_absolute_url(url)
    assert url == await start(key)
    assert last_segment(url) != last_segment(await start(new_id("checkout")))


async def test_a_paid_checkout_makes_an_active_subscription(billing: Billing) -> None:
    before = datetime.now(UTC)

    paid = await subscribe(billing)
    snapshot = await billing.gateway.fetch_subscription(paid.subscription_id)

    assert snapshot is not None
    assert paid.subscription_id == snapshot.subscription_id
    assert SubscriptionStatus.ACTIVE == snapshot.status
    assert PRICE == snapshot.price_id
    assert paid.customer_id == snapshot.customer_id
    assert paid.workspace_id == snapshot.workspace_id
    assert snapshot.current_period_end is not None
    assert snapshot.current_period_end > before + timedelta(days=7)
    assert not snapshot.collection_paused
    assert not snapshot.cancel_at_period_end


async def test_an_unknown_subscription_is_none(billing: Billing) -> None:
    gateway = billing.gateway

    assert await gateway.fetch_subscription("sub_missing") is None
    assert await gateway.pause_collection("sub_missing") is None
    assert await gateway.resume_collection("sub_missing") is None
    assert await gateway.cancel("sub_missing") is None


async def test_pause_and_resume_collection(billing: Billing) -> None:
    gateway = billing.gateway
    paid = await subscribe(billing)

    paused = await gateway.pause_collection(paid.subscription_id)
    fetched_paused = await gateway.fetch_subscription(paid.subscription_id)
    resumed = await gateway.resume_collection(paid.subscription_id)
    fetched_resumed = await gateway.fetch_subscription(paid.subscription_id)

    assert paused is not None
    assert fetched_paused is not None
    assert resumed is not None
    assert fetched_resumed is not None
    assert paused.collection_paused
    assert fetched_paused.collection_paused
    assert not resumed.collection_paused
    assert not fetched_resumed.collection_paused
    assert SubscriptionStatus.ACTIVE == fetched_resumed.status


async def test_cancel_ends_the_subscription_and_a_second_cancel_is_harmless(
    billing: Billing,
) -> None:
    gateway = billing.gateway
    paid = await subscribe(billing)

    canceled = await gateway.cancel(paid.subscription_id)
    again = await gateway.cancel(paid.subscription_id)
    fetched = await gateway.fetch_subscription(paid.subscription_id)

    assert canceled is not None
    assert again is not None
    assert fetched is not None
    assert SubscriptionStatus.CANCELED == canceled.status
    assert SubscriptionStatus.CANCELED == again.status
    assert SubscriptionStatus.CANCELED == fetched.status
    assert paid.subscription_id == fetched.subscription_id


# ------------------------------------------------------------------ events


async def test_list_events_since_oldest_first(billing: Billing) -> None:
    gateway = billing.gateway
    since = datetime.now(UTC)
    paid = await subscribe(billing)
    await gateway.pause_collection(paid.subscription_id)
    await gateway.resume_collection(paid.subscription_id)
    later = await next_second()
    await gateway.cancel(paid.subscription_id)

    events = list(await gateway.list_events(since=since))
    recent = list(await gateway.list_events(since=later))

    assert [
        "customer.subscription.created",
        "customer.subscription.updated",
        "customer.subscription.updated",
        "customer.subscription.deleted",
    ] == subscription_events(events, paid.subscription_id)
    assert sorted(events, key=lambda e: e.created_at) == events
    assert ["customer.subscription.deleted"] == subscription_events(recent, paid.subscription_id)
    assert all(e.created_at >= later.replace(microsecond=0) for e in recent)
    created = next(e for e in events if e.type == "customer.subscription.created")
    assert created.subscription is not None
    assert PRICE == created.subscription.price_id


async def test_get_event_round_trips_and_an_unknown_id_is_none(billing: Billing) -> None:
    gateway = billing.gateway
    since = datetime.now(UTC)
    paid = await subscribe(billing)
    listed = next(
        e
        for e in await gateway.list_events(since=since)
        if e.type == "customer.subscription.created" and e.subscription_id == paid.subscription_id
    )

    got = await gateway.get_event(listed.id)

    assert got is not None
    assert (listed.id, listed.type, listed.created_at) == (got.id, got.type, got.created_at)
    assert paid.subscription_id == got.subscription_id
    assert paid.customer_id == got.customer_id
    assert listed.subscription == got.subscription
    assert await gateway.get_event("evt_missing") is None


# ------------------------------------------------------------------ portal


async def test_open_portal_returns_a_url(billing: Billing) -> None:
    customer_id = await new_customer(billing, new_id("ws"))

    url = await billing.gateway.open_portal(
        customer_id=customer_id, return_url="https://app.test/billing"
    )

    assert_absolute_url(url)


# ------------------------------------------------------------------ webhooks


def subscription_updated_payload(subscription_id: str = "sub_webhook") -> str:
    """A ``customer.subscription.updated`` event in Stripe's current shape, as Stripe sends it."""
    now = int(time.time())
    event = {
        "id": "evt_webhook_contract",
        "object": "event",
        "type": "customer.subscription.updated",
        "created": now,
        "api_version": "2026-10-28.endive",
        "livemode": False,
        "data": {
            "object": {
                "id": subscription_id,
                "object": "subscription",
                "customer": "cus_webhook",
                "status": "past_due",
                "cancel_at_period_end": False,
                "pause_collection": None,
                "metadata": {"workspace_id": "ws-webhook"},
                "items": {
                    "object": "list",
                    "data": [
                        {
                            "id": "si_webhook",
                            "object": "subscription_item",
                            "price": {"id": PRICE, "object": "price"},
                            "quantity": 1,
                            "current_period_start": now,
                            "current_period_end": now + 30 * 86400,
                        }
                    ],
                },
            },
            "previous_attributes": {"status": "active"},
        },
    }
    return json.dumps(event, indent=2)


def sign(payload: str, secret: str, *, age: int = 0) -> str:
    return stripe.WebhookSignature.generate_signature_header(  # type: ignore[no-any-return]
        payload, secret, timestamp=int(time.time()) - age
    )


async def test_parse_webhook_accepts_a_signed_event(billing: Billing) -> None:
    payload = subscription_updated_payload()

    event = billing.gateway.parse_webhook(payload.encode(), sign(payload, billing.webhook_secret))

    assert "evt_webhook_contract" == event.id
    assert "customer.subscription.updated" == event.type
    assert "sub_webhook" == event.subscription_id
    assert "cus_webhook" == event.customer_id
    assert "ws-webhook" == event.workspace_id
    assert event.subscription is not None
    assert SubscriptionStatus.PAST_DUE == event.subscription.status
    assert PRICE == event.subscription.price_id
    assert event.subscription.current_period_end is not None


async def test_parse_webhook_accepts_a_signature_within_the_tolerance(billing: Billing) -> None:
    payload = subscription_updated_payload()

    event = billing.gateway.parse_webhook(
        payload.encode(), sign(payload, billing.webhook_secret, age=200)
    )

    assert "evt_webhook_contract" == event.id


@pytest.mark.parametrize(
    "case",
    [
        "other secret",
        "tampered body",
        "stale",
        "from the future",
        "missing",
        "empty",
        "no v1",
        "not an event",
        # Found by the API fuzzer (tests/integration/test_fuzz.py): each was a 500.
        "huge timestamp",
        "non-ASCII digit timestamp",
        "non-ASCII signature",
        "creation time out of range",
        "period end out of range",
    ],
)
async def test_parse_webhook_rejects(billing: Billing, case: str) -> None:
    payload = subscription_updated_payload()
    body = payload.encode()
    header: str | None = sign(payload, billing.webhook_secret)
    if case == "other secret":
        header = sign(payload, "whsec_someone_else")
    elif case == "tampered body":
        body = payload.replace("past_due", "active").encode()
    elif case in ("stale", "from the future"):  # 301 s either side of now
        header = sign(payload, billing.webhook_secret, age=301 if case == "stale" else -301)
    elif case == "missing":
        header = None
    elif case == "empty":
        header = ""
    elif case == "no v1":
        header = f"t={int(time.time())}"
    elif case == "huge timestamp":
        header = f"t={'9' * 5000},v1={'0' * 64}"
    elif case == "non-ASCII digit timestamp":
        header = f"t=\u00b2,v1={'0' * 64}"
    elif case == "non-ASCII signature":
        header = f"t={int(time.time())},v1=\u00e9{'0' * 63}"
    elif case == "creation time out of range":
        text = json.dumps(dict(json.loads(payload), created=1e300))
        body, header = text.encode(), sign(text, billing.webhook_secret)
    elif case == "period end out of range":
        event = json.loads(payload)
        event["data"]["object"]["items"]["data"][0]["current_period_end"] = 10**20
        text = json.dumps(event)
        body, header = text.encode(), sign(text, billing.webhook_secret)
    else:
        text = json.dumps({"hello": "world"})
        body, header = text.encode(), sign(text, billing.webhook_secret)

    with pytest.raises(WebhookRejected):
        billing.gateway.parse_webhook(body, header)


# ------------------------------------------------------------------ Stripe only

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@asynccontextmanager
async def http_server(handler: Handler) -> AsyncIterator[str]:
    """A tiny HTTP server on 127.0.0.1 answering every request with ``handler``; its URL."""
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    sock = socket.socket()
    sock.bind((HOST, 0))
    port = sock.getsockname()[1]
    await web.SockSite(runner, sock).start()
    try:
        yield f"http://{HOST}:{port}"
    finally:
        await runner.cleanup()


@frozen
class Delivery:
    body: bytes
    signature: str | None


class Inbox:
    """A webhook receiver's handler that keeps every delivery (body and Stripe-Signature)."""

    def __init__(self) -> None:
        self.deliveries: list[Delivery] = []
        self._arrived = asyncio.Condition()

    async def receive(self, request: web.Request) -> web.Response:
        delivery = Delivery(await request.read(), request.headers.get("Stripe-Signature"))
        async with self._arrived:
            self.deliveries.append(delivery)
            self._arrived.notify_all()
        return web.Response(text="ok")

    async def wait_for(self, predicate: Callable[[], bool]) -> None:
        """Until ``predicate`` holds, or ``DELIVERY_WAIT`` has passed (then check it yourself)."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(DELIVERY_WAIT), self._arrived:
                await self._arrived.wait_for(predicate)


async def test_webhooks_delivered_by_localstripe_are_accepted(
    stripe_only: Billing, localstripe: LocalStripe
) -> None:
    inbox = Inbox()
    wanted = {"customer.subscription.created", "checkout.session.completed"}

    async with http_server(inbox.receive) as url:
        await localstripe.register_webhook(
            new_id("contract"), f"{url}/billing/webhook", stripe_only.webhook_secret, wanted
        )
        paid = await subscribe(stripe_only)

        def received() -> dict[str, BillingEvent]:
            events = (
                stripe_only.gateway.parse_webhook(d.body, d.signature) for d in inbox.deliveries
            )
            return {e.type: e for e in events if e.subscription_id == paid.subscription_id}

        await inbox.wait_for(lambda: wanted <= received().keys())

    events = received()
    assert wanted == events.keys()
    created = events["customer.subscription.created"]
    # localstripe speaks the older shape: plan and current_period_end on the subscription.
    assert "plan" in created.payload["data"]["object"]
    assert created.subscription is not None
    assert PRICE == created.subscription.price_id
    assert created.subscription.current_period_end is not None
    assert SubscriptionStatus.ACTIVE == created.subscription.status
    assert paid.customer_id == created.customer_id
    assert paid.workspace_id == created.workspace_id
    completed = events["checkout.session.completed"]
    assert paid.workspace_id == completed.workspace_id
    assert paid.customer_id == completed.customer_id


async def test_a_localstripe_webhook_with_a_changed_body_is_rejected(
    stripe_only: Billing, localstripe: LocalStripe
) -> None:
    inbox = Inbox()

    async with http_server(inbox.receive) as url:
        await localstripe.register_webhook(
            new_id("tamper"), url, stripe_only.webhook_secret, ["customer.created"]
        )
        customer_id = await new_customer(stripe_only, new_id("ws"))

        def mine() -> list[Delivery]:
            return [d for d in inbox.deliveries if customer_id.encode() in d.body]

        await inbox.wait_for(lambda: bool(mine()))

    [delivery] = mine()
    event = stripe_only.gateway.parse_webhook(delivery.body, delivery.signature)
    assert "customer.created" == event.type
    assert customer_id == event.payload["data"]["object"]["id"]
    changed = delivery.body.replace(b"Acme", b"Evil")
    assert changed != delivery.body
    with pytest.raises(WebhookRejected):
        stripe_only.gateway.parse_webhook(changed, delivery.signature)


CALLS: dict[str, Callable[[BillingGateway], Awaitable[Any]]] = {
    "create_customer": lambda g: g.create_customer(
        workspace_id="ws", name="Acme", email="owner@acme.test", idempotency_key=new_id("k")
    ),
    "start_checkout": lambda g: g.start_checkout(
        customer_id="cus_x",
        workspace_id="ws",
        price_id=PRICE,
        success_url="https://app.test/ok",
        cancel_url="https://app.test/no",
        idempotency_key=new_id("k"),
    ),
    "open_portal": lambda g: g.open_portal(customer_id="cus_x", return_url="https://app.test"),
    "fetch_subscription": lambda g: g.fetch_subscription("sub_x"),
    "list_events": lambda g: g.list_events(since=datetime.now(UTC)),
    "get_event": lambda g: g.get_event("evt_x"),
    "pause_collection": lambda g: g.pause_collection("sub_x"),
    "resume_collection": lambda g: g.resume_collection("sub_x"),
    "cancel": lambda g: g.cancel("sub_x"),
}


@asynccontextmanager
async def broken_stripe(kind: str) -> AsyncIterator[str]:
    """The base address of a Stripe that is not there, or answers 500 to everything."""
    if kind == "closed port":
        yield f"http://{HOST}:{free_port()}"
        return

    async def fail(request: web.Request) -> web.Response:
        body = {"error": {"type": "api_error", "message": "Something went wrong."}}
        return web.json_response(body, status=500)

    async with http_server(fail) as url:
        yield url


@pytest.mark.parametrize("call", list(CALLS))
@pytest.mark.parametrize("kind", ["closed port", "answers 500"])
async def test_an_unreachable_or_failing_stripe_is_billing_unavailable(
    kind: str, call: str
) -> None:
    async with broken_stripe(kind) as api_base:
        gateway = StripeBillingGateway(
            STRIPE_KEY, SECRETS["stripe"], api_base=api_base, timeout=2, max_network_retries=0
        )
        started = time.monotonic()
        with pytest.raises(BillingUnavailable):
            await asyncio.wait_for(CALLS[call](gateway), timeout=10)

    assert time.monotonic() - started < 3
