"""What the operator commands share: acting as the system, finding workspaces and users by
slug, email or id, and printing them.

Operators act as the system (``Actor.system()``): an owner's rights in every workspace
without being a member. A WORKSPACE argument is a slug or an id; a USER argument is an
email or an id. Every change is audited like the same change made in the app.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, TypeVar

import click

from entrypoints.bootstrap import Services
from entrypoints.cli.common import with_services
from saascore.context import Tx
from saascore.errors import NotFound
from saascore.models import Actor, MemberView, Role, Session, User, Workspace
from saascore.ports import UnitOfWork

T = TypeVar("T")
OPERATOR = Actor.system()
JSON_OPTION = click.option("--json", "as_json", is_flag=True, help="Print JSON.")
ROLE_CHOICE = click.Choice([str(role) for role in Role])
Work = Callable[[Tx], Awaitable[T]]


def read(work: Work[T]) -> T:
    """Run ``work`` as the operator in one read transaction: it waits for no writer and
    changes nothing."""

    async def run(services: Services) -> T:
        async with services.transaction(OPERATOR, write=False) as tx:
            return await work(tx)

    return with_services(run)


def change(work: Work[T]) -> T:
    """Run ``work`` as the operator in one transaction, committed when it returns."""

    async def run(services: Services) -> T:
        async with services.transaction(OPERATOR) as tx:
            return await work(tx)

    return with_services(run)


async def find_workspace(uow: UnitOfWork, ref: str) -> Workspace:
    """The workspace with slug or id ``ref``, or ``NotFound``."""
    found = await uow.workspaces.get_by_slug(ref) or await uow.workspaces.get(ref)
    if found is None:
        raise NotFound(f"no workspace with slug or id {ref!r}")
    return found


async def find_user(uow: UnitOfWork, ref: str) -> User:
    """The user with email or id ``ref``, or ``NotFound``."""
    found = await uow.users.get(ref)
    if found is None and "@" in ref:
        found = await uow.users.get_by_email(ref.strip().lower())
    if found is None:
        raise NotFound(f"no user with email or id {ref!r}")
    return found


def when(value: datetime | None) -> str:
    return f"{value:%Y-%m-%d %H:%M}" if value is not None else "never"


def user_json(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "email": user.email,
        "name": user.name,
        "created_at": user.created_at.isoformat(),
        "last_login_at": user.last_login_at.isoformat() if user.last_login_at else None,
    }


def workspace_json(workspace: Workspace) -> dict[str, Any]:
    return {
        "id": workspace.id,
        "name": workspace.name,
        "slug": workspace.slug,
        "created_at": workspace.created_at.isoformat(),
    }


def member_json(member: MemberView) -> dict[str, Any]:
    return {
        "user_id": member.user.id,
        "email": member.user.email,
        "name": member.user.name,
        "role": str(member.membership.role),
        "joined_at": member.membership.created_at.isoformat(),
    }


def session_json(session: Session) -> dict[str, Any]:
    return {
        "id": session.id,
        "created_at": session.created_at.isoformat(),
        "last_seen_at": session.last_seen_at.isoformat(),
        "expires_at": session.expires_at.isoformat(),
        "ip": session.ip,
        "user_agent": session.user_agent,
    }


# --- users ---------------------------------------------------------------------------------
