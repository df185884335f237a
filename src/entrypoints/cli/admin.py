"""``saascore users`` and ``saascore workspaces``: what operators look at."""

from __future__ import annotations

from typing import Any

import click

from entrypoints.bootstrap import Services
from entrypoints.cli.common import print_json, print_table, with_services
from saascore.errors import NotFound
from saascore.models import Actor, MemberView, User, Workspace
from saascore.users import list_users
from saascore.workspaces import list_members

JSON_OPTION = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


def _user_json(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "email": user.email,
        "name": user.name,
        "created_at": user.created_at.isoformat(),
        "last_login_at": user.last_login_at.isoformat() if user.last_login_at else None,
    }


def _workspace_json(workspace: Workspace) -> dict[str, Any]:
    return {
        "id": workspace.id,
        "name": workspace.name,
        "slug": workspace.slug,
        "created_at": workspace.created_at.isoformat(),
    }


@click.group()
def users() -> None:
    """Look at users."""


@users.command("list")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 10_000))
@click.option("--offset", default=0, type=click.IntRange(0))
@JSON_OPTION
def users_list(limit: int, offset: int, as_json: bool) -> None:
    """List users by email."""

    async def work(services: Services) -> list[User]:
        async with services.uow() as uow:
            return list(await list_users(uow, limit=limit, offset=offset))

    found = with_services(work)
    if as_json:
        print_json([_user_json(u) for u in found])
        return
    print_table(
        ("EMAIL", "NAME", "LAST LOGIN", "ID"),
        ((u.email, u.name, u.last_login_at or "never", u.id) for u in found),
    )


@click.group()
def workspaces() -> None:
    """Look at workspaces."""


@workspaces.command("list")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 10_000))
@click.option("--offset", default=0, type=click.IntRange(0))
@JSON_OPTION
def workspaces_list(limit: int, offset: int, as_json: bool) -> None:
    """List workspaces by name."""

    async def work(services: Services) -> list[Workspace]:
        async with services.uow() as uow:
            return list(await uow.workspaces.list(limit=limit, offset=offset))

    found = with_services(work)
    if as_json:
        print_json([_workspace_json(w) for w in found])
        return
    print_table(
        ("NAME", "SLUG", "CREATED", "ID"),
        ((w.name, w.slug, w.created_at.date(), w.id) for w in found),
    )


@workspaces.command("show")
@click.argument("workspace")
@JSON_OPTION
def workspaces_show(workspace: str, as_json: bool) -> None:
    """Show a WORKSPACE (slug or id) and its members."""

    async def work(services: Services) -> tuple[Workspace, list[MemberView]]:
        async with services.uow() as uow:
            found = await uow.workspaces.get_by_slug(workspace) or await uow.workspaces.get(
                workspace
            )
            if found is None:
                raise NotFound(f"no workspace with slug or id {workspace!r}")
            return found, list(await list_members(uow, Actor.system(), found.id))

    found, members = with_services(work)
    if as_json:
        print_json(
            {
                **_workspace_json(found),
                "members": [
                    {"user_id": m.user.id, "email": m.user.email, "role": str(m.membership.role)}
                    for m in members
                ],
            }
        )
        return
    click.echo(f"{found.name}  (slug {found.slug}, id {found.id})")
    click.echo(f"created {found.created_at.isoformat()}, {len(members)} members")
    print_table(
        ("EMAIL", "NAME", "ROLE"), ((m.user.email, m.user.name, m.membership.role) for m in members)
    )
