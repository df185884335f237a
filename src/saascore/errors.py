"""Every error saascore raises, under one root.

Entrypoints map these to HTTP statuses and CLI exit codes in one table each; the ``code``
of every class is stable and machine-readable, so clients can branch on it.

    SaasCoreError
    ├── NotAuthenticated              nobody is signed in (or the session ended)
    ├── NotFound                      no such thing, or not yours to see
    ├── PermissionDenied              you are a member, but your role does not allow it
    ├── Conflict                      the change clashes with current state
    │   └── LastOwner                 the workspace would be left without an owner
    ├── InvalidInput                  bad values; ``fields`` names each one
    ├── LimitExceeded
    │   ├── RateLimited               too many requests; ``retry_after`` seconds
    │   └── SeatLimit                 the plan has no seat left
    ├── TokenInvalid                  unknown, used or revoked token
    │   └── TokenExpired
    ├── Gone                          it existed, and can no longer be used
    │   └── InviteGone                accepted, declined, revoked, replaced or expired
    ├── ExternalServiceError          a dependency is down; try again later
    │   ├── DatabaseUnavailable
    │   ├── DeliveryFailed
    │   └── BillingUnavailable
    ├── BillingNotConfigured
    └── WebhookRejected               a billing webhook with a bad or stale signature
"""

from __future__ import annotations

from collections.abc import Mapping


class SaasCoreError(Exception):
    """The root of every error saascore raises on purpose."""

    code = "error"

    def __init__(self, message: str = "") -> None:
        super().__init__(message or self.__class__.__doc__ or self.code)

    @property
    def message(self) -> str:
        return str(self.args[0])


class NotAuthenticated(SaasCoreError):
    """Sign in first: there is no session, or it has ended."""

    code = "not_authenticated"


class NotFound(SaasCoreError):
    """The resource does not exist, or you are not allowed to know it does."""

    code = "not_found"


class PermissionDenied(SaasCoreError):
    """Your role in this workspace does not allow that."""

    code = "permission_denied"


class Conflict(SaasCoreError):
    """That change conflicts with the current state."""

    code = "conflict"


class LastOwner(Conflict):
    """A workspace must keep at least one owner."""

    code = "last_owner"


class InvalidInput(SaasCoreError):
    """One or more values are not acceptable; ``fields`` maps each field to its problem."""

    code = "invalid_input"

    def __init__(self, fields: Mapping[str, str], message: str = "") -> None:
        self.fields = dict(fields)
        summary = "; ".join(f"{name}: {problem}" for name, problem in self.fields.items())
        super().__init__(message or summary or "invalid input")


class LimitExceeded(SaasCoreError):
    """A limit was reached."""

    code = "limit_exceeded"


class RateLimited(LimitExceeded):
    """Too many requests; try again after ``retry_after`` seconds."""

    code = "rate_limited"

    def __init__(self, retry_after: int, message: str = "", *, limit: int | None = None) -> None:
        self.retry_after = max(1, retry_after)
        self.limit = limit
        super().__init__(message or f"too many requests, retry in {self.retry_after}s")


class SeatLimit(LimitExceeded):
    """The workspace's plan has no seat left."""

    code = "plan_limit_reached"


class TokenInvalid(SaasCoreError):
    """The token is unknown, already used, or revoked."""

    code = "invalid_or_expired_token"


class TokenExpired(TokenInvalid):
    """The token has expired."""


class Gone(SaasCoreError):
    """That existed, but can no longer be used."""

    code = "gone"


class InviteGone(Gone):
    """This invite was already used, declined, revoked, replaced or has expired."""

    code = "invite_gone"


class ExternalServiceError(SaasCoreError):
    """A service saascore depends on did not answer; try again later."""

    code = "service_unavailable"


class DatabaseUnavailable(ExternalServiceError):
    """The database could not be reached."""

    code = "database_unavailable"


class DeliveryFailed(ExternalServiceError):
    """An email could not be delivered."""

    code = "delivery_failed"


class BillingUnavailable(ExternalServiceError):
    """The billing provider could not be reached."""

    code = "billing_unavailable"


class BillingNotConfigured(SaasCoreError):
    """Billing is not configured for this installation."""

    code = "billing_not_configured"


class WebhookRejected(SaasCoreError):
    """A webhook whose signature is missing, wrong or too old, or whose body is not an event."""

    code = "invalid_webhook"
