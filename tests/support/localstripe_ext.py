"""localstripe, extended with what saascore's Stripe adapter needs from Stripe (tests only).

Run ``python -m tests.support.localstripe_ext PORT PICKLE_PATH`` (or this file by path). It
serves localstripe 1.15.10 on 127.0.0.1 only, keeps its store in ``PICKLE_PATH`` (upstream
hard-codes ``/tmp/localstripe.pickle``) and adds, mimicking Stripe's behaviour and shapes:

- ``POST /v1/checkout/sessions`` (subscription mode; a ``line_items[].price`` id is a
  localstripe *plan* id, so create plans with price-like ids), ``GET /v1/checkout/sessions/ID``;
  the session's ``url`` is ``/_config/checkout/ID``: a GET there "pays" and redirects to
  ``success_url`` like the hosted page, and ``POST /_config/checkout/ID/complete`` pays and
  answers the session (a test control: card ``pm_card_visa``, subscription with
  ``subscription_data.metadata``, signed ``checkout.session.completed`` webhook);
- ``POST /v1/billing_portal/sessions``, whose ``url`` redirects to ``return_url``;
- ``pause_collection`` on subscription updates (a dict, or ``""`` to clear it), with a
  ``customer.subscription.updated`` event for every change of a subscription;
- Stripe's rules for canceled subscriptions: only ``metadata`` can still change, and
  canceling one again is "No such subscription" (404);
- ``Idempotency-Key`` on POST requests: the first response is replayed for the same key
  and parameters, other parameters get a 400 ``idempotency_error``;
- events listed newest first, as Stripe lists them (upstream lists them oldest first);
- 404s with ``code: resource_missing`` and a "No such ..." message, like Stripe's.

localstripe's own events keep its old payload shape (``plan`` and ``current_period_*`` on the
subscription, ``api_version`` 2017-08-15).
"""

# localstripe and aiohttp's handlers are untyped dict-shaped APIs: Any is their native type.

from __future__ import annotations

import logging
import pickle
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import localstripe.resources as res  # type: ignore[import-untyped]
from aiohttp import web
from localstripe.errors import UserError  # type: ignore[import-untyped]
from localstripe.server import (  # type: ignore[import-untyped]
    app,
    auth_middleware,
    get_post_data,
    json_response,
)
from localstripe.webhooks import schedule_webhook  # type: ignore[import-untyped]

HOST = "127.0.0.1"
DAY = 24 * 3600
PAUSE_BEHAVIORS = ("keep_as_draft", "mark_uncollectible", "void")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_settings: dict[str, Any] = {"port": 8420, "pickle_path": Path("localstripe.pickle")}


def _base_url() -> str:
    return f"http://{HOST}:{_settings['port']}"


def _missing(kind: str, object_id: str, param: str = "id", status: int = 404) -> Any:
    """Stripe's error for an unknown id."""
    return UserError(
        status, f"No such {kind}: '{object_id}'", {"code": "resource_missing", "param": param}
    )


# ------------------------------------------------------------------ the store's file


def _dump_to_disk(self: Any) -> None:
    with Path(_settings["pickle_path"]).open("wb") as file:
        pickle.dump(self, file, protocol=pickle.HIGHEST_PROTOCOL)


def _load_from_disk(self: Any) -> None:
    try:
        with Path(_settings["pickle_path"]).open("rb") as file:
            old = pickle.load(file)  # noqa: S301 - our own file, written by this process
    except FileNotFoundError:
        return
    self.clear()
    self.update(old)


res.Store.dump_to_disk = _dump_to_disk
res.Store.try_load_from_disk = _load_from_disk


# ------------------------------------------------------------------ Stripe's 404s

_retrieve = res.StripeObject._api_retrieve.__func__


def _retrieve_or_missing(cls: Any, /, object_id: str) -> Any:
    try:
        return _retrieve(cls, object_id)
    except UserError as exc:
        if exc.code == 404:
            raise _missing(cls.object, object_id) from None
        raise


res.StripeObject._api_retrieve = classmethod(_retrieve_or_missing)


# ------------------------------------------------------------------ events, newest first

_list_events = res.Event._api_list_all.__func__


def _list_events_newest_first(cls: Any, /, url: str, **params: Any) -> Any:
    found = _list_events(cls, url, **params)
    found._list.reverse()  # the store keeps them in creation order
    return found


res.Event._api_list_all = classmethod(_list_events_newest_first)


# ------------------------------------------------------------------ subscriptions

_KEEP = object()
_update_subscription = res.Subscription._update
# Every subscription has the field, unpaused (an instance attribute once it is set).
res.Subscription.pause_collection = None


def _pause_value(value: Any) -> dict[str, Any] | None:
    """``pause_collection`` as Stripe stores it: ``""`` clears it."""
    if value == "":
        return None
    if not isinstance(value, dict) or value.get("behavior") not in PAUSE_BEHAVIORS:
        raise UserError(
            400,
            "Invalid pause_collection: behavior must be one of " + ", ".join(PAUSE_BEHAVIORS),
            {"param": "pause_collection[behavior]"},
        )
    resumes_at = res.try_convert_to_int(value.get("resumes_at"))
    if resumes_at is not None and (not isinstance(resumes_at, int) or resumes_at < time.time()):
        raise UserError(400, "Invalid resumes_at", {"param": "pause_collection[resumes_at]"})
    return {"behavior": value["behavior"], "resumes_at": resumes_at}


def _update_with_pause(self: Any, pause_collection: Any = _KEEP, **params: Any) -> None:
    if self.status == "canceled" and (pause_collection is not _KEEP or set(params) - {"metadata"}):
        raise UserError(
            400, "A canceled subscription can only update its cancellation_details and metadata."
        )
    pause = _KEEP if pause_collection is _KEEP else _pause_value(pause_collection)
    before = self._export()
    _update_subscription(self, **params)
    if pause is not _KEEP:
        self.pause_collection = pause
    after = self._export()
    changed = {key: value for key, value in before.items() if after.get(key) != value}
    if changed:
        event = res.Event("customer.subscription.updated", self)
        event.data["previous_attributes"] = changed
        schedule_webhook(event)


def _cancel_subscription(cls: Any, /, subscription_id: str) -> Any:
    subscription = cls._api_retrieve(subscription_id)
    if subscription.status == "canceled":
        # What Stripe answers: a canceled subscription is as good as deleted.
        raise _missing("subscription", subscription_id)
    subscription.status = "canceled"
    subscription.canceled_at = subscription.ended_at = int(time.time())
    schedule_webhook(res.Event("customer.subscription.deleted", subscription))
    return subscription


res.Subscription._update = _update_with_pause
res.Subscription._api_delete = classmethod(_cancel_subscription)


# ------------------------------------------------------------------ Checkout and Portal


class CheckoutSession(res.StripeObject):  # type: ignore[misc]
    object = "checkout.session"
    _id_prefix = "cs_test_"

    def __init__(
        self,
        mode: str | None = None,
        customer: str | None = None,
        customer_email: str | None = None,
        line_items: list[dict[str, Any]] | None = None,
        success_url: str | None = None,
        cancel_url: str | None = None,
        client_reference_id: str | None = None,
        metadata: dict[str, str] | None = None,
        subscription_data: dict[str, Any] | None = None,
        **unsupported: Any,
    ) -> None:
        if unsupported:
            raise UserError(400, "Received unknown parameter: " + ", ".join(unsupported))
        if mode != "subscription":
            raise UserError(400, "This test server only supports mode=subscription")
        if not isinstance(line_items, list) or not line_items:
            raise UserError(400, "line_items is required in subscription mode")
        if not success_url:
            raise UserError(400, "Missing required param: success_url.")
        for index, item in enumerate(line_items):
            price = item.get("price")
            try:
                res.Plan._api_retrieve(str(price))
            except UserError:
                raise _missing("price", str(price), f"line_items[{index}][price]", 400) from None
        if customer is not None:
            try:
                res.Customer._api_retrieve(customer)
            except UserError:
                raise _missing("customer", customer, "customer", 400) from None
        # All exceptions must be raised before this point (the parent stores the object).
        super().__init__()
        self.mode = mode
        self.customer = customer
        self.customer_email = customer_email
        self.client_reference_id = client_reference_id
        self.metadata = metadata or {}
        self.success_url = success_url
        self.cancel_url = cancel_url
        self.status = "open"
        self.payment_status = "unpaid"
        self.subscription = None
        self.expires_at = self.created + DAY
        self.url = f"{_base_url()}/_config/checkout/{self.id}"
        self._line_items = [
            {"price": item["price"], "quantity": res.try_convert_to_int(item.get("quantity", 1))}
            for item in line_items
        ]
        self._subscription_metadata = (subscription_data or {}).get("metadata") or {}

    def _complete(self) -> None:
        """Pay with a test card: what the customer does on the hosted page."""
        if self.status == "complete":
            return
        if self.status != "open":
            raise UserError(400, "This Checkout Session is no longer active.")
        customer_id = self.customer or res.Customer(email=self.customer_email).id
        card = res.PaymentMethod._api_retrieve("pm_card_visa")
        res.PaymentMethod._api_attach(card.id, customer=customer_id)
        res.Customer._api_update(customer_id, invoice_settings={"default_payment_method": card.id})
        item = self._line_items[0]
        subscription = res.Subscription(
            customer=customer_id,
            items=[{"plan": item["price"], "quantity": item["quantity"]}],
            metadata=dict(self._subscription_metadata),
        )
        self.customer, self.subscription = customer_id, subscription.id
        self.status, self.payment_status = "complete", "paid"
        res.store.dump_to_disk()
        schedule_webhook(res.Event("checkout.session.completed", self))


class PortalSession(res.StripeObject):  # type: ignore[misc]
    object = "billing_portal.session"
    _id_prefix = "bps_"

    def __init__(
        self,
        customer: str | None = None,
        return_url: str | None = None,
        **unsupported: Any,
    ) -> None:
        if unsupported:
            raise UserError(400, "Received unknown parameter: " + ", ".join(unsupported))
        if not customer:
            raise UserError(400, "Missing required param: customer.")
        try:
            res.Customer._api_retrieve(customer)
        except UserError:
            raise _missing("customer", customer, "customer", 400) from None
        super().__init__()
        self.customer = customer
        self.return_url = return_url
        self.configuration = None
        self.flow = None
        self.locale = None
        self.on_behalf_of = None
        self.url = f"{_base_url()}/_config/portal/{self.id}"


async def _post_data(request: web.Request) -> dict[str, Any]:
    data = await get_post_data(request) or {}
    data.pop("expand", None)
    return dict(data)


async def create_checkout(request: web.Request) -> web.Response:
    session = CheckoutSession(**await _post_data(request))
    return json_response(session._export())  # type: ignore[no-any-return]


async def get_checkout(request: web.Request) -> web.Response:
    session = CheckoutSession._api_retrieve(request.match_info["id"])
    return json_response(session._export())  # type: ignore[no-any-return]


async def complete_checkout(request: web.Request) -> web.Response:
    session = CheckoutSession._api_retrieve(request.match_info["id"])
    session._complete()
    return json_response(session._export())  # type: ignore[no-any-return]


async def checkout_page(request: web.Request) -> web.StreamResponse:
    """The hosted page, paid at once: complete, then back to ``success_url`` as Stripe does."""
    session = CheckoutSession._api_retrieve(request.match_info["id"])
    session._complete()
    raise web.HTTPFound(session.success_url.replace("{CHECKOUT_SESSION_ID}", session.id))


async def create_portal(request: web.Request) -> web.Response:
    portal = PortalSession(**await _post_data(request))
    return json_response(portal._export())  # type: ignore[no-any-return]


async def portal_page(request: web.Request) -> web.StreamResponse:
    portal = PortalSession._api_retrieve(request.match_info["id"])
    if not portal.return_url:
        return web.Response(text=f"Billing portal of {portal.customer}\n")
    raise web.HTTPFound(portal.return_url)


# ------------------------------------------------------------------ Idempotency-Key

_replays: dict[str, tuple[tuple[str, str, bytes], int, bytes]] = {}
_in_flight: set[str] = set()


def _idempotency_error(status: int, message: str) -> web.Response:
    body = {"error": {"type": "idempotency_error", "message": message}}
    return json_response(body, status=status)  # type: ignore[no-any-return]


@web.middleware
async def idempotency_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Stripe's idempotent requests: the same key and parameters replay the first response."""
    key = request.headers.get("Idempotency-Key")
    if request.method != "POST" or not key or not request.path.startswith("/v1/"):
        return await handler(request)
    fingerprint = (request.method, request.path, await request.read())
    if key in _replays:
        first, status, body = _replays[key]
        if first != fingerprint:
            return _idempotency_error(
                400,
                "Keys for idempotent requests can only be used with the same parameters "
                "they were first used with.",
            )
        return web.Response(
            body=body,
            status=status,
            content_type="application/json",
            headers={"Idempotency-Key": key, "Idempotent-Replayed": "true"},
        )
    if key in _in_flight:
        return _idempotency_error(
            409, "There is currently another in-progress request using this Idempotent Key."
        )
    _in_flight.add(key)
    try:
        try:
            response = await handler(request)
        except UserError as exc:
            response = exc.to_response()
    finally:
        _in_flight.discard(key)
    # As on Stripe: requests that failed validation or conflicted are not saved.
    saved = response.body if isinstance(response, web.Response) else None
    if isinstance(saved, bytes) and response.status not in (400, 409):
        _replays[key] = (fingerprint, response.status, saved)
    response.headers["Idempotency-Key"] = key
    return response


# ------------------------------------------------------------------ running


def install() -> web.Application:
    """Add the routes and middleware above to localstripe's app (before it starts)."""
    app.middlewares.insert(app.middlewares.index(auth_middleware) + 1, idempotency_middleware)
    app.router.add_post("/v1/checkout/sessions", create_checkout)
    app.router.add_get("/v1/checkout/sessions/{id}", get_checkout)
    app.router.add_get("/_config/checkout/{id}", checkout_page)
    app.router.add_post("/_config/checkout/{id}/complete", complete_checkout)
    app.router.add_post("/v1/billing_portal/sessions", create_portal)
    app.router.add_get("/_config/portal/{id}", portal_page)
    return app  # type: ignore[no-any-return]


def main(argv: list[str]) -> None:
    if len(argv) != 2 or not argv[0].isdigit():
        sys.exit("usage: python -m tests.support.localstripe_ext PORT PICKLE_PATH")
    _settings.update(port=int(argv[0]), pickle_path=Path(argv[1]))
    res.store.try_load_from_disk()
    logger = logging.getLogger("aiohttp.access")
    logger.setLevel(logging.INFO)
    logger.addHandler(logging.StreamHandler())
    web.run_app(install(), host=HOST, port=_settings["port"], access_log=logger, print=None)


if __name__ == "__main__":
    main(sys.argv[1:])
