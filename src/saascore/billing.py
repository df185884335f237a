"""Use cases for subscription billing.

Rules:
- plans come from configuration; a workspace with no subscription, or one that does not
  entitle, is on the free plan. Trialing and active entitle; past_due keeps the plan for a
  grace period counted from when it fell past due; every other status does not;
- seat limits are enforced where seats are taken: inviting (members plus live invites) and
  accepting (members);
- only owners start a checkout or open the portal; a workspace with a live subscription is
  sent to the portal instead of a second checkout; deleting a workspace cancels first;
- every provider event is recorded once in the ledger, so a duplicate changes nothing; the
  subscription is re-fetched from the provider before it is stored when the provider
  answers, and an event older than the last one applied never rolls the record back; a
  canceled subscription never comes back to life;
- the provider is never called inside a database transaction: a slow provider holds no lock;
- every billing change is an audit event; a failed payment emails the owners.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from attrs import evolve, frozen

from saascore import workspaces
from saascore.audit import record
from saascore.emails import payment_failed_email
from saascore.errors import BillingUnavailable, NotFound, SeatLimit
from saascore.models import (
    Actor,
    BillingEvent,
    BillingView,
    CheckoutStart,
    InviteStatus,
    LedgerEntry,
    LedgerOutcome,
    Plan,
    Role,
    Subscription,
    SubscriptionSnapshot,
    SubscriptionStatus,
)
from saascore.outbox import enqueue
from saascore.policies import BillingPolicy
from saascore.ports import BillingGateway, Clock, Ids, UnitOfWork, UnitOfWorkFactory
from saascore.workspaces import require_role, workspace_or_not_found

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
ENTITLING = frozenset({SubscriptionStatus.TRIALING, SubscriptionStatus.ACTIVE})


# ---------------------------------------------------------------- entitlement and seats


def grace_ends_at(subscription: Subscription, policy: BillingPolicy) -> datetime | None:
    if subscription.status is SubscriptionStatus.PAST_DUE and subscription.past_due_since:
        return subscription.past_due_since + policy.past_due_grace
    return None


def is_entitled(subscription: Subscription | None, policy: BillingPolicy, now: datetime) -> bool:
    """Whether the subscription grants its plan at ``now``, from its raw status."""
    if subscription is None or subscription.status is None:
        return False
    if subscription.status in ENTITLING:
        return True
    grace_end = grace_ends_at(subscription, policy)
    return grace_end is not None and now < grace_end


def plan_of(subscription: Subscription | None, policy: BillingPolicy, now: datetime) -> Plan:
    """The plan the workspace may use now: its subscription's while that entitles (an
    unknown price counts as free), otherwise the free plan."""
    if subscription is None or not is_entitled(subscription, policy, now):
        return policy.free
    return policy.for_price(subscription.price_id) or policy.free


async def seats_used(uow: UnitOfWork, workspace_id: str, now: datetime) -> tuple[int, int]:
    """(members, live pending invites)."""
    members = len(await uow.memberships.list_members(workspace_id))
    invites = await uow.invites.list_pending(workspace_id)
    live = sum(1 for i in invites if i.state_at(now) is InviteStatus.PENDING)
    return members, live


async def ensure_seat(
    uow: UnitOfWork,
    policy: BillingPolicy,
    now: datetime,
    workspace_id: str,
    *,
    count_invites: bool,
) -> None:
    """Raise ``SeatLimit`` unless the plan has room for one more person.

    Inviting counts members and live invites (every invite may be accepted); accepting
    counts members only, since the invite being accepted is already one of the invites.
    """
    plan = plan_of(await uow.subscriptions.get(workspace_id), policy, now)
    if plan.seat_limit is None:
        return
    members, invites = await seats_used(uow, workspace_id, now)
    taken = members + (invites if count_invites else 0)
    if taken + 1 > plan.seat_limit:
        raise SeatLimit(
            f"the {plan.name} plan has {plan.seat_limit} seats and {taken} are taken "
            f"({members} members, {invites} pending invites): upgrade the plan or free a seat"
        )


async def billing_status(
    uow: UnitOfWork, clock: Clock, policy: BillingPolicy, actor: Actor, workspace_id: str
) -> BillingView:
    """The workspace's plan, status and seats (any member)."""
    await require_role(uow, actor, workspace_id, Role.MEMBER)
    return await _view(uow, policy, clock.now(), workspace_id)


async def _view(
    uow: UnitOfWork, policy: BillingPolicy, now: datetime, workspace_id: str
) -> BillingView:
    sub = await uow.subscriptions.get(workspace_id)
    plan = plan_of(sub, policy, now)
    members, _ = await seats_used(uow, workspace_id, now)
    return BillingView(
        workspace_id=workspace_id,
        plan=plan,
        status=sub.status if sub else None,
        entitled=is_entitled(sub, policy, now),
        seats_used=members,
        seat_limit=plan.seat_limit,
        current_period_end=sub.current_period_end if sub else None,
        cancel_at_period_end=sub.cancel_at_period_end if sub else False,
        collection_paused=sub.collection_paused if sub else False,
        grace_ends_at=grace_ends_at(sub, policy) if sub else None,
        customer_id=sub.customer_id if sub else None,
        subscription_id=sub.subscription_id if sub else None,
    )


# ---------------------------------------------------------------- owners: checkout and portal


async def start_checkout(
    uows: UnitOfWorkFactory,
    clock: Clock,
    ids: Ids,
    policy: BillingPolicy,
    gateway: BillingGateway,
    actor: Actor,
    workspace_id: str,
    *,
    plan: str,
) -> CheckoutStart:
    """Send the owner to pay for ``plan``; to the portal when a subscription is live."""
    async with uows() as uow:
        await require_role(uow, actor, workspace_id, Role.OWNER)
        chosen = policy.paid(plan)
        workspace = await workspace_or_not_found(uow, workspace_id)
        sub = await uow.subscriptions.get(workspace_id)
        owner = await uow.users.get(actor.user_id) if actor.user_id else None
    return_url = policy.billing_url(workspace_id)
    if sub is not None and sub.is_live:
        url = await gateway.open_portal(customer_id=sub.customer_id, return_url=return_url)
        await _audit(uows, clock, ids, actor, "billing.portal_opened", workspace_id, {})
        return CheckoutStart(url=url, kind="portal")
    if sub is None:
        customer_id = await gateway.create_customer(
            workspace_id=workspace_id,
            name=workspace.name,
            email=owner.email if owner else "",
            idempotency_key=f"customer-{workspace_id}",
        )
        sub = await _keep_customer(uows, clock, ids, actor, workspace_id, customer_id)
    url = await gateway.start_checkout(
        customer_id=sub.customer_id,
        workspace_id=workspace_id,
        price_id=chosen.price_id or "",
        success_url=f"{return_url}?checkout=success",
        cancel_url=f"{return_url}?checkout=cancelled",
        idempotency_key=f"checkout-{workspace_id}-{ids.new()}",
    )
    await _audit(
        uows, clock, ids, actor, "billing.checkout_started", workspace_id, {"plan": chosen.name}
    )
    return CheckoutStart(url=url, kind="checkout")


async def _keep_customer(
    uows: UnitOfWorkFactory, clock: Clock, ids: Ids, actor: Actor, workspace_id: str, customer: str
) -> Subscription:
    """Store the new customer, unless a concurrent request stored one first (the same one:
    the idempotency key makes the provider answer both requests with one customer)."""
    async with uows() as uow:
        await uow.workspaces.lock(workspace_id)
        existing = await uow.subscriptions.get(workspace_id)
        if existing is not None:
            return existing
        sub = Subscription(workspace_id=workspace_id, customer_id=customer, updated_at=clock.now())
        await uow.subscriptions.save(sub)
        await record(
            uow,
            clock,
            ids,
            actor,
            "billing.customer_created",
            workspace_id=workspace_id,
            target=customer,
        )
        await uow.commit()
        return sub


async def _owners_record(
    uows: UnitOfWorkFactory, actor: Actor, workspace_id: str
) -> Subscription | None:
    """The workspace's billing record, read in a transaction that ends before the provider
    is called; ``NotFound`` for outsiders, ``PermissionDenied`` for anyone but owners."""
    async with uows() as uow:
        await require_role(uow, actor, workspace_id, Role.OWNER)
        return await uow.subscriptions.get(workspace_id)


async def open_portal(
    uows: UnitOfWorkFactory,
    clock: Clock,
    ids: Ids,
    policy: BillingPolicy,
    gateway: BillingGateway,
    actor: Actor,
    workspace_id: str,
) -> str:
    """The provider's self-service portal for the workspace's customer (owners)."""
    sub = await _owners_record(uows, actor, workspace_id)
    if sub is None:
        raise NotFound("this workspace has no billing account yet: choose a plan first")
    url = await gateway.open_portal(
        customer_id=sub.customer_id, return_url=policy.billing_url(workspace_id)
    )
    await _audit(uows, clock, ids, actor, "billing.portal_opened", workspace_id, {})
    return url


async def _audit(
    uows: UnitOfWorkFactory,
    clock: Clock,
    ids: Ids,
    actor: Actor,
    action: str,
    workspace_id: str,
    data: Mapping[str, Any],
) -> None:
    async with uows() as uow:
        await record(uow, clock, ids, actor, action, workspace_id=workspace_id, data=data)
        await uow.commit()


# ---------------------------------------------------------------- provider events


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
    uow: UnitOfWork, event: BillingEvent, fresh: SubscriptionSnapshot | None
) -> str | None:
    """The workspace an event belongs to: by its subscription, its customer, or the id the
    checkout or the subscription's metadata carries."""
    if event.subscription_id:
        sub = await uow.subscriptions.get_by_subscription(event.subscription_id)
        if sub is not None:
            return sub.workspace_id
    if event.customer_id:
        sub = await uow.subscriptions.get_by_customer(event.customer_id)
        if sub is not None:
            return sub.workspace_id
    candidate = event.workspace_id or (fresh.workspace_id if fresh else None)
    if candidate and await uow.workspaces.get(candidate) is not None:
        return candidate
    return None


async def apply_event(
    uow: UnitOfWork,
    clock: Clock,
    ids: Ids,
    policy: BillingPolicy,
    event: BillingEvent,
    fresh: SubscriptionSnapshot | None = None,
    *,
    actor: Actor | None = None,
) -> LedgerOutcome | None:
    """Apply one provider event in ``uow``'s transaction; ``None`` for a duplicate (nothing
    written). ``fresh`` is the subscription as re-fetched from the provider, if it was;
    ``actor`` is who delivered it (the system, with the webhook request's id and address)."""
    now = clock.now()
    workspace_id = await _workspace_for(uow, event, fresh)
    if workspace_id is not None:
        await uow.workspaces.lock(workspace_id)  # one event at a time per workspace
    current = await uow.subscriptions.get(workspace_id) if workspace_id else None
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
    if not await uow.billing_ledger.record(entry):
        return None
    if outcome is not LedgerOutcome.APPLIED or workspace_id is None:
        return outcome
    actor = actor or Actor.system()
    if updated is not None:
        diff = changes(current, updated)
        await uow.subscriptions.save(updated)
        if diff:
            await record(
                uow,
                clock,
                ids,
                actor,
                "billing.subscription_updated",
                workspace_id=workspace_id,
                target=updated.subscription_id,
                data={"event": event.id, "type": event.type, "changes": diff},
            )
    if event.type == "invoice.paid":
        await record(
            uow,
            clock,
            ids,
            actor,
            "billing.invoice_paid",
            workspace_id=workspace_id,
            target=event.subscription_id,
            data={"event": event.id},
        )
    elif event.type == "invoice.payment_failed":
        await _payment_failed(
            uow, clock, ids, policy, actor, event, workspace_id, updated or current
        )
    return outcome


async def _payment_failed(
    uow: UnitOfWork,
    clock: Clock,
    ids: Ids,
    policy: BillingPolicy,
    actor: Actor,
    event: BillingEvent,
    workspace_id: str,
    sub: Subscription | None,
) -> None:
    await record(
        uow,
        clock,
        ids,
        actor,
        "billing.payment_failed",
        workspace_id=workspace_id,
        target=event.subscription_id,
        data={"event": event.id},
    )
    workspace = await workspace_or_not_found(uow, workspace_id)
    paid_plan = policy.for_price(sub.price_id if sub else None)
    since = (sub.past_due_since if sub else None) or event.created_at
    grace_end = (since + policy.past_due_grace).strftime("%d %B %Y")
    for member in await uow.memberships.list_members(workspace_id):
        if member.membership.role is Role.OWNER:
            await enqueue(
                uow,
                clock,
                ids,
                payment_failed_email(
                    member.user.email,
                    workspace.name,
                    paid_plan.name if paid_plan else "paid",
                    grace_end,
                    policy.billing_url(workspace_id),
                ),
            )


async def receive_event(
    uows: UnitOfWorkFactory,
    clock: Clock,
    ids: Ids,
    policy: BillingPolicy,
    gateway: BillingGateway,
    event: BillingEvent,
    *,
    actor: Actor | None = None,
) -> LedgerOutcome | None:
    """Handle a verified provider event: re-fetch its subscription (outside any transaction;
    the event's own copy is used when the provider does not answer), then apply it once.
    ``None`` means the event was a duplicate. Raises when applying fails, so the provider
    retries; nothing of a failed attempt is kept."""
    async with uows() as uow:
        if await uow.billing_ledger.get(event.id) is not None:
            return None
    fresh = None
    if event.type in HANDLED_EVENTS and event.subscription_id:
        try:
            # Bounded: Stripe waits only so long for the webhook's answer, and the event's
            # own copy is a fine fallback.
            async with asyncio.timeout(policy.refetch_timeout.total_seconds()):
                fresh = await gateway.fetch_subscription(event.subscription_id)
        except (BillingUnavailable, TimeoutError):
            fresh = None
    async with uows() as uow:
        outcome = await apply_event(uow, clock, ids, policy, event, fresh, actor=actor)
        await uow.commit()
    return outcome


# ---------------------------------------------------------------- operators: sync, replay, pause


@frozen
class SyncResult:
    workspace_id: str
    subscription_id: str | None
    changes: Mapping[str, list[Any]]
    missing: bool = False  # the provider knows no such subscription: left as it was


async def sync_subscription(
    uows: UnitOfWorkFactory,
    clock: Clock,
    ids: Ids,
    gateway: BillingGateway,
    actor: Actor,
    workspace_id: str,
) -> SyncResult:
    """Make the workspace's record match the provider's subscription, whatever the record
    says now, and audit what changed."""
    sub = await _owners_record(uows, actor, workspace_id)
    if sub is None or sub.subscription_id is None:
        return SyncResult(workspace_id, None, {})
    snapshot = await gateway.fetch_subscription(sub.subscription_id)
    if snapshot is None:
        return SyncResult(workspace_id, sub.subscription_id, {}, missing=True)
    async with uows() as uow:
        await uow.workspaces.lock(workspace_id)
        current = await uow.subscriptions.get(workspace_id)
        now = clock.now()
        repaired = merge(None, workspace_id, snapshot, now, fresh=True, now=now)
        assert repaired is not None
        if current is not None and current.subscription_id == snapshot.subscription_id:
            kept = current.past_due_since if repaired.past_due_since else None
            repaired = evolve(repaired, past_due_since=kept or repaired.past_due_since)
            repaired = evolve(repaired, event_at=current.event_at or now)
        diff = changes(current, repaired)
        if diff:
            await uow.subscriptions.save(repaired)
            await record(
                uow,
                clock,
                ids,
                actor,
                "billing.subscription_synced",
                workspace_id=workspace_id,
                target=snapshot.subscription_id,
                data={"changes": diff},
            )
            await uow.commit()
    return SyncResult(workspace_id, snapshot.subscription_id, diff)


async def sync_all(
    uows: UnitOfWorkFactory, clock: Clock, ids: Ids, gateway: BillingGateway, actor: Actor
) -> list[SyncResult]:
    async with uows() as uow:
        records = await uow.subscriptions.list()
    return [
        await sync_subscription(uows, clock, ids, gateway, actor, r.workspace_id)
        for r in records
        if r.subscription_id
    ]


@frozen
class Replayed:
    event: BillingEvent
    outcome: LedgerOutcome | None  # None: already handled before


async def replay_events(
    uows: UnitOfWorkFactory,
    clock: Clock,
    ids: Ids,
    policy: BillingPolicy,
    gateway: BillingGateway,
    *,
    since: datetime | None = None,
    event_id: str | None = None,
) -> list[Replayed]:
    """Apply the provider's events that never reached the webhook (ones already in the
    ledger are skipped), oldest first."""
    if event_id is not None:
        event = await gateway.get_event(event_id)
        if event is None:
            raise NotFound(f"the billing provider has no event {event_id}")
        events: Sequence[BillingEvent] = [event]
    else:
        events = await gateway.list_events(since=since, limit=REPLAY_LIMIT)
    return [Replayed(e, await receive_event(uows, clock, ids, policy, gateway, e)) for e in events]


async def set_collection(
    uows: UnitOfWorkFactory,
    clock: Clock,
    ids: Ids,
    gateway: BillingGateway,
    actor: Actor,
    workspace_id: str,
    *,
    paused: bool,
) -> Subscription:
    """Pause or resume collecting payments for the workspace's subscription (owners)."""
    sub = await _owners_record(uows, actor, workspace_id)
    if sub is None or not sub.is_live or sub.subscription_id is None:
        raise NotFound("this workspace has no live subscription")
    call = gateway.pause_collection if paused else gateway.resume_collection
    snapshot = await call(sub.subscription_id)
    if snapshot is None:
        raise NotFound("the billing provider knows no such subscription: run billing sync")
    async with uows() as uow:
        await uow.workspaces.lock(workspace_id)
        current = await uow.subscriptions.get(workspace_id)
        now = clock.now()
        updated = merge(current, workspace_id, snapshot, now, fresh=True, now=now) or sub
        await uow.subscriptions.save(updated)
        action = "billing.collection_paused" if paused else "billing.collection_resumed"
        await record(
            uow,
            clock,
            ids,
            actor,
            action,
            workspace_id=workspace_id,
            target=sub.subscription_id,
            data={"changes": changes(current, updated)},
        )
        await uow.commit()
    return updated


async def delete_workspace(
    uows: UnitOfWorkFactory,
    clock: Clock,
    ids: Ids,
    gateway: BillingGateway,
    actor: Actor,
    workspace_id: str,
) -> None:
    """Delete a workspace (owners), canceling its live subscription first. If the provider
    cannot be reached this raises ``BillingUnavailable`` and nothing is deleted: a workspace
    is never gone while its customer is still being charged."""
    sub = await _owners_record(uows, actor, workspace_id)
    live = sub.subscription_id if sub is not None and sub.is_live else None
    at_provider = await gateway.cancel(live) if live else None
    async with uows() as uow:
        if live:
            await record(
                uow,
                clock,
                ids,
                actor,
                "billing.subscription_canceled",
                workspace_id=workspace_id,
                target=live,
                data={
                    "reason": "workspace deleted",
                    "provider": "canceled" if at_provider else "unknown to the provider",
                },
            )
        await workspaces.delete_workspace(uow, clock, ids, actor, workspace_id)
        await uow.commit()
