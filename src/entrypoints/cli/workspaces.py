"""``saascore workspaces``: list, show, create, rename and delete workspaces; manage members."""

from __future__ import annotations

import click

from entrypoints.bootstrap import Services
from entrypoints.cli.admin import (
    JSON_OPTION,
    OPERATOR,
    ROLE_CHOICE,
    change,
    find_user,
    find_workspace,
    member_json,
    read,
    when,
    workspace_json,
)
from entrypoints.cli.common import print_json, print_table, printable, with_services
from entrypoints.cli.errors import CliError
from saascore import billing
from saascore.context import Tx
from saascore.models import MemberView, Role, User, Workspace
from saascore.workspaces import (
    add_member,
    change_role,
    create_workspace,
    list_members,
    remove_member,
    rename_workspace,
)


@click.group()
def workspaces() -> None:
    """Look at and manage workspaces and their members (WORKSPACE is a slug or an id)."""


@workspaces.command("list")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 10_000))
@click.option("--offset", default=0, type=click.IntRange(0))
@JSON_OPTION
def workspaces_list(limit: int, offset: int, as_json: bool) -> None:
    """List workspaces by name."""

    async def work(services: Services) -> list[Workspace]:
        async with services.reader() as uow:
            return list(await uow.workspaces.list(limit=limit, offset=offset))

    found = with_services(work)
    if as_json:
        print_json([workspace_json(w) for w in found])
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

    async def work(tx: Tx) -> tuple[Workspace, list[MemberView]]:
        found = await find_workspace(tx.uow, workspace)
        return found, list(await list_members(tx, found.id))

    found, members = read(work)
    if as_json:
        print_json({**workspace_json(found), "members": [member_json(m) for m in members]})
        return
    click.echo(printable(f"{found.name}  (slug {found.slug}, id {found.id})"))
    click.echo(f"created {found.created_at.isoformat()}, {len(members)} members")
    print_table(
        ("EMAIL", "NAME", "ROLE"), ((m.user.email, m.user.name, m.membership.role) for m in members)
    )


@workspaces.command("create")
@click.argument("name")
@click.option("--owner", required=True, help="The owner: an existing user's email or id.")
def workspaces_create(name: str, owner: str) -> None:
    """Create a workspace called NAME owned by --owner; prints its slug and id."""

    async def work(tx: Tx) -> Workspace:
        owner_id = (await find_user(tx.uow, owner)).id
        return await create_workspace(tx, name=name, owner_id=owner_id)

    created = change(work)
    click.echo(f"created workspace {created.name}: slug {created.slug}, id {created.id}")


@workspaces.command("rename")
@click.argument("workspace")
@click.argument("name")
def workspaces_rename(workspace: str, name: str) -> None:
    """Rename WORKSPACE to NAME. The slug stays, so links keep working."""

    async def work(tx: Tx) -> Workspace:
        found = await find_workspace(tx.uow, workspace)
        return await rename_workspace(tx, found.id, name=name)

    renamed = change(work)
    click.echo(f"renamed workspace {renamed.slug} to {renamed.name}")


@workspaces.command("delete")
@click.argument("workspace")
@click.option("--yes", is_flag=True, help="Do not ask to type the slug.")
def workspaces_delete(workspace: str, yes: bool) -> None:
    """Delete WORKSPACE with its memberships and invites; its audit trail stays. Without
    --yes, asks you to type the workspace's slug and refuses anything else (exit 1)."""

    async def work(services: Services) -> Workspace:
        async with services.reader() as uow:
            found = await find_workspace(uow, workspace)
        if not yes:  # asked between transactions: no lock is held while waiting
            _confirm_slug(found)
        await billing.delete_workspace(services.deps.ctx(OPERATOR), found.id)
        return found

    deleted = with_services(work)
    click.echo(f"deleted workspace {deleted.name} (slug {deleted.slug}, id {deleted.id})")


def _confirm_slug(workspace: Workspace) -> None:
    typed = click.prompt(
        f"This deletes {workspace.name}, its memberships and invites. Type its slug to confirm",
        default="",
        show_default=False,
    )
    if typed.strip() != workspace.slug:
        raise CliError(f"you typed {typed!r}, not {workspace.slug!r}: nothing deleted", 1)


@workspaces.command("members")
@click.argument("workspace")
@JSON_OPTION
def workspaces_members(workspace: str, as_json: bool) -> None:
    """List the members of WORKSPACE by email, with their roles."""

    async def work(tx: Tx) -> list[MemberView]:
        return list(await list_members(tx, (await find_workspace(tx.uow, workspace)).id))

    members = read(work)
    if as_json:
        print_json([member_json(m) for m in members])
        return
    print_table(
        ("EMAIL", "NAME", "ROLE", "JOINED", "USER ID"),
        (
            (
                m.user.email,
                m.user.name,
                m.membership.role,
                when(m.membership.created_at),
                m.user.id,
            )
            for m in members
        ),
    )


@workspaces.command("add-member")
@click.argument("workspace")
@click.argument("user")
@click.option("--role", type=ROLE_CHOICE, required=True, help="The new member's role.")
def workspaces_add_member(workspace: str, user: str, role: str) -> None:
    """Add an existing USER to WORKSPACE directly (people otherwise join by invite)."""

    async def work(tx: Tx) -> tuple[Workspace, User]:
        found, member = await find_workspace(tx.uow, workspace), await find_user(tx.uow, user)
        await add_member(tx, found.id, user_id=member.id, role=Role(role))
        return found, member

    found, member = change(work)
    click.echo(f"added {member.email} to {found.slug} as {role}")


@workspaces.command("set-role")
@click.argument("workspace")
@click.argument("user")
@click.argument("role", type=ROLE_CHOICE)
def workspaces_set_role(workspace: str, user: str, role: str) -> None:
    """Give USER the ROLE in WORKSPACE; the last owner cannot step down (exit 6)."""

    async def work(tx: Tx) -> tuple[Workspace, User]:
        found, member = await find_workspace(tx.uow, workspace), await find_user(tx.uow, user)
        await change_role(tx, found.id, user_id=member.id, role=Role(role))
        return found, member

    found, member = change(work)
    click.echo(f"{member.email} is now {role} in {found.slug}")


@workspaces.command("remove-member")
@click.argument("workspace")
@click.argument("user")
def workspaces_remove_member(workspace: str, user: str) -> None:
    """Remove USER from WORKSPACE; the last owner cannot be removed (exit 6)."""

    async def work(tx: Tx) -> tuple[Workspace, User]:
        found, member = await find_workspace(tx.uow, workspace), await find_user(tx.uow, user)
        await remove_member(tx, found.id, user_id=member.id)
        return found, member

    found, member = change(work)
    click.echo(f"removed {member.email} from {found.slug}")


# --- invites -------------------------------------------------------------------------------
