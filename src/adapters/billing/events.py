"""Stripe's event and subscription JSON, read into saascore's types.

Both payload shapes are understood: the current one (price and period end on the
subscription's items, an invoice's subscription under ``parent.subscription_details``) and
the older one (``plan`` and ``current_period_*`` on the subscription, ``invoice.subscription``).
Used by the Stripe adapter on the SDK's verified payloads, and by the offline gateways,
which speak the same JSON so that they exercise the same code.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from saascore.errors import WebhookRejected
from saascore.models import BillingEvent, SubscriptionSnapshot, SubscriptionStatus

TOLERANCE_SECONDS = 300  # Stripe's own default


def _id(value: Any) -> str | None:
    """An id, whether the field holds the id or the expanded object."""
    if isinstance(value, Mapping):
        value = value.get("id")
    return value if isinstance(value, str) and value else None


def _time(value: Any) -> datetime | None:
    return _from_unix(value) if value is not None else None


def _from_unix(value: Any) -> datetime:
    """Unix seconds as a time; ``ValueError`` for a value that is not one (a signed but
    malformed event must answer 400, not crash into a 500 that Stripe retries forever)."""
    try:
        return datetime.fromtimestamp(int(value), UTC)
    except (OverflowError, OSError) as exc:  # inf, or beyond the platform's time_t
        raise ValueError(f"{value!r} is not a time") from exc


def _get(data: Mapping[str, Any], *path: str) -> Any:
    node: Any = data
    for key in path:
        if not isinstance(node, Mapping):
            return None
        node = node.get(key)
    return node


def parse_subscription(obj: Mapping[str, Any]) -> SubscriptionSnapshot:
    """A Stripe subscription object (either shape) as a snapshot."""
    items = _get(obj, "items", "data") or []
    first: Mapping[str, Any] = items[0] if items else {}
    price = _id(first.get("price")) or _id(first.get("plan")) or _id(obj.get("plan"))
    period_end = first.get("current_period_end") or obj.get("current_period_end")
    metadata = obj.get("metadata") or {}
    subscription_id = _id(obj.get("id"))
    customer_id = _id(obj.get("customer"))
    if subscription_id is None or customer_id is None:
        raise ValueError("a subscription needs an id and a customer")
    return SubscriptionSnapshot(
        subscription_id=subscription_id,
        customer_id=customer_id,
        status=SubscriptionStatus(str(obj.get("status"))),
        price_id=price,
        current_period_end=_time(period_end),
        cancel_at_period_end=bool(obj.get("cancel_at_period_end")),
        collection_paused=obj.get("pause_collection") is not None,
        workspace_id=metadata.get("workspace_id") if isinstance(metadata, Mapping) else None,
    )


def parse_event(data: Mapping[str, Any]) -> BillingEvent:
    """A Stripe event as a ``BillingEvent``; ``ValueError`` if it is not one."""
    event_id, event_type, created = data.get("id"), data.get("type"), data.get("created")
    obj = _get(data, "data", "object")
    if not isinstance(event_id, str) or not isinstance(event_type, str) or created is None:
        raise ValueError("an event needs an id, a type and a creation time")
    if not isinstance(obj, Mapping):
        raise ValueError("an event needs data.object")
    kind = obj.get("object")
    snapshot = None
    workspace_id = None
    subscription_id: str | None
    if kind == "subscription":
        snapshot = parse_subscription(obj)
        subscription_id = snapshot.subscription_id
        workspace_id = snapshot.workspace_id
    elif kind == "checkout.session":
        subscription_id = _id(obj.get("subscription"))
        workspace_id = obj.get("client_reference_id") or _get(obj, "metadata", "workspace_id")
    elif kind == "invoice":
        subscription_id = _id(obj.get("subscription")) or _id(
            _get(obj, "parent", "subscription_details", "subscription")
        )
    else:
        subscription_id = None
    customer = obj.get("id") if kind == "customer" else obj.get("customer")
    return BillingEvent(
        id=event_id,
        type=event_type,
        created_at=_from_unix(created),
        customer_id=_id(customer),
        subscription_id=subscription_id,
        workspace_id=workspace_id if isinstance(workspace_id, str) else None,
        subscription=snapshot,
        payload=dict(data),
    )


def parse_payload(payload: bytes) -> BillingEvent:
    try:
        data = json.loads(payload)
        if not isinstance(data, Mapping):
            raise ValueError("not a JSON object")
        return parse_event(data)
    except (ValueError, TypeError, KeyError) as exc:
        raise WebhookRejected(f"the body is not a Stripe event: {exc}") from None


def signature_header(payload: bytes, secret: str, timestamp: int) -> str:
    """A ``Stripe-Signature`` header for ``payload``, as Stripe computes it."""
    signed = f"{timestamp}.".encode() + payload
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify_signature(
    payload: bytes,
    header: str | None,
    secret: str,
    now: datetime,
    tolerance: int = TOLERANCE_SECONDS,
) -> None:
    """Stripe's scheme: HMAC-SHA256 of ``t.payload`` in a ``v1`` entry, at most ``tolerance``
    seconds old. Raises ``WebhookRejected``."""
    if not secret:
        raise WebhookRejected("no webhook secret is configured: set STRIPE_WEBHOOK_SECRET")
    if not header:
        raise WebhookRejected("the Stripe-Signature header is missing")
    parts = [p.split("=", 1) for p in header.split(",") if "=" in p]
    stamps = [v for k, v in parts if k == "t"]
    signatures = [v for k, v in parts if k == "v1"]
    # isdigit() alone admits "²" and 5000-digit numbers, on which int() raises.
    if not stamps or not _is_timestamp(stamps[0]) or not signatures:
        raise WebhookRejected("the Stripe-Signature header is malformed")
    timestamp = int(stamps[0])
    expected = signature_header(payload, secret, timestamp).split("v1=", 1)[1].encode()
    # As bytes: compare_digest refuses str with non-ASCII characters, and a header may hold any.
    if not any(hmac.compare_digest(expected, s.encode("utf-8", "replace")) for s in signatures):
        raise WebhookRejected("the signature does not match the body")
    if abs(now.timestamp() - timestamp) > tolerance:  # a future time is no fresher
        raise WebhookRejected(f"the signature's time is more than {tolerance} s from now")


def _is_timestamp(text: str) -> bool:
    return text.isascii() and text.isdigit() and len(text) <= 12
