"""Request and response bodies of the JSON API: attrs classes, so Litestar documents them
in the OpenAPI schema. Tokens never appear in a response after sign-in hands one out."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from attrs import frozen
from litestar.params import KwargDefinition

from saascore.models import (
    AuditEvent,
    BillingView,
    InviteView,
    MemberView,
    Plan,
    Role,
    Session,
    User,
    WorkspaceSummary,
)

# What a name may hold, said in the schema (saascore.users.clean_name enforces it): no
# control characters or bidirectional overrides (and at most 100 characters once runs of
# whitespace are collapsed, which a schema cannot say).
Name = Annotated[
    str,
    KwargDefinition(
        pattern="^[^\\x00-\\x1f\\x7f-\\x9f\\u061c\\u200e\\u200f\\u202a-\\u202e\\u2066-\\u2069]*$",
    ),
]


@frozen
class FieldErrorOut:
    field: str
    message: str


@frozen
class ProblemOut:
    """Every error answer: an RFC 9457 problem body, served as ``application/problem+json``."""

    type: str
    title: str
    status: int
    detail: str
    code: str  # stable and machine-readable, e.g. not_found, last_owner, csrf_failed
    request_id: str | None
    errors: list[FieldErrorOut] | None = None  # bad input (400): every bad field


@frozen
class LoginLinkIn:
    email: str
    next: str | None = None


@frozen
class ConfirmIn:
    token: str


@frozen
class Accepted:
    detail: str


@frozen
class UserOut:
    id: str
    email: str
    name: str
    created_at: datetime
    last_login_at: datetime | None

    @classmethod
    def of(cls, user: User) -> UserOut:
        return cls(user.id, user.email, user.name, user.created_at, user.last_login_at)


@frozen
class MeOut:
    user: UserOut
    csrf_token: str  # send it back as X-CSRF-Token on every POST, PATCH and DELETE


@frozen
class SignedInOut:
    user: UserOut
    csrf_token: str
    next: str | None
    new_user: bool


@frozen
class ProfileIn:
    name: Name


@frozen
class SessionOut:
    id: str
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    ip: str | None
    user_agent: str | None
    current: bool

    @classmethod
    def of(cls, session: Session, current_id: str) -> SessionOut:
        return cls(
            session.id,
            session.created_at,
            session.last_seen_at,
            session.expires_at,
            session.ip,
            session.user_agent,
            session.id == current_id,
        )


@frozen
class WorkspaceIn:
    name: Name


@frozen
class WorkspaceOut:
    id: str
    name: str
    slug: str
    created_at: datetime
    role: str

    @classmethod
    def of(cls, summary: WorkspaceSummary) -> WorkspaceOut:
        w = summary.workspace
        return cls(w.id, w.name, w.slug, w.created_at, str(summary.role))


@frozen
class RenameIn:
    name: Name


@frozen
class MemberOut:
    user_id: str
    email: str
    name: str
    role: str
    joined_at: datetime

    @classmethod
    def of(cls, view: MemberView) -> MemberOut:
        return cls(
            view.user.id,
            view.user.email,
            view.user.name,
            str(view.membership.role),
            view.membership.created_at,
        )


@frozen
class RoleIn:
    role: Role


@frozen
class TransferIn:
    user_id: str


@frozen
class InviteIn:
    email: str
    role: Role = Role.MEMBER


@frozen
class PersonOut:
    id: str
    name: str
    email: str


@frozen
class InviteOut:
    """A pending invite as its workspace's admins see it: never its token."""

    id: str
    email: str
    role: str
    inviter: PersonOut | None
    created_at: datetime
    expires_at: datetime
    expired: bool

    @classmethod
    def of(cls, view: InviteView, now: datetime) -> InviteOut:
        i, who = view.invite, view.inviter
        return cls(
            i.id,
            i.email,
            str(i.role),
            PersonOut(who.id, who.name, who.email) if who else None,
            i.created_at,
            i.expires_at,
            now >= i.expires_at,
        )


@frozen
class InviteTokenIn:
    token: str


@frozen
class InvitationOut:
    """An invite as the invited person sees it."""

    workspace_id: str
    workspace_name: str
    inviter_name: str | None
    email: str
    role: str
    expires_at: datetime

    @classmethod
    def of(cls, view: InviteView) -> InvitationOut:
        return cls(
            view.workspace.id,
            view.workspace.name,
            view.inviter.name if view.inviter else None,
            view.invite.email,
            str(view.invite.role),
            view.invite.expires_at,
        )


@frozen
class JoinedOut:
    workspace_id: str
    role: str


@frozen
class AuditEventOut:
    seq: int | None
    id: str
    action: str
    actor_id: str | None
    target: str | None
    data: dict[str, Any]
    ip: str | None
    user_agent: str | None
    request_id: str | None
    created_at: datetime

    @classmethod
    def of(cls, event: AuditEvent) -> AuditEventOut:
        return cls(
            event.seq,
            event.id,
            event.action,
            event.actor_id,
            event.target,
            dict(event.data),
            event.ip,
            event.user_agent,
            event.request_id,
            event.created_at,
        )


@frozen
class AuditPageOut:
    events: list[AuditEventOut]
    next_before: int | None  # pass as ?before= for the next page; null on the last one


@frozen
class PlanOut:
    name: str
    price_id: str | None
    seat_limit: int | None  # None: no limit

    @classmethod
    def of(cls, plan: Plan) -> PlanOut:
        return cls(plan.name, plan.price_id, plan.seat_limit)


@frozen
class BillingOut:
    plan: PlanOut
    status: str | None  # the provider's raw status; None before the first subscription
    entitled: bool
    seats_used: int
    seat_limit: int | None
    current_period_end: datetime | None
    cancel_at_period_end: bool
    collection_paused: bool
    grace_ends_at: datetime | None
    has_subscription: bool

    @classmethod
    def of(cls, view: BillingView) -> BillingOut:
        return cls(
            plan=PlanOut.of(view.plan),
            status=str(view.status) if view.status else None,
            entitled=view.entitled,
            seats_used=view.seats_used,
            seat_limit=view.seat_limit,
            current_period_end=view.current_period_end,
            cancel_at_period_end=view.cancel_at_period_end,
            collection_paused=view.collection_paused,
            grace_ends_at=view.grace_ends_at,
            has_subscription=view.subscription_id is not None,
        )


@frozen
class CheckoutIn:
    plan: str


@frozen
class RedirectOut:
    url: str
    kind: str  # "checkout" or "portal"


@frozen
class WebhookOut:
    received: str  # the event id
    outcome: str  # applied, stale, ignored or duplicate
