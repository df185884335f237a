"""The ports: what saascore needs from the world, as small async protocols.

Adapters implement them with one technology each (``adapters.sql``, ``adapters.memory``, ...).
Every method takes and returns saascore types only.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from types import TracebackType
from typing import Protocol, Self, runtime_checkable

from saascore.models import (
    AuditEvent,
    EmailMessage,
    Membership,
    MemberView,
    RateDecision,
    RateLimit,
    Role,
    User,
    Workspace,
    WorkspaceSummary,
)


class Clock(Protocol):
    """Tells the time."""

    def now(self) -> datetime:
        """Return the current time, timezone-aware, in UTC."""


class Ids(Protocol):
    """Makes identifiers."""

    def new(self) -> str:
        """Return a new identifier, unique for this installation."""


class EmailSender(Protocol):
    """Delivers email."""

    async def send(self, message: EmailMessage) -> None:
        """Deliver ``message`` or raise ``DeliveryFailed`` (refused, unreachable, timed out).

        Raising means the message was not accepted and may be retried; returning means the
        server accepted it.
        """


class RateLimiter(Protocol):
    """Counts hits per key and policy over a moving window."""

    async def hit(self, limit: RateLimit, key: str) -> RateDecision:
        """Count one hit for ``key`` under ``limit`` and say whether it is admitted.

        A refused hit is not counted. Never admits more than ``limit.limit`` hits for one key
        in any window of ``limit.window_seconds``. Raises ``ExternalServiceError`` when the
        counter storage cannot be reached.
        """


class UserRepository(Protocol):
    """Users, looked up by id or by normalised email."""

    async def add(self, user: User) -> None:
        """Store a new user. Raises ``Conflict`` when the email is taken."""

    async def get(self, user_id: str) -> User | None:
        """Return the user, or ``None``."""

    async def get_by_email(self, email: str) -> User | None:
        """Return the user with this normalised email, or ``None``."""

    async def update(self, user: User) -> None:
        """Store the user's changed fields. Raises ``Conflict`` when the email is taken."""

    async def list(self, *, limit: int = 100, offset: int = 0) -> Sequence[User]:
        """Return users ordered by email."""


class WorkspaceRepository(Protocol):
    """Workspaces, looked up by id or slug."""

    async def add(self, workspace: Workspace) -> None:
        """Store a new workspace. Raises ``Conflict`` when the slug is taken."""

    async def get(self, workspace_id: str) -> Workspace | None:
        """Return the workspace, or ``None``."""

    async def get_by_slug(self, slug: str) -> Workspace | None:
        """Return the workspace with this slug, or ``None``."""

    async def slugs_like(self, base: str) -> set[str]:
        """Return the taken slugs that are ``base`` or start with ``base-``."""

    async def update(self, workspace: Workspace) -> None:
        """Store the workspace's changed fields."""

    async def delete(self, workspace_id: str) -> None:
        """Delete the workspace and its memberships (audit events stay)."""

    async def list_for_user(self, user_id: str) -> Sequence[WorkspaceSummary]:
        """Return the user's workspaces with their role, ordered by name."""

    async def list(self, *, limit: int = 100, offset: int = 0) -> Sequence[Workspace]:
        """Return all workspaces ordered by name (operators only)."""


class MembershipRepository(Protocol):
    """Who belongs to which workspace, with which role."""

    async def add(self, membership: Membership) -> None:
        """Store a new membership. Raises ``Conflict`` when the user is already a member."""

    async def get(self, workspace_id: str, user_id: str) -> Membership | None:
        """Return the membership, or ``None``."""

    async def set_role(self, workspace_id: str, user_id: str, role: Role) -> None:
        """Change a member's role."""

    async def remove(self, workspace_id: str, user_id: str) -> None:
        """Delete a membership."""

    async def count_owners(self, workspace_id: str) -> int:
        """Return how many owners the workspace has."""

    async def list_members(self, workspace_id: str) -> Sequence[MemberView]:
        """Return the workspace's members with their users, ordered by email."""


class AuditLog(Protocol):
    """The append-only audit trail."""

    async def append(self, event: AuditEvent) -> None:
        """Record an event in the current transaction."""

    async def list(
        self, *, workspace_id: str | None = None, limit: int = 100
    ) -> Sequence[AuditEvent]:
        """Return the newest events first, optionally for one workspace."""


@runtime_checkable  # web frameworks check dependency types with isinstance()
class UnitOfWork(Protocol):
    """One transaction over every repository; nothing is kept unless ``commit`` is awaited.

    Use as ``async with uow_factory() as uow: ...; await uow.commit()``. Leaving the block
    without committing rolls back. Raises ``DatabaseUnavailable`` when storage is down.
    """

    @property
    def users(self) -> UserRepository: ...

    @property
    def workspaces(self) -> WorkspaceRepository: ...

    @property
    def memberships(self) -> MembershipRepository: ...

    @property
    def audit(self) -> AuditLog: ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    async def commit(self) -> None:
        """Make every change of this unit of work durable."""

    async def rollback(self) -> None:
        """Discard every change of this unit of work."""


UnitOfWorkFactory = Callable[[], UnitOfWork]
