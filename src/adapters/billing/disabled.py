"""Billing switched off (``BILLING_BACKEND=none``): every workspace is on the free plan."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import NoReturn

from saascore.errors import BillingNotConfigured
from saascore.models import BillingEvent, SubscriptionSnapshot

MESSAGE = "billing is switched off here (BILLING_BACKEND=none): every workspace is on the free plan"


class DisabledBillingGateway:
    def _off(self) -> NoReturn:
        raise BillingNotConfigured(MESSAGE)

    async def create_customer(
        self, *, workspace_id: str, name: str, email: str, idempotency_key: str
    ) -> str:
        self._off()

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
        self._off()

    async def open_portal(self, *, customer_id: str, return_url: str) -> str:
        self._off()

    async def fetch_subscription(self, subscription_id: str) -> SubscriptionSnapshot | None:
        self._off()

    async def list_events(
        self, *, since: datetime | None = None, limit: int = 100
    ) -> Sequence[BillingEvent]:
        self._off()

    async def get_event(self, event_id: str) -> BillingEvent | None:
        self._off()

    async def pause_collection(self, subscription_id: str) -> SubscriptionSnapshot | None:
        self._off()

    async def resume_collection(self, subscription_id: str) -> SubscriptionSnapshot | None:
        self._off()

    async def cancel(self, subscription_id: str) -> SubscriptionSnapshot | None:
        return None  # nothing can be live: deleting a workspace goes ahead

    def parse_webhook(self, payload: bytes, signature: str | None) -> BillingEvent:
        self._off()
