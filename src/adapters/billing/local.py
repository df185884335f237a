"""An in-memory billing provider that speaks Stripe's JSON.

Customers, checkout sessions, subscriptions and events live in dictionaries; completing a
checkout or changing a subscription records the same events Stripe would send, in Stripe's
current payload shape, so the code that reads real webhooks reads these too. Tests drive it
with ``complete_checkout``, ``set_status`` and ``outage``; the offline ``stub`` backend
is this class with checkout and portal pages on the app itself.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from itertools import count
from typing import Any
from urllib.parse import urlencode

from adapters.billing.events import (
    parse_event,
    parse_payload,
    parse_subscription,
    signature_header,
    verify_signature,
)
from adapters.clock import SystemClock
from saascore.errors import BillingUnavailable, NotFound
from saascore.models import BillingEvent, Subscription, SubscriptionSnapshot, SubscriptionStatus
from saascore.ports import Clock

PERIOD = timedelta(days=30)


class InMemoryBillingGateway:
    """A ``BillingGateway`` with no network; see the module docstring."""

    def __init__(
        self,
        *,
        webhook_secret: str = "whsec_memory",  # noqa: S107 - a test fixture's, not a secret
        clock: Clock | None = None,
        pages_url: str = "https://billing.invalid",
    ) -> None:
        self.webhook_secret = webhook_secret
        self.clock: Clock = clock or SystemClock()
        self.pages_url = pages_url.rstrip("/")
        self.customers: dict[str, dict[str, Any]] = {}
        self.checkouts: dict[str, dict[str, Any]] = {}
        self.subscriptions: dict[str, dict[str, Any]] = {}
        self.events: list[dict[str, Any]] = []
        self.idempotency: dict[str, str] = {}
        self.calls: list[str] = []
        self.down: BillingUnavailable | None = None
        self._serial = count(1)

    # -------------------------------------------------------------- test controls

    def outage(self, down: bool = True) -> None:
        """Make every call fail with ``BillingUnavailable`` (or stop failing)."""
        self.down = BillingUnavailable("the billing provider is unreachable") if down else None

    def _call(self, name: str) -> None:
        self.calls.append(name)
        if self.down is not None:
            raise self.down

    def _new(self, prefix: str) -> str:
        # Sortable like Stripe's, and unique across processes: a restarted stub adopts the
        # stored subscriptions, and its new ids must not collide with theirs.
        return f"{prefix}_{next(self._serial):06d}{uuid.uuid4().hex[:10]}"

    def _emit(self, event_type: str, obj: dict[str, Any]) -> BillingEvent:
        event = {
            "id": self._new("evt"),
            "object": "event",
            "type": event_type,
            "created": int(self.clock.now().timestamp()),
            "data": {"object": json.loads(json.dumps(obj))},
        }
        self.events.append(event)
        return parse_event(event)

    def sign(self, payload: bytes, timestamp: int | None = None) -> str:
        stamp = int(self.clock.now().timestamp()) if timestamp is None else timestamp
        return signature_header(payload, self.webhook_secret, stamp)

    def complete_checkout(self, session_id: str) -> list[BillingEvent]:
        """Pay: the subscription starts active; returns the events Stripe would send."""
        session = self.checkouts.get(session_id)
        if session is None:
            raise NotFound("no such checkout session")
        if session["status"] == "complete":
            return []
        now = int(self.clock.now().timestamp())
        subscription = {
            "id": self._new("sub"),
            "object": "subscription",
            "customer": session["customer"],
            "status": "active",
            "cancel_at_period_end": False,
            "pause_collection": None,
            "metadata": {"workspace_id": session["client_reference_id"]},
            "items": {
                "object": "list",
                "data": [
                    {
                        "id": self._new("si"),
                        "object": "subscription_item",
                        "price": {"id": session["price"], "object": "price"},
                        "quantity": 1,
                        "current_period_start": now,
                        "current_period_end": now + int(PERIOD.total_seconds()),
                    }
                ],
            },
        }
        self.subscriptions[subscription["id"]] = subscription
        session.update(status="complete", subscription=subscription["id"])
        return [
            self._emit("checkout.session.completed", session),
            self._emit("customer.subscription.created", subscription),
            self._emit("invoice.paid", self._invoice(subscription, paid=True)),
        ]

    def set_status(self, subscription_id: str, status: SubscriptionStatus) -> list[BillingEvent]:
        """Move a subscription to ``status`` as Stripe would, with its events."""
        subscription = self._subscription(subscription_id)
        subscription["status"] = str(status)
        events = []
        if status is SubscriptionStatus.PAST_DUE:
            events.append(self._emit("invoice.payment_failed", self._invoice(subscription, False)))
        if status is SubscriptionStatus.CANCELED:
            events.append(self._emit("customer.subscription.deleted", subscription))
        else:
            events.append(self._emit("customer.subscription.updated", subscription))
        return events

    def adopt(self, record: Subscription) -> None:
        """Know a stored billing record's customer and subscription (the stub keeps its state
        in memory, so the app hands it what the database holds when it starts)."""
        self.customers.setdefault(
            record.customer_id,
            {"id": record.customer_id, "metadata": {"workspace_id": record.workspace_id}},
        )
        if record.subscription_id is None or record.status is None:
            return
        period_end = record.current_period_end or self.clock.now()
        self.subscriptions.setdefault(
            record.subscription_id,
            {
                "id": record.subscription_id,
                "object": "subscription",
                "customer": record.customer_id,
                "status": str(record.status),
                "cancel_at_period_end": record.cancel_at_period_end,
                "pause_collection": {"behavior": "void"} if record.collection_paused else None,
                "metadata": {"workspace_id": record.workspace_id},
                "items": {
                    "object": "list",
                    "data": [
                        {
                            "id": self._new("si"),
                            "object": "subscription_item",
                            "price": {"id": record.price_id, "object": "price"},
                            "quantity": 1,
                            "current_period_end": int(period_end.timestamp()),
                        }
                    ],
                },
            },
        )

    def _invoice(self, subscription: dict[str, Any], paid: bool) -> dict[str, Any]:
        return {
            "id": self._new("in"),
            "object": "invoice",
            "customer": subscription["customer"],
            "status": "paid" if paid else "open",
            "parent": {
                "type": "subscription_details",
                "subscription_details": {"subscription": subscription["id"]},
            },
        }

    def _subscription(self, subscription_id: str) -> dict[str, Any]:
        subscription = self.subscriptions.get(subscription_id)
        if subscription is None:
            raise NotFound("no such subscription")
        return subscription

    # -------------------------------------------------------------- BillingGateway

    async def create_customer(
        self, *, workspace_id: str, name: str, email: str, idempotency_key: str
    ) -> str:
        self._call("create_customer")
        if idempotency_key in self.idempotency:
            return self.idempotency[idempotency_key]
        customer_id = self._new("cus")
        self.customers[customer_id] = {
            "id": customer_id,
            "name": name,
            "email": email,
            "metadata": {"workspace_id": workspace_id},
        }
        self.idempotency[idempotency_key] = customer_id
        return customer_id

    async def start_checkout(
        self,
        *,
        customer_id: str,
        workspace_id: str,
        price_id: str,
        success_url: str,
        cancel_url: str,
        idempotency_key: str,
    ) -> str:
        self._call("start_checkout")
        if customer_id not in self.customers:
            raise NotFound("no such customer")
        session_id = self.idempotency.get(idempotency_key) or self._new("cs")
        self.idempotency[idempotency_key] = session_id
        self.checkouts.setdefault(
            session_id,
            {
                "id": session_id,
                "object": "checkout.session",
                "mode": "subscription",
                "customer": customer_id,
                "client_reference_id": workspace_id,
                "metadata": {"workspace_id": workspace_id},
                "price": price_id,
                "success_url": success_url,
                "cancel_url": cancel_url,
                "status": "open",
                "subscription": None,
            },
        )
        return f"{self.pages_url}/checkout/{session_id}"

    async def open_portal(self, *, customer_id: str, return_url: str) -> str:
        self._call("open_portal")
        if customer_id not in self.customers:
            raise NotFound("no such customer")
        return f"{self.pages_url}/portal/{customer_id}?{urlencode({'return_url': return_url})}"

    async def fetch_subscription(self, subscription_id: str) -> SubscriptionSnapshot | None:
        self._call("fetch_subscription")
        subscription = self.subscriptions.get(subscription_id)
        return _snapshot(subscription) if subscription else None

    async def list_events(
        self, *, since: datetime | None = None, limit: int = 100
    ) -> Sequence[BillingEvent]:
        self._call("list_events")
        # Events carry whole seconds, as on Stripe: compare in seconds, as Stripe's filter does.
        floor = int(since.timestamp()) if since else 0
        return [parse_event(e) for e in self.events if e["created"] >= floor][:limit]

    async def get_event(self, event_id: str) -> BillingEvent | None:
        self._call("get_event")
        return next((parse_event(e) for e in self.events if e["id"] == event_id), None)

    async def pause_collection(self, subscription_id: str) -> SubscriptionSnapshot | None:
        return self._update(subscription_id, pause_collection={"behavior": "void"})

    async def resume_collection(self, subscription_id: str) -> SubscriptionSnapshot | None:
        return self._update(subscription_id, pause_collection=None)

    async def cancel(self, subscription_id: str) -> SubscriptionSnapshot | None:
        self._call("cancel")
        subscription = self.subscriptions.get(subscription_id)
        if subscription is None:
            return None
        if subscription["status"] != "canceled":
            subscription["status"] = "canceled"
            self._emit("customer.subscription.deleted", subscription)
        return _snapshot(subscription)

    def _update(self, subscription_id: str, **values: Any) -> SubscriptionSnapshot | None:
        self._call("update_subscription")
        subscription = self.subscriptions.get(subscription_id)
        if subscription is None:
            return None
        subscription.update(values)
        self._emit("customer.subscription.updated", subscription)
        return _snapshot(subscription)

    def parse_webhook(self, payload: bytes, signature: str | None) -> BillingEvent:
        verify_signature(payload, signature, self.webhook_secret, self.clock.now())
        return parse_payload(payload)


def _snapshot(subscription: dict[str, Any]) -> SubscriptionSnapshot:
    return parse_subscription(subscription)
