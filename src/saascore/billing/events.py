"""Provider events: each is recorded once in the ledger and applied at most once, in
order per workspace, never rolling a subscription back or bringing a canceled one back."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from attrs import frozen

from saascore.context import Ctx, Tx
from saascore.emails import payment_failed_email
from saascore.errors import BillingUnavailable, NotFound
from saascore.models import (
    BillingEvent,
    LedgerEntry,
    LedgerOutcome,
    Role,
    Subscription,
    SubscriptionSnapshot,
    SubscriptionStatus,
)
from saascore.workspaces import workspace_or_not_found

# The event types saascore acts on; every other type is recorded and ignored.
SUBSCRIPTION_EVENTS = frozenset(
    {
        "customer.subscription.created",
        "customer.subscription.updated",
        "customer.subscription.deleted",
        "customer.subscription.paused",
        "customer.subscription.resumed",
    }
)
HANDLED_EVENTS = SUBSCRIPTION_EVENTS | {
    "checkout.session.completed",
    "invoice.paid",
    "invoice.payment_failed",
}
REPLAY_LIMIT = 10_000  # events per replay; Stripe keeps 30 days of them


def merge(
    current: Subscription | None,
    workspace_id: str,
    snapshot: SubscriptionSnapshot,
    event_at: datetime,
    *,
    fresh: bool,
    now: datetime,
) -> Subscription | None:
    """The record after ``snapshot`` (as of the event at ``event_at``), or ``None`` when it
    must not be applied: it is older than what was applied, it would bring a canceled
    subscription back, or it would replace a live subscription with a finished one.
    A ``fresh`` snapshot was fetched from the provider just now, so it is never older."""
    if current is not None and current.subscription_id == snapshot.subscription_id:
        if current.status is not None and current.status.is_final and snapshot.status.is_live:
            return None
        if not fresh and current.event_at is not None and event_at < current.event_at:
            return None
    elif current is not None and current.is_live and snapshot.status.is_final:
        return None  # an old subscription's end does not end the workspace's current one
    past_due_since = None
    if snapshot.status is SubscriptionStatus.PAST_DUE:
        same = current is not None and current.subscription_id == snapshot.subscription_id
        kept = current.past_due_since if same and current is not None else None
        past_due_since = kept or event_at
    newest = max(event_at, current.event_at) if current and current.event_at else event_at
    return Subscription(
        workspace_id=workspace_id,
        customer_id=snapshot.customer_id,
        subscription_id=snapshot.subscription_id,
        status=snapshot.status,
        price_id=snapshot.price_id,
        current_period_end=snapshot.current_period_end,
        cancel_at_period_end=snapshot.cancel_at_period_end,
        collection_paused=snapshot.collection_paused,
        event_at=newest,
        past_due_since=past_due_since,
        updated_at=now,
    )


def changes(before: Subscription | None, after: Subscription) -> dict[str, list[Any]]:
    """Field -> [old, new] for what a customer would see change."""
    names = (
        "status",
        "price_id",
        "current_period_end",
        "cancel_at_period_end",
        "collection_paused",
        "subscription_id",
    )
    out: dict[str, list[Any]] = {}
    for name in names:
        old = getattr(before, name) if before is not None else None
        new = getattr(after, name)
        if old != new:
            out[name] = [_plain(old), _plain(new)]
    return out


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, SubscriptionStatus):
        return str(value)
    return value


async def _workspace_for(
    tx: Tx, event: BillingEvent, fresh: SubscriptionSnapshot | None
) -> str | None:
    """The workspace an event belongs to: by its subscription, its customer, or the id the
    checkout or the subscription's metadata carries."""
    if event.subscription_id:
        sub = await tx.uow.subscriptions.get_by_subscription(event.subscription_id)
        if sub is not None:
            return sub.workspace_id
    if event.customer_id:
        sub = await tx.uow.subscriptions.get_by_customer(event.customer_id)
        if sub is not None:
            return sub.workspace_id
    candidate = event.workspace_id or (fresh.workspace_id if fresh else None)
    if candidate and await tx.uow.workspaces.get(candidate) is not None:
        return candidate
    return None


async def apply_event(
    tx: Tx, event: BillingEvent, fresh: SubscriptionSnapshot | None = None
) -> LedgerOutcome | None:
    """Apply one provider event in ``tx``; ``None`` for a duplicate (nothing written).
    ``fresh`` is the subscription as re-fetched from the provider, if it was; the actor is
    who delivered it (the system, with the webhook request's id and address)."""
    now = tx.now()
    workspace_id = await _workspace_for(tx, event, fresh)
    if workspace_id is not None:
        await tx.uow.workspaces.lock(workspace_id)  # one event at a time per workspace
    current = await tx.uow.subscriptions.get(workspace_id) if workspace_id else None
    snapshot = fresh or event.subscription
    updated: Subscription | None = None
    if workspace_id is None or event.type not in HANDLED_EVENTS:
        outcome = LedgerOutcome.IGNORED
    elif snapshot is None:
        outcome = LedgerOutcome.APPLIED  # an invoice without its subscription: audit only
    else:
        updated = merge(
            current, workspace_id, snapshot, event.created_at, fresh=fresh is not None, now=now
        )
        outcome = LedgerOutcome.STALE if updated is None else LedgerOutcome.APPLIED
    entry = LedgerEntry(
        event_id=event.id,
        type=event.type,
        created_at=event.created_at,
        received_at=now,
        outcome=outcome,
        workspace_id=workspace_id,
        subscription_id=event.subscription_id,
    )
    if not await tx.uow.billing_ledger.record(entry):
        return None
    if outcome is not LedgerOutcome.APPLIED or workspace_id is None:
        return outcome
    if updated is not None:
        diff = changes(current, updated)
        await tx.uow.subscriptions.save(updated)
        if diff:
            await tx.record(
                "billing.subscription_updated",
                workspace_id=workspace_id,
                target=updated.subscription_id,
                data={"event": event.id, "type": event.type, "changes": diff},
            )
    if event.type == "invoice.paid":
        await tx.record(
            "billing.invoice_paid",
            workspace_id=workspace_id,
            target=event.subscription_id,
            data={"event": event.id},
        )
    elif event.type == "invoice.payment_failed":
        await _payment_failed(tx, event, workspace_id, updated or current)
    return outcome


async def _payment_failed(
    tx: Tx, event: BillingEvent, workspace_id: str, sub: Subscription | None
) -> None:
    await tx.record(
        "billing.payment_failed",
        workspace_id=workspace_id,
        target=event.subscription_id,
        data={"event": event.id},
    )
    policy = tx.deps.plans
    workspace = await workspace_or_not_found(tx, workspace_id)
    paid_plan = policy.for_price(sub.price_id if sub else None)
    since = (sub.past_due_since if sub else None) or event.created_at
    grace_end = (since + policy.past_due_grace).strftime("%d %B %Y")
    for member in await tx.uow.memberships.list_members(workspace_id):
        if member.membership.role is Role.OWNER:
            await tx.enqueue(
                payment_failed_email(
                    member.user.email,
                    workspace.name,
                    paid_plan.name if paid_plan else "paid",
                    grace_end,
                    policy.billing_url(workspace_id),
                )
            )


async def receive_event(ctx: Ctx, event: BillingEvent) -> LedgerOutcome | None:
    """Handle a verified provider event: re-fetch its subscription (outside any transaction;
    the event's own copy is used when the provider does not answer), then apply it once.
    ``None`` means the event was a duplicate. Raises when applying fails, so the provider
    retries; nothing of a failed attempt is kept."""
    async with ctx.read() as tx:
        if await tx.uow.billing_ledger.get(event.id) is not None:
            return None
    fresh = None
    if event.type in HANDLED_EVENTS and event.subscription_id:
        try:
            # Bounded: Stripe waits only so long for the webhook's answer, and the event's
            # own copy is a fine fallback.
            async with asyncio.timeout(ctx.deps.plans.refetch_timeout.total_seconds()):
                fresh = await ctx.deps.billing.fetch_subscription(event.subscription_id)
        except (BillingUnavailable, TimeoutError):
            fresh = None
    async with ctx.write() as tx:
        return await apply_event(tx, event, fresh)


@frozen
class Replayed:
    event: BillingEvent
    outcome: LedgerOutcome | None  # None: already handled before


async def replay_events(
    ctx: Ctx, *, since: datetime | None = None, event_id: str | None = None
) -> list[Replayed]:
    """Apply the provider's events that never reached the webhook (ones already in the
    ledger are skipped), oldest first."""
    gateway = ctx.deps.billing
    if event_id is not None:
        event = await gateway.get_event(event_id)
        if event is None:
            raise NotFound(f"the billing provider has no event {event_id}")
        events: Sequence[BillingEvent] = [event]
    else:
        events = await gateway.list_events(since=since, limit=REPLAY_LIMIT)
    return [Replayed(e, await receive_event(ctx, e)) for e in events]
