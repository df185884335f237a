"""Offline billing for development, the demo and tests: no Stripe account needed.

The in-memory provider, with its checkout and portal served as pages of the app itself
(``/billing/stub/...``). Paying there produces the same events a Stripe webhook would
deliver, and the app applies them through the same use case. Its state lives in the
process: after a restart, subscriptions made earlier stay in the database as they were.
"""

from __future__ import annotations

from adapters.memory.billing import InMemoryBillingGateway
from saascore.ports import Clock


class StubBillingGateway(InMemoryBillingGateway):
    def __init__(self, base_url: str, *, webhook_secret: str = "", clock: Clock | None = None):
        super().__init__(
            webhook_secret=webhook_secret,
            clock=clock,
            pages_url=f"{base_url.rstrip('/')}/billing/stub",
        )
