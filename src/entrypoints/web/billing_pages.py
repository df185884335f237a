"""Billing pages: a workspace's plan with upgrade and manage buttons, and, with the offline
``stub`` backend, the stand-ins for Stripe's checkout and customer portal.

Paying on the stub checkout applies the events it produces through the same use case as
the Stripe webhook, so the offline app behaves like the real one.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import structlog
from attrs import frozen
from litestar import Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, URLEncodedBody
from litestar.response import Redirect, Template

from adapters.billing.local import InMemoryBillingGateway
from entrypoints.bootstrap import STUB_BILLING_PATH, Services
from entrypoints.web.auth import Authenticated
from entrypoints.web.pagekit import render, signed_in, signed_in_briefly
from entrypoints.web.workspace_pages import workspace_context
from saascore import billing
from saascore.context import Tx
from saascore.errors import ExternalServiceError, NotFound
from saascore.models import Actor, BillingEvent, Role, SubscriptionStatus
from saascore.workspaces import require_role

log = structlog.get_logger("saascore.billing")
STUB_ACTIONS = (
    ("fail_payment", "Simulate a failed payment"),
    ("pay", "Simulate a successful payment"),
    ("cancel", "Cancel subscription"),
)
_STATUS_FOR_ACTION = {
    "fail_payment": SubscriptionStatus.PAST_DUE,
    "pay": SubscriptionStatus.ACTIVE,
    "cancel": SubscriptionStatus.CANCELED,
}


@frozen
class PlanForm:
    plan: str = ""


@frozen
class PortalForm:
    subscription: str
    action: str
    return_url: str = ""


CHECKOUT_NOTICES = {
    "success": "Thank you: the payment went through. The plan changes as soon as the "
    "provider confirms it.",
    "cancelled": "Checkout cancelled: nothing was charged.",
}


@get("/workspaces/{workspace_id:str}/billing", include_in_schema=False)
async def billing_page(
    request: Request[Any, Any, Any],
    workspace_id: FromPath[str],
    request_tx: NamedDependency[Tx],
    services: NamedDependency[Services],
    checkout: FromQuery[str | None] = None,
) -> Template:
    auth = await signed_in(request, request_tx)
    context = await workspace_context(request_tx, auth, workspace_id)
    view = await billing.billing_status(auth.acting(request_tx), workspace_id)
    live = view.subscription_id is not None and view.status is not None and view.status.is_live
    context |= {
        "view": view,
        "live": live,
        "paid_plans": [p for p in services.billing_policy.plans if not p.is_free],
        "notice": CHECKOUT_NOTICES.get(checkout or ""),
    }
    return render(request, "billing.html", context, auth=auth)


@post("/workspaces/{workspace_id:str}/billing/checkout", include_in_schema=False)
async def checkout_submit(
    request: Request[Any, Any, Any],
    workspace_id: FromPath[str],
    data: URLEncodedBody[PlanForm],
) -> Redirect:
    ctx = await signed_in_briefly(request, form=True)
    start = await billing.start_checkout(ctx, workspace_id, plan=data.plan)
    return Redirect(start.url, status_code=303)


@post("/workspaces/{workspace_id:str}/billing/portal", include_in_schema=False)
async def portal_submit(
    request: Request[Any, Any, Any],
    workspace_id: FromPath[str],
) -> Redirect:
    ctx = await signed_in_briefly(request, form=True)
    url = await billing.open_portal(ctx, workspace_id)
    return Redirect(url, status_code=303)


# ---------------------------------------------------------------- the stub provider's pages


def _stub(services: Services) -> InMemoryBillingGateway:
    if services.billing_stub is None:
        raise NotFound("the billing stub is not in use")
    return services.billing_stub


def _local(services: Services, url: str) -> str:
    """``url`` if it points back into this app (no open redirect), else the home page."""
    base = services.settings.base_url
    return url if url == base or url.startswith(f"{base}/") else f"{base}/"


async def adopt_stored_subscriptions(services: Services) -> None:
    """Give the stub the billing records the database holds, so that subscriptions paid for
    before a restart (and the demo's) can be managed in its portal."""
    stub = services.billing_stub
    if stub is None:
        return
    try:
        async with services.reader() as uow:
            records = await uow.subscriptions.list()
    except ExternalServiceError as exc:  # not migrated yet, or down
        log.warning("billing stub starts empty", reason=str(exc))
        return
    for record in records:
        stub.adopt(record)


async def _apply(services: Services, events: list[BillingEvent]) -> None:
    ctx = services.deps.ctx(Actor.system())
    for event in events:
        await billing.receive_event(ctx, event)


@get(f"{STUB_BILLING_PATH}/checkout/{{session_id:str}}", include_in_schema=False)
async def stub_checkout_page(
    request: Request[Any, Any, Any], session_id: FromPath[str], services: NamedDependency[Services]
) -> Template:
    session = _stub(services).checkouts.get(session_id)
    if session is None:
        raise NotFound("no such checkout: start again from the billing page")
    return render(request, "stub_checkout.html", {"session": session}, auth=None)


@post(f"{STUB_BILLING_PATH}/checkout/{{session_id:str}}", include_in_schema=False)
async def stub_checkout_pay(
    session_id: FromPath[str], services: NamedDependency[Services]
) -> Redirect:
    stub = _stub(services)
    await _apply(services, stub.complete_checkout(session_id))  # NotFound for an unknown id
    return Redirect(_local(services, stub.checkouts[session_id]["success_url"]), status_code=303)


async def _portal_owner(
    request: Request[Any, Any, Any], services: Services, customer_id: str, *, form: bool
) -> Authenticated:
    """The signed-in owner of the customer's workspace: unlike Stripe's, the stub's portal
    address (the customer id) is not a secret."""
    async with services.deps.transaction(Actor(user_id=None), write=False) as tx:
        auth = await signed_in(request, tx, form=form)
        record = await tx.uow.subscriptions.get_by_customer(customer_id)
        if record is None:
            raise NotFound("no such customer: open the portal from the billing page")
        await require_role(auth.acting(tx), record.workspace_id, Role.OWNER)
    return auth


@get(f"{STUB_BILLING_PATH}/portal/{{customer_id:str}}", include_in_schema=False)
async def stub_portal_page(
    request: Request[Any, Any, Any],
    customer_id: FromPath[str],
    services: NamedDependency[Services],
    return_url: FromQuery[str] = "",
) -> Template:
    stub = _stub(services)
    owner = await _portal_owner(request, services, customer_id, form=False)
    context = {
        "customer_id": customer_id,
        "subscriptions": [s for s in stub.subscriptions.values() if s["customer"] == customer_id],
        "actions": STUB_ACTIONS,
        "return_url": _local(services, return_url),
        "csrf_token": owner.csrf_token,
    }
    return render(request, "stub_portal.html", context, auth=owner)


@post(f"{STUB_BILLING_PATH}/portal/{{customer_id:str}}", include_in_schema=False)
async def stub_portal_act(
    request: Request[Any, Any, Any],
    customer_id: FromPath[str],
    data: URLEncodedBody[PortalForm],
    services: NamedDependency[Services],
) -> Redirect:
    stub = _stub(services)
    await _portal_owner(request, services, customer_id, form=True)
    subscription = stub.subscriptions.get(data.subscription)
    status = _STATUS_FOR_ACTION.get(data.action)
    if subscription is None or subscription["customer"] != customer_id or status is None:
        raise NotFound("nothing to change: open the portal from the billing page")
    await _apply(services, stub.set_status(data.subscription, status))
    back = urlencode({"return_url": _local(services, data.return_url)})
    return Redirect(f"{STUB_BILLING_PATH}/portal/{customer_id}?{back}", status_code=303)


BILLING_PAGES = [billing_page, checkout_submit, portal_submit]
STUB_PAGES = [stub_checkout_page, stub_checkout_pay, stub_portal_page, stub_portal_act]
