"""``saascore billing``: plans, a workspace's billing status, and repairs — sync with the
provider, replay events it could not deliver, pause and resume collection."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import click

from entrypoints.bootstrap import Services
from entrypoints.cli.admin import JSON_OPTION, OPERATOR, find_workspace, read
from entrypoints.cli.common import print_json, print_table, with_services
from saascore import billing as bl
from saascore.context import Tx
from saascore.errors import InvalidInput
from saascore.models import BillingView, Workspace


@click.group()
def billing() -> None:
    """Subscription billing (WORKSPACE is a slug or an id)."""


@billing.command("plans")
@JSON_OPTION
def billing_plans(as_json: bool) -> None:
    """The plans on offer (BILLING_PLANS), the free one first."""

    async def work(services: Services) -> list[dict[str, Any]]:
        return [
            {"name": p.name, "price_id": p.price_id, "seat_limit": p.seat_limit}
            for p in services.billing_policy.plans
        ]

    plans = with_services(work)
    if as_json:
        print_json(plans)
        return
    print_table(
        ("PLAN", "PRICE ID", "SEATS"),
        (
            (
                p["name"],
                p["price_id"] or "-",
                p["seat_limit"] if p["seat_limit"] is not None else "unlimited",
            )
            for p in plans
        ),
    )


def _status_json(workspace: Workspace, view: BillingView) -> dict[str, Any]:
    def iso(value: datetime | None) -> str | None:
        return value.isoformat() if value else None

    return {
        "workspace": workspace.slug,
        "plan": view.plan.name,
        "status": str(view.status) if view.status else None,
        "entitled": view.entitled,
        "seats_used": view.seats_used,
        "seat_limit": view.seat_limit,
        "current_period_end": iso(view.current_period_end),
        "cancel_at_period_end": view.cancel_at_period_end,
        "collection_paused": view.collection_paused,
        "grace_ends_at": iso(view.grace_ends_at),
        "customer_id": view.customer_id,
        "subscription_id": view.subscription_id,
    }


@billing.command("status")
@click.argument("workspace", required=False)
@JSON_OPTION
def billing_status(workspace: str | None, as_json: bool) -> None:
    """WORKSPACE's plan, status and seats; every workspace's without one."""

    async def work(tx: Tx) -> list[dict[str, Any]]:
        found = (
            [await find_workspace(tx.uow, workspace)]
            if workspace
            else await tx.uow.workspaces.list(limit=10_000)
        )
        return [_status_json(w, await bl.billing_status(tx, w.id)) for w in found]

    rows = read(work)
    if as_json:
        print_json(rows[0] if workspace else rows)
        return
    print_table(
        ("WORKSPACE", "PLAN", "STATUS", "SEATS", "PERIOD END", "SUBSCRIPTION"),
        (
            (
                r["workspace"],
                r["plan"],
                (r["status"] or "-") + (" (paused)" if r["collection_paused"] else ""),
                f"{r['seats_used']}/{r['seat_limit'] if r['seat_limit'] is not None else '-'}",
                (r["current_period_end"] or "-")[:10],
                r["subscription_id"] or "-",
            )
            for r in rows
        ),
    )


def _describe(result: bl.SyncResult, slug: str) -> str:
    if result.subscription_id is None:
        return f"{slug}: no subscription, nothing to sync"
    if result.missing:
        return (
            f"{slug}: the billing provider knows no subscription {result.subscription_id}; "
            "left unchanged (check STRIPE_SECRET_KEY is for the right account)"
        )
    if not result.changes:
        return f"{slug}: in sync ({result.subscription_id})"
    changed = ", ".join(f"{k} {old} -> {new}" for k, (old, new) in result.changes.items())
    return f"{slug}: repaired {result.subscription_id}: {changed}"


@billing.command("sync")
@click.argument("workspace", required=False)
@click.option("--all", "everything", is_flag=True, help="Every workspace with a subscription.")
def billing_sync(workspace: str | None, everything: bool) -> None:
    """Re-fetch subscriptions from the provider and repair any drift, printing what changed."""
    if bool(workspace) == everything:
        raise click.UsageError("name a WORKSPACE or pass --all (not both)")

    async def work(services: Services) -> list[tuple[str, bl.SyncResult]]:
        async with services.reader() as uow:
            targets = (
                [await find_workspace(uow, workspace)]
                if workspace
                else await uow.workspaces.list(limit=100_000)
            )
            slugs = {w.id: w.slug for w in targets}
        if workspace:
            result = await bl.sync_subscription(
                services.deps.ctx(OPERATOR),
                targets[0].id,
            )
            return [(targets[0].slug, result)]
        results = await bl.sync_all(services.deps.ctx(OPERATOR))
        return [(slugs.get(r.workspace_id, r.workspace_id), r) for r in results]

    results = with_services(work)
    for slug, result in results:
        click.echo(_describe(result, slug))
    if not results:
        click.echo("no workspace has a subscription")


_RELATIVE = re.compile(r"^(\d+)([dhm])$")


def parse_since(value: str, now: datetime) -> datetime:
    """``3d``, ``12h``, ``30m``, or an ISO date or time (UTC unless it says otherwise)."""
    relative = _RELATIVE.match(value.strip())
    if relative:
        amount, unit = int(relative[1]), relative[2]
        unit_seconds = {"d": 86400, "h": 3600, "m": 60}[unit]
        return now - timedelta(seconds=amount * unit_seconds)
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise InvalidInput(
            {"since": f"{value!r} is not a time: use e.g. 3d, 12h or 2026-11-20T10:00"}
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@billing.command("replay")
@click.argument("event_id", required=False)
@click.option(
    "--since",
    default="3d",
    show_default=True,
    help="Events created since then: 3d, 12h, 30m or an ISO time.",
)
def billing_replay(event_id: str | None, since: str) -> None:
    """Apply the provider's events that never reached the webhook (EVENT_ID: just that one).
    Events already handled are skipped, so replaying twice is harmless."""

    async def work(services: Services) -> list[bl.Replayed]:
        start = None if event_id else parse_since(since, services.clock.now())
        return await bl.replay_events(services.deps.ctx(OPERATOR), since=start, event_id=event_id)

    replayed = with_services(work)
    for r in replayed:
        outcome = str(r.outcome) if r.outcome else "already handled"
        click.echo(
            f"{r.event.id}  {r.event.created_at:%Y-%m-%d %H:%M:%S}  {r.event.type}: {outcome}"
        )
    applied = sum(1 for r in replayed if r.outcome is not None)
    click.echo(f"{len(replayed)} events, {applied} new")


def _collection(workspace: str, *, paused: bool) -> None:
    async def work(services: Services) -> tuple[Workspace, str]:
        async with services.reader() as uow:
            found = await find_workspace(uow, workspace)
        sub = await bl.set_collection(
            services.deps.ctx(OPERATOR),
            found.id,
            paused=paused,
        )
        return found, sub.subscription_id or "-"

    found, subscription_id = with_services(work)
    verb = "paused" if paused else "resumed"
    click.echo(f"{found.slug}: payment collection {verb} for {subscription_id}")


@billing.command("pause")
@click.argument("workspace")
def billing_pause(workspace: str) -> None:
    """Stop collecting payments for WORKSPACE's subscription (the plan stays)."""
    _collection(workspace, paused=True)


@billing.command("resume")
@click.argument("workspace")
def billing_resume(workspace: str) -> None:
    """Collect payments for WORKSPACE's subscription again."""
    _collection(workspace, paused=False)


@billing.command("events")
@click.option("--limit", type=click.IntRange(1, 1000), default=20, show_default=True)
@JSON_OPTION
def billing_events(limit: int, as_json: bool) -> None:
    """Webhook health: the newest provider events received, and how each was handled."""

    async def work(tx: Tx) -> tuple[list[Any], datetime]:
        return list(await tx.uow.billing_ledger.list(limit=limit)), tx.now()

    entries, now = read(work)
    rows = [
        {
            "event_id": e.event_id,
            "type": e.type,
            "outcome": str(e.outcome),
            "created_at": e.created_at.isoformat(),
            "received_at": e.received_at.isoformat(),
            "workspace_id": e.workspace_id,
        }
        for e in entries
    ]
    if as_json:
        print_json(rows)
        return
    if not entries:
        click.echo("no billing events received yet: check the webhook endpoint in Stripe")
        return
    print_table(
        ("RECEIVED", "TYPE", "OUTCOME", "EVENT"),
        ((r["received_at"][:19], r["type"], r["outcome"], r["event_id"]) for r in rows),
    )
    minutes = int((now - entries[0].received_at).total_seconds() // 60)
    click.echo(f"newest event received {minutes} min ago")
