"""Billing over HTTP on real databases (a SQLite file and Postgres): the Stripe webhook with
payloads shaped like Stripe's (both API shapes) signed by the SDK's own helper, the owner's
checkout through the offline stub, seat limits, and what the audit trail shows."""

from __future__ import annotations

import copy
import json
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
import stripe
from attrs import evolve, frozen

from adapters.billing.local import InMemoryBillingGateway
from entrypoints.web import create_app
from saascore.errors import DatabaseUnavailable
from saascore.models import AuditEvent, Role
from tests.integration.test_signin_http import Site, serving
from tests.integration.test_workspaces_http import (
    ADMIN,
    MEMBER,
    OUTSIDER,
    OWNER,
    Caller,
    make_workspace,
    register_people,
    settings_on,
)

SECRET = "whsec_test_secret"
FIXTURES = Path(__file__).parent.parent / "fixtures" / "stripe"
WEBHOOK = "/api/billing/webhook"
T0 = 1767225600  # the fixtures' creation time


def fixture(name: str, workspace_id: str) -> dict[str, Any]:
    text = (FIXTURES / f"{name}.json").read_text().replace("WORKSPACE_ID", workspace_id)
    data: dict[str, Any] = json.loads(text)
    return data


def subscription_event(
    workspace_id: str,
    n: int,
    status: str,
    *,
    kind: str = "updated",
    shape: str = "current",
    start: int = T0,
) -> dict[str, Any]:
    """Event ``n`` for the fixture subscription, created ``n`` seconds after ``start``."""
    event = copy.deepcopy(fixture(f"subscription_event_{shape}", workspace_id))
    event["id"] = f"evt_{shape}_{n}_{status}"
    event["type"] = f"customer.subscription.{kind}"
    event["created"] = start + n
    event["data"]["object"]["status"] = status
    return event


def signed(
    event: dict[str, Any], *, secret: str = SECRET, timestamp: int | None = None
) -> tuple[str, str]:
    payload = json.dumps(event)
    header = stripe.WebhookSignature.generate_signature_header(
        payload, secret, timestamp=timestamp if timestamp is not None else int(time.time())
    )
    return payload, header


@frozen
class Shop:
    """A running app with people, a workspace they share, and signed-in callers."""

    site: Site
    users: dict[str, str]
    workspace_id: str
    callers: dict[str, Caller]

    @property
    def gateway(self) -> InMemoryBillingGateway:
        billing = self.site.services.billing
        assert isinstance(billing, InMemoryBillingGateway)
        return billing

    async def deliver(self, event: dict[str, Any], **sign: Any) -> httpx.Response:
        payload, header = signed(event, **sign)
        client = await self.site.client()
        return await client.post(
            WEBHOOK,
            content=payload,
            headers={"Stripe-Signature": header, "Content-Type": "application/json"},
        )

    async def audit(self) -> list[AuditEvent]:
        async with self.site.services.uow() as uow:
            events = await uow.audit.list(workspace_id=self.workspace_id, limit=500)
        return list(reversed(events))

    async def actions(self) -> list[str]:
        return [e.action for e in await self.audit()]

    async def billing(self, role: str = "member") -> dict[str, Any]:
        response = await self.callers[role].send(
            "GET", f"/api/workspaces/{self.workspace_id}/billing"
        )
        assert 200 == response.status_code, response.text
        body: dict[str, Any] = response.json()
        return body

    async def status(self) -> str | None:
        status: str | None = (await self.billing())["status"]
        return status


OpenShop = Callable[..., Awaitable[Shop]]


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest) -> str:
    url: str = request.getfixturevalue(f"{request.param}_url")
    return url


@pytest.fixture
async def open_shop(database: str) -> AsyncIterator[OpenShop]:
    async with AsyncExitStack() as stack:

        async def start(**overrides: Any) -> Shop:
            overrides.setdefault("billing_plans", "free::3,pro:price_pro_monthly:25")
            settings = settings_on(database, stripe_webhook_secret=SECRET, **overrides)
            app = create_app(settings, dispatch_outbox=False)
            await stack.enter_async_context(serving(app))
            site = Site(app, stack)
            users = await register_people(site.services)
            workspace_id = await make_workspace(
                site.services,
                "Acme Inc",
                users[OWNER],
                {users[ADMIN]: Role.ADMIN, users[MEMBER]: Role.MEMBER},
            )
            callers = {
                role: Caller.of(await site.sign_in(email))
                for role, email in (
                    ("owner", OWNER),
                    ("admin", ADMIN),
                    ("member", MEMBER),
                    ("outsider", OUTSIDER),
                )
            }
            return Shop(site, users, workspace_id, callers)

        yield start


@pytest.fixture
async def shop(open_shop: OpenShop) -> Shop:
    return await open_shop()


class TestWebhook:
    async def test_the_same_event_twice_is_two_200s_and_one_change(self, shop: Shop) -> None:
        event = subscription_event(shop.workspace_id, 1, "active", kind="created")

        first = await shop.deliver(event)
        second = await shop.deliver(event)

        assert (200, "applied") == (first.status_code, first.json()["outcome"])
        assert (200, "duplicate") == (second.status_code, second.json()["outcome"])
        [updated] = [e for e in await shop.audit() if e.action == "billing.subscription_updated"]
        assert (None, "10.0.0.2", first.headers["x-request-id"]) == (
            updated.actor_id,
            updated.ip,
            updated.request_id,
        )
        assert event["id"] == updated.data["event"]
        assert "active" == await shop.status()

    async def test_an_older_update_after_deleted_stays_canceled(self, shop: Shop) -> None:
        await shop.deliver(subscription_event(shop.workspace_id, 1, "active", kind="created"))
        deleted = await shop.deliver(
            subscription_event(shop.workspace_id, 9, "canceled", kind="deleted")
        )
        older = await shop.deliver(subscription_event(shop.workspace_id, 5, "past_due"))

        assert 200 == deleted.status_code
        assert (200, "stale") == (older.status_code, older.json()["outcome"])
        assert "canceled" == await shop.status()
        assert "free" == (await shop.billing())["plan"]["name"]

    async def test_out_of_order_delivery_ends_in_the_newest_state(self, shop: Shop) -> None:
        ws = shop.workspace_id
        for n, status in ((3, "past_due"), (1, "incomplete"), (4, "active"), (2, "active")):
            response = await shop.deliver(subscription_event(ws, n, status))
            assert 200 == response.status_code

        assert "active" == await shop.status()
        async with shop.site.services.uow() as uow:
            sub = await uow.subscriptions.get(ws)
        assert sub is not None
        assert sub.event_at is not None
        assert T0 + 4 == int(sub.event_at.timestamp())

    @pytest.mark.parametrize("shape", ["current", "legacy"])
    async def test_both_payload_shapes_are_understood(self, shop: Shop, shape: str) -> None:
        """Price and period end on the items (current API), or on the subscription (older)."""
        response = await shop.deliver(
            subscription_event(shop.workspace_id, 1, "active", kind="created", shape=shape)
        )

        body = await shop.billing()
        assert 200 == response.status_code
        assert ("pro", "active", 25) == (body["plan"]["name"], body["status"], body["seat_limit"])
        assert body["current_period_end"].startswith("2026-02-01")

    async def test_event_types_it_does_not_use_are_200(self, shop: Shop) -> None:
        event = subscription_event(shop.workspace_id, 1, "active")
        event["type"] = "customer.subscription.trial_will_end"

        response = await shop.deliver(event)

        assert (200, "ignored") == (response.status_code, response.json()["outcome"])
        assert (await shop.status()) is None

    @pytest.mark.parametrize(
        "tamper",
        ["wrong secret", "changed body", "stale", "missing header", "not an event"],
    )
    async def test_bad_signatures_are_400_and_change_nothing(self, shop: Shop, tamper: str) -> None:
        event = subscription_event(shop.workspace_id, 1, "active", kind="created")
        payload, header = signed(
            event,
            secret="whsec_other" if tamper == "wrong secret" else SECRET,
            timestamp=int(time.time()) - 301 if tamper == "stale" else None,
        )
        if tamper == "changed body":
            payload = payload.replace('"active"', '"trialing"')
        if tamper == "not an event":
            payload, header = signed({"hello": "world"})
        headers = {"Content-Type": "application/json"}
        if tamper != "missing header":
            headers["Stripe-Signature"] = header
        client = await shop.site.client()

        response = await client.post(WEBHOOK, content=payload, headers=headers)

        assert (400, "invalid_webhook") == (response.status_code, response.json()["code"])
        assert response.headers["content-type"].startswith("application/problem+json")
        assert (await shop.status()) is None
        async with shop.site.services.uow() as uow:
            assert [] == list(await uow.billing_ledger.list())

    async def test_a_database_failure_is_5xx_and_the_retry_applies_once(self, shop: Shop) -> None:
        """Stripe retries a 5xx; nothing of the failed attempt may count as delivered."""
        services = shop.site.services
        real = services.uow
        event = subscription_event(shop.workspace_id, 1, "active", kind="created")
        failures = {"left": 1}

        def flaky() -> Any:
            uow = real()
            original_commit = uow.commit

            async def commit() -> None:
                if failures["left"]:
                    failures["left"] -= 1
                    raise DatabaseUnavailable("the database connection was lost")
                await original_commit()

            uow.commit = commit  # type: ignore[method-assign]
            return uow

        deps = services.deps
        services.deps = evolve(deps, writer=flaky)
        try:
            failed = await shop.deliver(event)
        finally:
            services.deps = deps
        retried = await shop.deliver(event)
        again = await shop.deliver(event)

        assert (503, "database_unavailable") == (failed.status_code, failed.json()["code"])
        assert (200, "applied") == (retried.status_code, retried.json()["outcome"])
        assert "duplicate" == again.json()["outcome"]
        assert 1 == (await shop.actions()).count("billing.subscription_updated")

    async def test_a_failed_payment_emails_the_owner(self, shop: Shop) -> None:
        ws, now = shop.workspace_id, int(time.time())  # the grace period runs from now
        await shop.deliver(fixture("checkout_session_completed", ws))
        await shop.deliver(subscription_event(ws, 1, "active", kind="created", start=now))
        failed = fixture("invoice_payment_failed_current", ws)
        failed["created"] = now + 2
        await shop.deliver(subscription_event(ws, 2, "past_due", start=now))

        response = await shop.deliver(failed)

        assert (200, "applied") == (response.status_code, response.json()["outcome"])
        mail = await shop.site.mail_to(OWNER)
        assert "Payment failed for Acme Inc" == mail.subject
        assert f"/workspaces/{ws}/billing" in mail.text
        body = await shop.billing()
        assert ("past_due", "pro") == (body["status"], body["plan"]["name"])
        assert body["grace_ends_at"] is not None
        assert "billing.payment_failed" in await shop.actions()

    async def test_the_webhook_needs_no_session_or_csrf_but_has_its_own_limit(
        self, open_shop: OpenShop
    ) -> None:
        shop = await open_shop(webhook_limit_per_ip=2)
        event = subscription_event(shop.workspace_id, 1, "active", kind="created")

        codes = [(await shop.deliver(event)).status_code for _ in range(3)]

        assert [200, 200, 429] == codes


class TestOwnersPay:
    async def test_the_owner_upgrades_through_the_stub_checkout(self, shop: Shop) -> None:
        owner = shop.callers["owner"]
        ws = shop.workspace_id

        started = await owner.send(
            "POST", f"/api/workspaces/{ws}/billing/checkout", {"plan": "pro"}
        )
        url = started.json()["url"]
        page = await owner.client.get(url)
        paid = await owner.client.post(url)
        landing = await owner.client.get(paid.headers["location"])

        assert (200, "checkout") == (started.status_code, started.json()["kind"])
        assert url.startswith(f"{shop.site.settings.base_url}/billing/stub/checkout/")
        assert 200 == page.status_code
        assert "Pay (test)" in page.text
        assert 303 == paid.status_code
        assert paid.headers["location"].endswith(f"/workspaces/{ws}/billing?checkout=success")
        assert 200 == landing.status_code
        assert re.search(r'<dd id="plan">pro</dd>', landing.text)
        body = await shop.billing()
        assert ("pro", "active", 25, 3) == (
            body["plan"]["name"],
            body["status"],
            body["seat_limit"],
            body["seats_used"],
        )
        actions = await shop.actions()
        for action in ("billing.checkout_started", "billing.subscription_updated"):
            assert action in actions

    async def test_the_stub_portal_fails_a_payment_then_cancels(self, shop: Shop) -> None:
        """The stand-in portal changes the subscription as Stripe would, with its events."""
        owner = shop.callers["owner"]
        base = f"/api/workspaces/{shop.workspace_id}/billing"
        await owner.client.post(
            (await owner.send("POST", f"{base}/checkout", {"plan": "pro"})).json()["url"]
        )
        portal = (await owner.send("POST", f"{base}/portal")).json()["url"]
        page = await owner.client.get(portal)
        [sub_id] = list(shop.gateway.subscriptions)
        action = portal.split("?")[0]

        admin_sees = await shop.callers["admin"].client.get(portal)
        forged = await owner.client.post(action, data={"subscription": sub_id, "action": "cancel"})
        csrf = owner.csrf or ""
        failed = await owner.client.post(
            action, data={"subscription": sub_id, "action": "fail_payment", "_csrf": csrf}
        )
        after_failure = await shop.billing()
        await owner.client.post(
            action, data={"subscription": sub_id, "action": "cancel", "_csrf": csrf}
        )
        after_cancel = await shop.billing()

        assert 200 == page.status_code
        assert sub_id in page.text
        assert (403, 403) == (admin_sees.status_code, forged.status_code)
        assert 303 == failed.status_code
        assert ("past_due", "pro") == (after_failure["status"], after_failure["plan"]["name"])
        assert ("canceled", "free") == (after_cancel["status"], after_cancel["plan"]["name"])
        assert "Payment failed for Acme Inc" == (await shop.site.mail_to(OWNER)).subject

    async def test_a_second_checkout_goes_to_the_portal(self, shop: Shop) -> None:
        owner = shop.callers["owner"]
        path = f"/api/workspaces/{shop.workspace_id}/billing/checkout"
        url = (await owner.send("POST", path, {"plan": "pro"})).json()["url"]
        await owner.client.post(url)

        again = await owner.send("POST", path, {"plan": "pro"})

        assert (200, "portal") == (again.status_code, again.json()["kind"])
        assert "/billing/stub/portal/" in again.json()["url"]

    @pytest.mark.parametrize(
        ("role", "status"), [("admin", 403), ("member", 403), ("outsider", 404)]
    )
    async def test_only_owners_touch_money(self, shop: Shop, role: str, status: int) -> None:
        base = f"/api/workspaces/{shop.workspace_id}/billing"

        checkout = await shop.callers[role].send("POST", f"{base}/checkout", {"plan": "pro"})
        portal = await shop.callers[role].send("POST", f"{base}/portal")

        assert (status, status) == (checkout.status_code, portal.status_code)
        assert [] == shop.gateway.calls

    async def test_checkout_needs_the_csrf_token(self, shop: Shop) -> None:
        client = shop.callers["owner"].client

        response = await client.post(
            f"/api/workspaces/{shop.workspace_id}/billing/checkout", json={"plan": "pro"}
        )

        assert (403, "csrf_failed") == (response.status_code, response.json()["code"])

    async def test_an_unknown_plan_is_400_naming_the_field(self, shop: Shop) -> None:
        response = await shop.callers["owner"].send(
            "POST", f"/api/workspaces/{shop.workspace_id}/billing/checkout", {"plan": "gold"}
        )

        assert 400 == response.status_code
        assert ["plan"] == [e["field"] for e in response.json()["errors"]]

    async def test_the_seat_limit_is_402_until_the_plan_is_upgraded(self, shop: Shop) -> None:
        """Three members fill the free plan's three seats."""
        owner = shop.callers["owner"]
        invites = f"/api/workspaces/{shop.workspace_id}/invites"
        body = {"email": "newbie@example.com", "role": "member"}

        refused = await owner.send("POST", invites, body)
        url = (
            await owner.send(
                "POST", f"/api/workspaces/{shop.workspace_id}/billing/checkout", {"plan": "pro"}
            )
        ).json()["url"]
        await owner.client.post(url)
        accepted = await owner.send("POST", invites, body)

        assert (402, "plan_limit_reached") == (refused.status_code, refused.json()["code"])
        assert 201 == accepted.status_code

    async def test_deleting_the_workspace_cancels_its_subscription(self, shop: Shop) -> None:
        owner = shop.callers["owner"]
        ws = shop.workspace_id
        url = (
            await owner.send("POST", f"/api/workspaces/{ws}/billing/checkout", {"plan": "pro"})
        ).json()["url"]
        await owner.client.post(url)

        deleted = await owner.send("DELETE", f"/api/workspaces/{ws}")

        assert 204 == deleted.status_code
        assert ["canceled"] == [s["status"] for s in shop.gateway.subscriptions.values()]

    async def test_members_see_the_billing_page_without_buttons(self, shop: Shop) -> None:
        member = shop.callers["member"]

        page = await member.client.get(f"/workspaces/{shop.workspace_id}/billing")
        forged = await member.client.post(
            f"/workspaces/{shop.workspace_id}/billing/checkout",
            data={"plan": "pro", "_csrf": member.csrf or ""},
        )

        assert 200 == page.status_code
        assert "Upgrade to" not in page.text
        assert 403 == forged.status_code

    async def test_a_past_due_workspace_shows_a_banner(self, shop: Shop) -> None:
        ws = shop.workspace_id
        await shop.deliver(subscription_event(ws, 1, "past_due", kind="created"))

        page = await shop.callers["owner"].client.get(f"/workspaces/{ws}/billing")

        assert "The last payment failed" in page.text


async def test_the_plans_are_public(shop: Shop) -> None:
    client = await shop.site.client()

    response = await client.get("/api/billing/plans")

    assert [
        {"name": "free", "price_id": None, "seat_limit": 3},
        {"name": "pro", "price_id": "price_pro_monthly", "seat_limit": 25},
    ] == response.json()
