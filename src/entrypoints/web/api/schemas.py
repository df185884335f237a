"""Request and response bodies of the JSON API: attrs classes, so Litestar documents them
in the OpenAPI schema. Tokens never appear in a response after sign-in hands one out."""

from __future__ import annotations

from datetime import datetime

from attrs import frozen

from saascore.models import Session, User, WorkspaceSummary


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
    name: str


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
    name: str


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
