"""The policies use cases follow, as plain values: lifetimes, switches, plans and retry
schedules. The composition root builds them from settings into ``saascore.Deps``; tests
build their own."""

from __future__ import annotations

from datetime import timedelta

from attrs import frozen

from saascore.errors import InvalidInput
from saascore.models import Plan, RateLimit

FREE = Plan(name="free", price_id=None, seat_limit=None)


@frozen
class AuthPolicy:
    """Lifetimes and switches for sign-in, from settings."""

    base_url: str = "http://127.0.0.1:8000"
    login_link_ttl: timedelta = timedelta(minutes=10)
    session_idle_ttl: timedelta = timedelta(days=7)
    session_absolute_ttl: timedelta = timedelta(days=30)
    signup_enabled: bool = True


@frozen
class BillingPolicy:
    """The plans on offer and how long a past-due subscription keeps its plan.

    ``plans[0]`` is the plan of a workspace that pays nothing; it must be free.
    """

    plans: tuple[Plan, ...] = (FREE,)
    base_url: str = "http://127.0.0.1:8000"
    past_due_grace: timedelta = timedelta(days=7)
    refetch_timeout: timedelta = timedelta(seconds=5)  # a webhook's re-fetch from the provider

    def __attrs_post_init__(self) -> None:
        if not self.plans or not self.plans[0].is_free:
            raise ValueError("the first plan must be the free one (no price id)")

    @property
    def free(self) -> Plan:
        return self.plans[0]

    def for_price(self, price_id: str | None) -> Plan | None:
        return next((p for p in self.plans if price_id and p.price_id == price_id), None)

    def paid(self, name: str) -> Plan:
        """The paid plan called ``name``; ``InvalidInput`` for a free or unknown name."""
        plan = next((p for p in self.plans if p.name == name and not p.is_free), None)
        if plan is None:
            offered = ", ".join(p.name for p in self.plans if not p.is_free) or "none"
            raise InvalidInput({"plan": f"no paid plan {name!r}; plans on offer: {offered}"})
        return plan

    def billing_url(self, workspace_id: str) -> str:
        return f"{self.base_url}/workspaces/{workspace_id}/billing"


@frozen
class InvitePolicy:
    base_url: str = "http://127.0.0.1:8000"
    ttl: timedelta = timedelta(days=7)


@frozen
class DeliveryPolicy:
    max_attempts: int = 8
    first_retry: timedelta = timedelta(seconds=30)
    longest_retry: timedelta = timedelta(hours=1)
    lease: timedelta = timedelta(minutes=5)
    batch: int = 20

    def retry_delay(self, attempts: int) -> timedelta:
        """30 s, 1 min, 2 min, 4 min, ... capped at ``longest_retry``."""
        return min(self.longest_retry, self.first_retry * (1 << max(0, attempts - 1)))


_GENERAL = RateLimit("general", 300, 5 * 60)
_LOGIN_LINK_PER_EMAIL = RateLimit("login_link_email", 5, 15 * 60)
_LOGIN_LINK_PER_IP = RateLimit("login_link_ip", 20, 15 * 60)
_CONFIRM_PER_IP = RateLimit("confirm_ip", 30, 15 * 60)
_INVITES_PER_WORKSPACE = RateLimit("invites_workspace", 50, 60 * 60)
_WEBHOOK_PER_IP = RateLimit("webhook_ip", 600, 60)


@frozen
class RateLimits:
    """The request limits: the general one per client, and the stricter ones for sign-in,
    invitations and webhooks. Defaults as the settings' defaults."""

    general: RateLimit = _GENERAL
    login_link_per_email: RateLimit = _LOGIN_LINK_PER_EMAIL
    login_link_per_ip: RateLimit = _LOGIN_LINK_PER_IP
    confirm_per_ip: RateLimit = _CONFIRM_PER_IP
    invites_per_workspace: RateLimit = _INVITES_PER_WORKSPACE
    webhook_per_ip: RateLimit = _WEBHOOK_PER_IP
