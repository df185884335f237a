"""Rate limits over HTTP: the general per-client limit as middleware, and the stricter
sign-in policies enforced inside their handlers.

A refused request gets 429 with ``Retry-After``; every limited response carries the
``RateLimit-Limit``, ``RateLimit-Remaining`` and ``RateLimit-Reset`` headers.
"""

from __future__ import annotations

from litestar.datastructures import MutableScopeHeaders
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from entrypoints.bootstrap import Services
from entrypoints.web.clientip import rate_key
from saascore.errors import RateLimited
from saascore.models import RateDecision, RateLimit

EXEMPT_OPT = "skip_rate_limit"
# Probes and docs are never limited: a load balancer must always see the truth.
UNLIMITED_PREFIXES = ("/healthz", "/readyz", "/schema", "/static")


def headers_for(decision: RateDecision, window_seconds: int) -> dict[str, str]:
    reset = decision.reset_after if not decision.allowed else window_seconds
    return {
        "RateLimit-Limit": str(decision.limit),
        "RateLimit-Remaining": str(decision.remaining),
        "RateLimit-Reset": str(reset),
    }


async def enforce(services: Services, policy: RateLimit, key: str) -> RateDecision:
    """Count a hit; raise ``RateLimited`` (429) when the policy refuses it."""
    decision = await services.limiter.hit(policy, key)
    if not decision.allowed:
        raise RateLimited(decision.reset_after, limit=decision.limit)
    return decision


class GeneralRateLimitMiddleware(ASGIMiddleware):
    """``RATE_LIMIT_MAX`` requests per ``RATE_LIMIT_WINDOW_MINUTES`` per client, on the API
    and sign-in routes (not on health checks, the schema or routes that opt out)."""

    scopes = ("http",)  # type: ignore[assignment]
    exclude_opt_key = EXEMPT_OPT
    should_bypass_for_scope = staticmethod(
        lambda scope: scope["path"].startswith(UNLIMITED_PREFIXES)
    )

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        services: Services = scope["litestar_app"].state.services
        policy = services.policies.general
        key = rate_key(scope, services.settings.trusted_networks)
        decision = await enforce(services, policy, key)
        extra = headers_for(decision, policy.window_seconds)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableScopeHeaders.from_message(message)
                for name, value in extra.items():
                    # A stricter policy that refused the request has set its own numbers.
                    if name not in headers:
                        headers[name] = value
            await send(message)

        await next_app(scope, receive, send_with_headers)
