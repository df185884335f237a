"""The Stripe billing gateway: the official SDK through one ``StripeClient``, async calls.

Every create carries an idempotency key, so the SDK's own retries (and a double click)
cannot make two customers or two sessions. Webhooks are verified by the SDK over the exact
bytes received, then read by ``adapters.billing.events`` like every other gateway's.
Any Stripe failure other than "no such object" becomes ``BillingUnavailable`` (503).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Sequence
from datetime import datetime
from typing import Any, TypeVar

import stripe

from adapters.billing.events import (
    TOLERANCE_SECONDS,
    parse_event,
    parse_payload,
    parse_subscription,
)
from saascore.errors import BillingUnavailable, WebhookRejected
from saascore.models import BillingEvent, SubscriptionSnapshot

T = TypeVar("T")


class StripeBillingGateway:
    """A ``BillingGateway`` on Stripe (or a Stripe-compatible server at ``api_base``)."""

    def __init__(
        self,
        secret_key: str,
        webhook_secret: str,
        *,
        api_base: str | None = None,
        timeout: float = 10.0,
        max_network_retries: int = 2,
    ) -> None:
        self._webhook_secret = webhook_secret
        self._client = stripe.StripeClient(
            secret_key,
            base_addresses={"api": api_base} if api_base else None,
            max_network_retries=max_network_retries,
            http_client=stripe.HTTPXClient(timeout=timeout),
        )

    @property
    def _v1(self) -> Any:
        return self._client.v1

    async def _call(self, call: Awaitable[T]) -> T:
        try:
            return await call
        except stripe.StripeError as exc:
            raise BillingUnavailable(f"Stripe: {_describe(exc)}") from exc

    async def _maybe(self, call: Awaitable[T]) -> T | None:
        """The object, or ``None`` when Stripe says there is no such object."""
        try:
            return await call
        except stripe.InvalidRequestError as exc:
            if exc.code == "resource_missing" or exc.http_status == 404:
                return None
            raise BillingUnavailable(f"Stripe: {_describe(exc)}") from exc
        except stripe.StripeError as exc:
            raise BillingUnavailable(f"Stripe: {_describe(exc)}") from exc

    async def create_customer(
        self, *, workspace_id: str, name: str, email: str, idempotency_key: str
    ) -> str:
        params: dict[str, Any] = {"name": name, "metadata": {"workspace_id": workspace_id}}
        if email:
            params["email"] = email
        customer = await self._call(
            self._v1.customers.create_async(params, {"idempotency_key": idempotency_key})
        )
        return str(customer.id)

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
        session = await self._call(
            self._v1.checkout.sessions.create_async(
                {
                    "mode": "subscription",
                    "customer": customer_id,
                    "client_reference_id": workspace_id,
                    "metadata": {"workspace_id": workspace_id},
                    "line_items": [{"price": price_id, "quantity": 1}],
                    "subscription_data": {"metadata": {"workspace_id": workspace_id}},
                    "success_url": success_url,
                    "cancel_url": cancel_url,
                },
                {"idempotency_key": idempotency_key},
            )
        )
        return str(session.url)

    async def open_portal(self, *, customer_id: str, return_url: str) -> str:
        portal = await self._call(
            self._v1.billing_portal.sessions.create_async(
                {"customer": customer_id, "return_url": return_url},
                # One per call: it only makes the SDK's own retries safe.
                {"idempotency_key": f"portal-{customer_id}-{uuid.uuid4()}"},
            )
        )
        return str(portal.url)

    async def fetch_subscription(self, subscription_id: str) -> SubscriptionSnapshot | None:
        found = await self._maybe(self._v1.subscriptions.retrieve_async(subscription_id))
        return parse_subscription(found.to_dict()) if found is not None else None

    async def list_events(
        self, *, since: datetime | None = None, limit: int = 100
    ) -> Sequence[BillingEvent]:
        params: dict[str, Any] = {"limit": min(limit, 100)}
        if since is not None:
            params["created"] = {"gte": int(since.timestamp())}
        events: list[BillingEvent] = []
        while len(events) < limit:
            page = await self._call(self._v1.events.list_async(params))
            events.extend(parse_event(e.to_dict()) for e in page.data)
            if not page.has_more or not page.data:
                break
            params["starting_after"] = page.data[-1].id
        # Stripe lists newest first; events are applied oldest first. Reversing (not only
        # sorting by time, which is stable) also keeps events of one second in order.
        oldest_first = events[:limit][::-1]
        oldest_first.sort(key=lambda e: e.created_at)
        return oldest_first

    async def get_event(self, event_id: str) -> BillingEvent | None:
        found = await self._maybe(self._v1.events.retrieve_async(event_id))
        return parse_event(found.to_dict()) if found is not None else None

    async def pause_collection(self, subscription_id: str) -> SubscriptionSnapshot | None:
        return await self._update(subscription_id, {"pause_collection": {"behavior": "void"}})

    async def resume_collection(self, subscription_id: str) -> SubscriptionSnapshot | None:
        # Stripe clears the pause when ``pause_collection`` is set to the empty string.
        return await self._update(subscription_id, {"pause_collection": ""})

    async def _update(
        self, subscription_id: str, params: dict[str, Any]
    ) -> SubscriptionSnapshot | None:
        found = await self._maybe(self._v1.subscriptions.update_async(subscription_id, params))
        return parse_subscription(found.to_dict()) if found is not None else None

    async def cancel(self, subscription_id: str) -> SubscriptionSnapshot | None:
        current = await self.fetch_subscription(subscription_id)
        if current is None or current.status.is_final:
            return current
        found = await self._maybe(self._v1.subscriptions.cancel_async(subscription_id))
        return parse_subscription(found.to_dict()) if found is not None else None

    def parse_webhook(self, payload: bytes, signature: str | None) -> BillingEvent:
        if not signature:
            raise WebhookRejected("the Stripe-Signature header is missing")
        if not signature.isascii():  # the SDK's compare_digest raises TypeError on it
            raise WebhookRejected("the Stripe-Signature header is malformed")
        try:
            stripe.Webhook.construct_event(
                payload, signature, self._webhook_secret, tolerance=TOLERANCE_SECONDS
            )
        except stripe.SignatureVerificationError as exc:
            raise WebhookRejected(f"bad signature: {exc.user_message or exc}") from None
        except ValueError as exc:
            raise WebhookRejected(f"the body is not a Stripe event: {exc}") from None
        # The SDK refuses old timestamps only; one from the future is no fresher.
        stamp = next((p[2:] for p in signature.split(",") if p.startswith("t=")), "")
        if not stamp.isdigit() or int(stamp) - time.time() > TOLERANCE_SECONDS:
            raise WebhookRejected(
                f"the signature's time is more than {TOLERANCE_SECONDS} s from now"
            )
        return parse_payload(payload)


def _describe(exc: stripe.StripeError) -> str:
    """One line: the SDK's messages span several, with advice meant for Stripe's own users."""
    if isinstance(exc, stripe.APIConnectionError):
        return "could not reach the Stripe API (network error or timeout); try again later"
    status = f"HTTP {exc.http_status}: " if exc.http_status else ""
    return " ".join(f"{status}{exc.user_message or type(exc).__name__}".split())
