"""What operators do: repair drift from the provider, and pause or resume collection."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from attrs import evolve, frozen

from saascore.billing.events import changes, merge
from saascore.billing.owners import owners_record
from saascore.context import Ctx
from saascore.errors import NotFound
from saascore.models import Subscription


@frozen
class SyncResult:
    workspace_id: str
    subscription_id: str | None
    changes: Mapping[str, list[Any]]
    missing: bool = False  # the provider knows no such subscription: left as it was


async def sync_subscription(ctx: Ctx, workspace_id: str) -> SyncResult:
    """Make the workspace's record match the provider's subscription, whatever the record
    says now, and audit what changed."""
    sub = await owners_record(ctx, workspace_id)
    if sub is None or sub.subscription_id is None:
        return SyncResult(workspace_id, None, {})
    snapshot = await ctx.deps.billing.fetch_subscription(sub.subscription_id)
    if snapshot is None:
        return SyncResult(workspace_id, sub.subscription_id, {}, missing=True)
    async with ctx.write() as tx:
        await tx.uow.workspaces.lock(workspace_id)
        current = await tx.uow.subscriptions.get(workspace_id)
        now = tx.now()
        repaired = merge(None, workspace_id, snapshot, now, fresh=True, now=now)
        assert repaired is not None
        if current is not None and current.subscription_id == snapshot.subscription_id:
            kept = current.past_due_since if repaired.past_due_since else None
            repaired = evolve(repaired, past_due_since=kept or repaired.past_due_since)
            repaired = evolve(repaired, event_at=current.event_at or now)
        diff = changes(current, repaired)
        if diff:
            await tx.uow.subscriptions.save(repaired)
            await tx.record(
                "billing.subscription_synced",
                workspace_id=workspace_id,
                target=snapshot.subscription_id,
                data={"changes": diff},
            )
    return SyncResult(workspace_id, snapshot.subscription_id, diff)


async def sync_all(ctx: Ctx) -> list[SyncResult]:
    async with ctx.read() as tx:
        records = await tx.uow.subscriptions.list()
    return [await sync_subscription(ctx, r.workspace_id) for r in records if r.subscription_id]


async def set_collection(ctx: Ctx, workspace_id: str, *, paused: bool) -> Subscription:
    """Pause or resume collecting payments for the workspace's subscription (owners)."""
    sub = await owners_record(ctx, workspace_id)
    if sub is None or not sub.is_live or sub.subscription_id is None:
        raise NotFound("this workspace has no live subscription")
    gateway = ctx.deps.billing
    call = gateway.pause_collection if paused else gateway.resume_collection
    snapshot = await call(sub.subscription_id)
    if snapshot is None:
        raise NotFound("the billing provider knows no such subscription: run billing sync")
    async with ctx.write() as tx:
        await tx.uow.workspaces.lock(workspace_id)
        current = await tx.uow.subscriptions.get(workspace_id)
        now = tx.now()
        updated = merge(current, workspace_id, snapshot, now, fresh=True, now=now) or sub
        await tx.uow.subscriptions.save(updated)
        action = "billing.collection_paused" if paused else "billing.collection_resumed"
        await tx.record(
            action,
            workspace_id=workspace_id,
            target=sub.subscription_id,
            data={"changes": changes(current, updated)},
        )
    return updated
