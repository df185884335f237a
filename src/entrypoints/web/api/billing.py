"""Billing over HTTP: a workspace's plan, checkout and portal (owners), the Stripe webhook.

The routes that call the billing provider authenticate in a short transaction of their own
and hold none while the provider answers: a slow Stripe never keeps a database lock.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody

from entrypoints.bootstrap import Services
from entrypoints.web.api.responses import ANY, BODY, IN_WORKSPACE, problems
from entrypoints.web.api.schemas import BillingOut, CheckoutIn, PlanOut, RedirectOut, WebhookOut
from entrypoints.web.auth import CSRF_EXEMPT_OPT
from entrypoints.web.clientip import rate_key
from entrypoints.web.deps import actor_of
from entrypoints.web.ratelimits import EXEMPT_OPT, enforce
from saascore import billing
from saascore.context import Ctx, Tx

WorkspaceId = FromPath[str]


class BillingController(Controller):
    path = "/api/workspaces/{workspace_id:str}/billing"
    tags = ["billing"]

    @get(
        "/",
        summary="The plan, its status and the seats (any member)",
        responses=problems(ANY, IN_WORKSPACE),
    )
    async def status(
        self,
        workspace_id: WorkspaceId,
        tx: NamedDependency[Tx],
        services: NamedDependency[Services],
    ) -> BillingOut:
        view = await billing.billing_status(tx, workspace_id)
        return BillingOut.of(view)

    @post(
        "/checkout",
        status_code=200,
        summary="Start paying for a plan (owners); the portal if a subscription is live",
        responses=problems(ANY, BODY, IN_WORKSPACE, 501),
    )
    async def checkout(
        self,
        workspace_id: WorkspaceId,
        data: JSONBody[CheckoutIn],
        ctx: NamedDependency[Ctx],
    ) -> RedirectOut:
        start = await billing.start_checkout(ctx, workspace_id, plan=data.plan)
        return RedirectOut(start.url, start.kind)

    @post(
        "/portal",
        status_code=200,
        summary="Manage the subscription in the portal (owners)",
        responses=problems(ANY, IN_WORKSPACE, 501),
    )
    async def portal(
        self,
        workspace_id: WorkspaceId,
        ctx: NamedDependency[Ctx],
    ) -> RedirectOut:
        url = await billing.open_portal(ctx, workspace_id)
        return RedirectOut(url, "portal")


@get(
    "/api/billing/plans",
    tags=["billing"],
    summary="The plans on offer",
    responses=problems(429),
)
async def plans(services: NamedDependency[Services]) -> list[PlanOut]:
    return [PlanOut.of(p) for p in services.billing_policy.plans]


@post(
    "/api/billing/webhook",
    tags=["billing"],
    status_code=200,
    summary="Stripe's webhook: verified, recorded once, applied in order",
    opt={CSRF_EXEMPT_OPT: True, EXEMPT_OPT: True},
    responses=problems(ANY, 400),
)
async def webhook(
    request: Request[Any, Any, Any], services: NamedDependency[Services]
) -> WebhookOut:
    """400 for a bad or stale signature; 200 for an event applied, a duplicate, or a type
    saascore does not use; 5xx when applying failed, so Stripe delivers it again."""
    await enforce(
        services,
        services.policies.webhook_per_ip,
        rate_key(request.scope, services.settings.trusted_networks),
    )
    payload = await request.body()
    event = services.billing.parse_webhook(payload, request.headers.get("stripe-signature"))
    # The system delivers it, from the webhook request's address and with its id.
    outcome = await billing.receive_event(
        services.deps.ctx(actor_of(request, services, None)), event
    )
    return WebhookOut(event.id, str(outcome) if outcome else "duplicate")
