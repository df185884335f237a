"""Billing gateways: Stripe, the offline stub, and "switched off"."""

from adapters.billing.disabled import DisabledBillingGateway
from adapters.billing.stripe import StripeBillingGateway
from adapters.billing.stub import StubBillingGateway

__all__ = ["DisabledBillingGateway", "StripeBillingGateway", "StubBillingGateway"]
