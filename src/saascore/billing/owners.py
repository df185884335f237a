"""What owners do with billing: checkout and the provider's portal. Each calls the
provider with no transaction open, between short transactions of its own (a ``Ctx`` use
case). Deleting a workspace, which cancels its subscription first, is
``saascore.workspaces.delete_workspace``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from saascore.context import Ctx
from saascore.errors import NotFound
from saascore.models import CheckoutStart, Role, Subscription
from saascore.workspaces import require_role, workspace_or_not_found


async def start_checkout(ctx: Ctx, workspace_id: str, *, plan: str) -> CheckoutStart:
    """Send the owner to pay for ``plan``; to the portal when a subscription is live."""
    gateway, policy = ctx.deps.billing, ctx.deps.plans
    async with ctx.read() as tx:
        await require_role(tx, workspace_id, Role.OWNER)
        chosen = policy.paid(plan)
        workspace = await workspace_or_not_found(tx, workspace_id)
        sub = await tx.uow.subscriptions.get(workspace_id)
        user_id = ctx.actor.user_id
        owner = await tx.uow.users.get(user_id) if user_id else None
    return_url = policy.billing_url(workspace_id)
    if sub is not None and sub.is_live:
        url = await gateway.open_portal(customer_id=sub.customer_id, return_url=return_url)
        await _audit(ctx, "billing.portal_opened", workspace_id, {})
        return CheckoutStart(url=url, kind="portal")
    if sub is None:
        customer_id = await gateway.create_customer(
            workspace_id=workspace_id,
            name=workspace.name,
            email=owner.email if owner else "",
            idempotency_key=f"customer-{workspace_id}",
        )
        sub = await _keep_customer(ctx, workspace_id, customer_id)
    url = await gateway.start_checkout(
        customer_id=sub.customer_id,
        workspace_id=workspace_id,
        price_id=chosen.price_id or "",
        success_url=f"{return_url}?checkout=success",
        cancel_url=f"{return_url}?checkout=cancelled",
        idempotency_key=f"checkout-{workspace_id}-{ctx.deps.ids.new()}",
    )
    await _audit(ctx, "billing.checkout_started", workspace_id, {"plan": chosen.name})
    return CheckoutStart(url=url, kind="checkout")


async def _keep_customer(ctx: Ctx, workspace_id: str, customer: str) -> Subscription:
    """Store the new customer, unless a concurrent request stored one first (the same one:
    the idempotency key makes the provider answer both requests with one customer)."""
    async with ctx.write() as tx:
        await tx.uow.workspaces.lock(workspace_id)
        existing = await tx.uow.subscriptions.get(workspace_id)
        if existing is not None:
            return existing
        sub = Subscription(workspace_id=workspace_id, customer_id=customer, updated_at=tx.now())
        await tx.uow.subscriptions.save(sub)
        await tx.record("billing.customer_created", workspace_id=workspace_id, target=customer)
        return sub


async def owners_record(ctx: Ctx, workspace_id: str) -> Subscription | None:
    """The workspace's billing record, read in a transaction that ends before the provider
    is called; ``NotFound`` for outsiders, ``PermissionDenied`` for anyone but owners."""
    async with ctx.read() as tx:
        await require_role(tx, workspace_id, Role.OWNER)
        return await tx.uow.subscriptions.get(workspace_id)


async def open_portal(ctx: Ctx, workspace_id: str) -> str:
    """The provider's self-service portal for the workspace's customer (owners)."""
    sub = await owners_record(ctx, workspace_id)
    if sub is None:
        raise NotFound("this workspace has no billing account yet: choose a plan first")
    url = await ctx.deps.billing.open_portal(
        customer_id=sub.customer_id, return_url=ctx.deps.plans.billing_url(workspace_id)
    )
    await _audit(ctx, "billing.portal_opened", workspace_id, {})
    return url


async def _audit(ctx: Ctx, action: str, workspace_id: str, data: Mapping[str, Any]) -> None:
    async with ctx.write() as tx:
        await tx.record(action, workspace_id=workspace_id, data=data)
