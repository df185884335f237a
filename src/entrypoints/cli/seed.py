"""Demo data: deterministic and idempotent.

``founder@example.com`` owns "Acme Inc", "Demo Studio" and "Initech"; teammates hold admin
and member roles, and one of them belongs to Demo Studio only; two invites are pending (one
of them expired), and every change is in the audit trail. Billing is offline and mixed:
Acme Inc is on the free plan (upgrade it through the stub checkout), Demo Studio pays for
Pro, and Initech's Pro payment has failed (past due, in its grace period). Running the seed
again adds nothing: every row is looked up first, and ids come from a fixed namespace.
"""

from __future__ import annotations

from datetime import timedelta

from attrs import frozen

from adapters.clock import SequentialIds
from saascore.auth import hash_token, new_token
from saascore.context import Tx
from saascore.models import Actor, Invite, Role, Subscription, SubscriptionStatus
from saascore.users import register_user
from saascore.workspaces import add_member, create_workspace, slugify

FOUNDER = "founder@example.com"

USERS: tuple[tuple[str, str], ...] = (
    (FOUNDER, "Frances Founder"),
    ("ada@example.com", "Ada Admin"),
    ("max@example.com", "Max Member"),
    ("dana@example.com", "Dana Designer"),
)

# Workspace name -> the founder's teammates in it, with their roles.
WORKSPACES: tuple[tuple[str, tuple[tuple[str, Role], ...]], ...] = (
    ("Acme Inc", (("ada@example.com", Role.ADMIN), ("max@example.com", Role.MEMBER))),
    ("Demo Studio", (("dana@example.com", Role.MEMBER),)),
    ("Initech", (("max@example.com", Role.MEMBER),)),
)

# Billing: workspace -> (status, price id, days the payment has been past due).
SUBSCRIPTIONS: tuple[tuple[str, SubscriptionStatus, str, int], ...] = (
    ("Demo Studio", SubscriptionStatus.ACTIVE, "price_pro_monthly", 0),
    ("Initech", SubscriptionStatus.PAST_DUE, "price_pro_monthly", 2),
)


# Pending invites: (workspace, email, role, age in days). The second has expired.
INVITES: tuple[tuple[str, str, Role, int], ...] = (
    ("Acme Inc", "guest@example.com", Role.MEMBER, 1),
    ("Demo Studio", "late@example.com", Role.ADMIN, 10),
)
INVITE_TTL = timedelta(days=7)


@frozen
class SeedReport:
    users: int
    workspaces: int
    memberships: int
    invites: int = 0
    subscriptions: int = 0

    @property
    def created_anything(self) -> bool:
        return bool(
            self.users or self.workspaces or self.memberships or self.invites or self.subscriptions
        )


async def seed_demo_data(tx: Tx, *, offline_billing: bool = True) -> SeedReport:
    """Create whatever part of the demo data is missing, in ``tx``, as the system.

    The billing states are made up, so they are only seeded for an offline billing backend:
    Stripe would know none of their customers and subscriptions."""
    tx = tx.as_actor(Actor.system())
    uow = tx.uow
    user_ids: dict[str, str] = {}
    new_users = new_workspaces = new_members = 0
    for email, name in USERS:
        user = await uow.users.get_by_email(email)
        if user is None:
            seeding = tx.with_ids(SequentialIds(f"seed/user/{email}"))
            user = await register_user(seeding, email=email, name=name)
            new_users += 1
        user_ids[email] = user.id
    for name, teammates in WORKSPACES:
        workspace = await uow.workspaces.get_by_slug(slugify(name))
        if workspace is None:
            seeding = tx.with_ids(SequentialIds(f"seed/workspace/{name}"))
            workspace = await create_workspace(seeding, name=name, owner_id=user_ids[FOUNDER])
            new_workspaces += 1
        for email, role in teammates:
            if await uow.memberships.get(workspace.id, user_ids[email]) is None:
                seeding = tx.with_ids(SequentialIds(f"seed/workspace/{name}/member/{email}"))
                await add_member(seeding, workspace.id, user_id=user_ids[email], role=role)
                new_members += 1
    new_invites = await _seed_invites(tx, user_ids[FOUNDER])
    new_subscriptions = await _seed_subscriptions(tx) if offline_billing else 0
    return SeedReport(new_users, new_workspaces, new_members, new_invites, new_subscriptions)


async def _seed_subscriptions(tx: Tx) -> int:
    """Billing records as a Stripe webhook would have left them; no provider is called."""
    created, uow = 0, tx.uow
    now = tx.now()
    for name, status, price_id, days_past_due in SUBSCRIPTIONS:
        workspace = await uow.workspaces.get_by_slug(slugify(name))
        if workspace is None or await uow.subscriptions.get(workspace.id) is not None:
            continue
        slug = workspace.slug
        subscription = Subscription(
            workspace_id=workspace.id,
            customer_id=f"cus_demo_{slug}",
            subscription_id=f"sub_demo_{slug}",
            status=status,
            price_id=price_id,
            current_period_end=now + timedelta(days=30 - days_past_due),
            event_at=now,
            past_due_since=now - timedelta(days=days_past_due) if days_past_due else None,
            updated_at=now,
        )
        await uow.subscriptions.save(subscription)
        await tx.with_ids(SequentialIds(f"seed/subscription/{slug}")).record(
            "billing.subscription_updated",
            workspace_id=workspace.id,
            target=subscription.subscription_id,
            data={"seed": True, "changes": {"status": [None, str(status)]}},
        )
        created += 1
    return created


async def _seed_invites(tx: Tx, founder_id: str) -> int:
    """Invites written as rows, not sent: the seed emails nobody. Their tokens are random
    and unknown, so to try one, resend it (`saascore invites resend`) and use the new link."""
    created, uow = 0, tx.uow
    for name, email, role, age_days in INVITES:
        ids = SequentialIds(f"seed/invite/{email}")
        invite_id = ids.new()
        workspace = await uow.workspaces.get_by_slug(slugify(name))
        if workspace is None or await uow.invites.get(invite_id) is not None:
            continue
        sent_at = tx.now() - timedelta(days=age_days)
        await uow.invites.add(
            Invite(
                id=invite_id,
                workspace_id=workspace.id,
                email=email,
                role=role,
                inviter_id=founder_id,
                token_hash=hash_token(new_token()),
                created_at=sent_at,
                expires_at=sent_at + INVITE_TTL,
            )
        )
        await (
            tx.with_ids(ids)
            .as_actor(Actor(user_id=founder_id))
            .record(
                "member.invited",
                workspace_id=workspace.id,
                target=invite_id,
                data={"email": email, "role": str(role)},
            )
        )
        created += 1
    return created
