"""Plans, entitlement and seats: what a workspace's subscription gives it."""

from __future__ import annotations

from datetime import datetime

from saascore.context import Tx
from saascore.errors import SeatLimit
from saascore.models import BillingView, InviteStatus, Plan, Role, Subscription, SubscriptionStatus
from saascore.policies import BillingPolicy
from saascore.workspaces import require_role

ENTITLING = frozenset({SubscriptionStatus.TRIALING, SubscriptionStatus.ACTIVE})


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


async def seats_used(tx: Tx, workspace_id: str) -> tuple[int, int]:
    """Members, and invites still pending (not expired)."""
    now = tx.now()
    members = len(await tx.uow.memberships.list_members(workspace_id))
    invites = await tx.uow.invites.list_pending(workspace_id)
    live = sum(1 for i in invites if i.state_at(now) is InviteStatus.PENDING)
    return members, live


async def ensure_seat(tx: Tx, workspace_id: str, *, count_invites: bool) -> None:
    """Raise ``SeatLimit`` unless the plan has room for one more person.

    Inviting counts members and live invites (every invite may be accepted); accepting
    counts members only, since the invite being accepted is already one of the invites.
    """
    plan = plan_of(await tx.uow.subscriptions.get(workspace_id), tx.deps.plans, tx.now())
    if plan.seat_limit is None:
        return
    members, invites = await seats_used(tx, workspace_id)
    taken = members + (invites if count_invites else 0)
    if taken + 1 > plan.seat_limit:
        raise SeatLimit(
            f"the {plan.name} plan has {plan.seat_limit} seats and {taken} are taken "
            f"({members} members, {invites} pending invites): upgrade the plan or free a seat"
        )


async def billing_status(tx: Tx, workspace_id: str) -> BillingView:
    """The workspace's plan, status and seats (any member)."""
    await require_role(tx, workspace_id, Role.MEMBER)
    policy, now = tx.deps.plans, tx.now()
    sub = await tx.uow.subscriptions.get(workspace_id)
    plan = plan_of(sub, policy, now)
    members, _ = await seats_used(tx, workspace_id)
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
