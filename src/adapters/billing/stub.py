"""Offline billing for development, the demo and tests: no Stripe account needed.

The in-memory provider, with its checkout and portal served as pages of the app itself,
under the address the app gives it. Paying there produces the same events a Stripe webhook
would deliver, and the app applies them through the same use case. Its state lives in the
process: after a restart, subscriptions made earlier stay in the database as they were.
"""

from __future__ import annotations

from adapters.billing.local import InMemoryBillingGateway
from saascore.ports import Clock


class StubBillingGateway(InMemoryBillingGateway):
    """``pages_url``: where the app serves the stub's checkout and portal pages (the app
    decides its routes; this adapter only builds links under them)."""

    def __init__(self, pages_url: str, *, webhook_secret: str = "", clock: Clock | None = None):
        super().__init__(webhook_secret=webhook_secret, clock=clock, pages_url=pages_url)
