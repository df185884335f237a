"""SQL billing records and the provider event ledger."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.dialects import postgresql, sqlite

from adapters.sql.base import SqlRepository
from adapters.sql.tables import billing_events, subscriptions
from saascore.models import LedgerEntry, LedgerOutcome, Subscription, SubscriptionStatus


def _subscription(row: Any) -> Subscription:
    return Subscription(
        workspace_id=row.workspace_id,
        customer_id=row.customer_id,
        subscription_id=row.subscription_id,
        status=SubscriptionStatus(row.status) if row.status else None,
        price_id=row.price_id,
        current_period_end=row.current_period_end,
        cancel_at_period_end=bool(row.cancel_at_period_end),
        collection_paused=bool(row.collection_paused),
        event_at=row.event_at,
        past_due_since=row.past_due_since,
        updated_at=row.updated_at,
    )


class SqlSubscriptionRepository(SqlRepository):
    async def get(self, workspace_id: str) -> Subscription | None:
        return await self._one(subscriptions.c.workspace_id == workspace_id)

    async def get_by_customer(self, customer_id: str) -> Subscription | None:
        return await self._one(subscriptions.c.customer_id == customer_id)

    async def get_by_subscription(self, subscription_id: str) -> Subscription | None:
        return await self._one(subscriptions.c.subscription_id == subscription_id)

    async def _one(self, condition: Any) -> Subscription | None:
        row = (await self._run(select(subscriptions).where(condition))).first()
        return _subscription(row) if row else None

    async def save(self, subscription: Subscription) -> None:
        # Callers hold the workspace's lock, so delete + insert cannot interleave.
        await self._run(
            delete(subscriptions).where(subscriptions.c.workspace_id == subscription.workspace_id)
        )
        await self._run(
            insert(subscriptions).values(
                workspace_id=subscription.workspace_id,
                customer_id=subscription.customer_id,
                subscription_id=subscription.subscription_id,
                status=str(subscription.status) if subscription.status else None,
                price_id=subscription.price_id,
                current_period_end=subscription.current_period_end,
                cancel_at_period_end=subscription.cancel_at_period_end,
                collection_paused=subscription.collection_paused,
                event_at=subscription.event_at,
                past_due_since=subscription.past_due_since,
                updated_at=subscription.updated_at,
            )
        )

    async def list(self) -> Sequence[Subscription]:
        query = select(subscriptions).order_by(subscriptions.c.workspace_id)
        return [_subscription(row) for row in await self._run(query)]


def _entry(row: Any) -> LedgerEntry:
    return LedgerEntry(
        event_id=row.event_id,
        type=row.type,
        created_at=row.created_at,
        received_at=row.received_at,
        outcome=LedgerOutcome(row.outcome),
        workspace_id=row.workspace_id,
        subscription_id=row.subscription_id,
    )


class SqlBillingLedger(SqlRepository):
    async def record(self, entry: LedgerEntry) -> bool:
        # ON CONFLICT DO NOTHING: a concurrent transaction recording the same event makes
        # this one wait for it, then find the id taken, instead of failing.
        ins = postgresql.insert if self._executor.dialect_name == "postgresql" else sqlite.insert
        result = await self._run(
            ins(billing_events)
            .values(
                event_id=entry.event_id,
                type=entry.type,
                created_at=entry.created_at,
                received_at=entry.received_at,
                outcome=str(entry.outcome),
                workspace_id=entry.workspace_id,
                subscription_id=entry.subscription_id,
            )
            .on_conflict_do_nothing(index_elements=["event_id"])
        )
        return int(result.rowcount) == 1  # type: ignore[attr-defined]

    async def get(self, event_id: str) -> LedgerEntry | None:
        query = select(billing_events).where(billing_events.c.event_id == event_id)
        row = (await self._run(query)).first()
        return _entry(row) if row else None

    async def list(self, *, limit: int = 50) -> Sequence[LedgerEntry]:
        query = (
            select(billing_events)
            .order_by(billing_events.c.received_at.desc(), billing_events.c.event_id)
            .limit(limit)
        )
        return [_entry(row) for row in await self._run(query)]
