"""Stripe billing end to end: real processes, real HTTP, nothing faked in between.

localstripe (with our extension) plays Stripe; ``saascore dev`` runs as a subprocess on a
fresh SQLite file (it migrates it, loads the demo data and serves), with the Stripe backend
pointed at localstripe and localstripe's webhooks pointed back at the app. The seeded owner
signs in through the real sign-in flow (the link is read from the stub email the server
prints), pays for Pro on the "hosted" checkout page, and the app must learn of it from the
signed webhooks alone; then the subscription is canceled at "Stripe" and the app must fall
back to free.
"""

from __future__ import annotations

import asyncio
import os
import re
import sqlite3
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import httpx
import pytest

from tests.support.appserver import LINK, SETTINGS_VARIABLES, AppProcess
from tests.support.databases import sqlite_url
from tests.support.stripe_server import LocalStripe, running_localstripe

PRICE = "price_pro_monthly"
SECRET_KEY = "sk_test_e2e"
WEBHOOK_SECRET = "whsec_e2e"
OWNER = "founder@example.com"
WORKSPACE = "Acme Inc"
WEBHOOK_WAIT = 15.0  # localstripe delivers ~1 s after the call, once, fire-and-forget


class Stack:
    """The app and localstripe, both running; what a failing assertion should show."""

    def __init__(self, app: AppProcess, stripe: LocalStripe) -> None:
        self.app = app
        self.stripe = stripe

    @property
    def base(self) -> str:
        return self.app.base

    def report(self) -> str:
        return (
            f"\n--- saascore dev output ---\n{self.app.output()}"
            f"\n--- localstripe log (tail) ---\n{self.stripe.log_tail(40)}"
        )

    def subscription_id(self, workspace_id: str) -> str | None:
        """The Stripe subscription id the app stored (the billing API does not show it)."""
        database = self.app.folder / "saascore.db"
        with sqlite3.connect(database) as conn:
            row = conn.execute(
                "SELECT subscription_id FROM subscriptions WHERE workspace_id = ?",
                (workspace_id,),
            ).fetchone()
        return None if row is None else row[0]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_localstripe(tmp_path_factory.mktemp("localstripe")) as stripe:
        stripe.create_plan(PRICE)
        folder = tmp_path_factory.mktemp("app")
        env = {
            # None of the developer's or CI's own settings: only what this test sets.
            **{k: v for k, v in os.environ.items() if k not in SETTINGS_VARIABLES},
            "ENVIRONMENT": "development",
            "DATABASE_URL": sqlite_url(folder / "saascore.db"),
            "BILLING_BACKEND": "stripe",
            "STRIPE_SECRET_KEY": SECRET_KEY,
            "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "STRIPE_API_BASE": stripe.api_base,
            "EMAIL_BACKEND": "stub",
            "OUTBOX_POLL_SECONDS": "1",
            "LOG_FORMAT": "console",
            "PYTHONUNBUFFERED": "1",
        }
        # `saascore dev`: `db upgrade`, `db seed` (the database is empty) and `serve` in one
        # process, which saves two interpreter start-ups of ~3 s each.
        app = AppProcess(folder, env, name="saascore dev", command="dev")
        try:
            app.launch()
            app.wait_until_up()
            yield Stack(app, stripe)
        finally:
            app.stop()


async def eventually(
    check: Callable[[], Awaitable[tuple[bool, Any]]], what: str, stack: Stack
) -> Any:
    """Poll ``check`` (answering done-or-not and what it saw) until done, or fail."""
    deadline = time.monotonic() + WEBHOOK_WAIT
    while True:
        done, seen = await check()
        if done:
            return seen
        if time.monotonic() > deadline:
            pytest.fail(f"{what} within {WEBHOOK_WAIT} s; last seen: {seen!r}{stack.report()}")
        await asyncio.sleep(0.25)


async def sign_in(client: httpx.AsyncClient, stack: Stack, email: str) -> str:
    """Through the real flow: ask for a link, read it from the stub email, confirm it.
    The client keeps the session cookie; the CSRF token is returned."""
    already = stack.app.output()
    asked = await client.post("/api/auth/login-link", json={"email": email})
    assert 202 == asked.status_code, asked.text + stack.report()

    async def link_printed() -> tuple[bool, list[str]]:
        fresh = stack.app.output()[len(already) :]
        mails = fresh.split(f"To:      {email}")[1:]
        tokens = [m.group(1) for mail in mails if (m := LINK.search(mail))]
        return bool(tokens), tokens

    tokens: list[str] = await eventually(link_printed, f"no sign-in email for {email}", stack)
    confirmed = await client.post("/api/auth/confirm", json={"token": tokens[-1]})
    assert 200 == confirmed.status_code, confirmed.text + stack.report()
    body: dict[str, Any] = confirmed.json()
    assert email == body["user"]["email"]
    assert "saascore_session" in client.cookies
    csrf: str = body["csrf_token"]
    return csrf


async def test_paying_and_canceling_at_stripe_reach_the_app_by_webhook(stack: Stack) -> None:
    base = stack.base
    await stack.stripe.register_webhook(
        "saascore-e2e", f"{base}/api/billing/webhook", WEBHOOK_SECRET
    )
    assert "loaded demo data" in stack.app.output(), stack.report()
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        csrf = await sign_in(client, stack, OWNER)
        listed = await client.get("/api/workspaces")
        assert 200 == listed.status_code, listed.text + stack.report()
        [acme] = [w for w in listed.json() if w["name"] == WORKSPACE]
        assert "owner" == acme["role"]
        ws = acme["id"]
        billing_path = f"/api/workspaces/{ws}/billing"

        before = (await client.get(billing_path)).json()
        assert ("free", None, False) == (
            before["plan"]["name"],
            before["status"],
            before["has_subscription"],
        ), before

        # The owner asks to pay for Pro: the app answers with localstripe's hosted page.
        started = await client.post(
            f"{billing_path}/checkout", json={"plan": "pro"}, headers={"X-CSRF-Token": csrf}
        )
        assert 200 == started.status_code, started.text + stack.report()
        checkout = started.json()
        assert "checkout" == checkout["kind"]
        assert re.fullmatch(
            re.escape(f"{stack.stripe.api_base}/_config/checkout/") + r"cs_test_\w+",
            checkout["url"],
        ), checkout

        # The browser visits it: localstripe pays, and sends the owner back to the app.
        async with httpx.AsyncClient(timeout=10) as browser:
            paid = await browser.get(checkout["url"], follow_redirects=False)
        assert 302 == paid.status_code, paid.text + stack.report()
        assert f"{base}/workspaces/{ws}/billing?checkout=success" == paid.headers["location"]

        # Only the webhooks can tell the app the payment went through.
        async def on_pro() -> tuple[bool, dict[str, Any]]:
            view: dict[str, Any] = (await client.get(billing_path)).json()
            return (view["plan"]["name"], view["status"]) == ("pro", "active"), view

        view = await eventually(on_pro, "the app never showed pro/active", stack)
        assert (25, True, True) == (
            view["seat_limit"],
            view["entitled"],
            view["has_subscription"],
        ), view

        audit = await client.get(f"/api/workspaces/{ws}/audit", params={"limit": 100})
        assert 200 == audit.status_code, audit.text + stack.report()
        actions = {e["action"] for e in audit.json()["events"]}
        assert {"billing.checkout_started", "billing.subscription_updated"} <= actions, actions

        # Canceled at Stripe (say, from its dashboard): the app must notice by webhook.
        subscription_id = stack.subscription_id(ws)
        assert subscription_id is not None, stack.report()
        async with httpx.AsyncClient(timeout=10) as dashboard:
            canceled = await dashboard.delete(
                f"{stack.stripe.api_base}/v1/subscriptions/{subscription_id}",
                headers={"Authorization": f"Bearer {SECRET_KEY}"},
            )
        assert 200 == canceled.status_code, canceled.text
        assert "canceled" == canceled.json()["status"]

        async def on_free() -> tuple[bool, dict[str, Any]]:
            view: dict[str, Any] = (await client.get(billing_path)).json()
            return (view["plan"]["name"], view["status"]) == ("free", "canceled"), view

        view = await eventually(on_free, "the app never showed free/canceled", stack)
        assert (5, False) == (view["seat_limit"], view["entitled"]), view


async def test_an_unsigned_webhook_is_refused(stack: Stack) -> None:
    event = b'{"id": "evt_forged", "object": "event", "type": "customer.subscription.deleted"}'
    async with httpx.AsyncClient(base_url=stack.base, timeout=10) as client:
        unsigned = await client.post(
            "/api/billing/webhook", content=event, headers={"Content-Type": "application/json"}
        )
        badly_signed = await client.post(
            "/api/billing/webhook",
            content=event,
            headers={"Content-Type": "application/json", "Stripe-Signature": "t=1,v1=00"},
        )

    for response in (unsigned, badly_signed):
        assert 400 == response.status_code, response.text + stack.report()
        assert "invalid_webhook" == response.json()["code"], response.text
