"""``saascore invites``: create, list, revoke and resend invitations (never printing tokens)."""

from __future__ import annotations

from typing import Any

import click

from entrypoints.cli.admin import (
    JSON_OPTION,
    ROLE_CHOICE,
    change,
    find_workspace,
    read,
)
from entrypoints.cli.common import print_json, print_table
from saascore.context import Tx
from saascore.invites import Issued, create_invite, list_invites, resend_invite, revoke_invite
from saascore.models import InviteView, Role


@click.group()
def invites() -> None:
    """Invite people to workspaces (WORKSPACE is a slug or an id). The invite email goes
    out through the outbox; its link is never printed."""


def _issued_line(verb: str, issued: Issued) -> str:
    invite = issued.invite
    return (
        f"{verb} {invite.email} as {invite.role}: invite {invite.id}, "
        f"expires {invite.expires_at.isoformat()}; the email is in the outbox"
    )


@invites.command("create")
@click.argument("workspace")
@click.argument("email")
@click.option("--role", type=ROLE_CHOICE, default="member", show_default=True)
def invites_create(workspace: str, email: str, role: str) -> None:
    """Invite EMAIL to WORKSPACE; prints the invite id and expiry."""

    async def work(tx: Tx) -> Issued:
        ws_id = (await find_workspace(tx.uow, workspace)).id
        return await create_invite(tx, ws_id, email=email, role=Role(role))

    click.echo(_issued_line("invited", change(work)))


def _invite_json(view: InviteView, expired: bool) -> dict[str, Any]:
    invite = view.invite
    return {
        "id": invite.id,
        "email": invite.email,
        "role": str(invite.role),
        "inviter": view.inviter.email if view.inviter else None,
        "created_at": invite.created_at.isoformat(),
        "expires_at": invite.expires_at.isoformat(),
        "expired": expired,
    }


def _invite_row(invite: dict[str, Any]) -> tuple[str, ...]:
    inviter, expired = invite["inviter"] or "system", "yes" if invite["expired"] else "no"
    return (
        invite["email"],
        invite["role"],
        inviter,
        invite["expires_at"][:16],
        expired,
        invite["id"],
    )


@invites.command("list")
@click.argument("workspace")
@JSON_OPTION
def invites_list(workspace: str, as_json: bool) -> None:
    """List WORKSPACE's pending invites, newest first (expired ones marked, inviter
    "system" for operators' invites)."""

    async def work(tx: Tx) -> list[dict[str, Any]]:
        views = await list_invites(tx, (await find_workspace(tx.uow, workspace)).id)
        now = tx.now()
        return [_invite_json(v, now >= v.invite.expires_at) for v in views]

    found = read(work)
    if as_json:
        print_json(found)
        return
    print_table(("EMAIL", "ROLE", "INVITER", "EXPIRES", "EXPIRED", "ID"), map(_invite_row, found))


@invites.command("revoke")
@click.argument("workspace")
@click.argument("invite_id")
def invites_revoke(workspace: str, invite_id: str) -> None:
    """Withdraw a pending invite; its link stops working. An answered one is exit 13."""

    async def work(tx: Tx) -> None:
        ws_id = (await find_workspace(tx.uow, workspace)).id
        await revoke_invite(tx, ws_id, invite_id)

    change(work)
    click.echo(f"revoked invite {invite_id}")


@invites.command("resend")
@click.argument("workspace")
@click.argument("invite_id")
def invites_resend(workspace: str, invite_id: str) -> None:
    """Send a pending (or expired) invite again, with a new link, id and expiry; the old
    link stops working."""

    async def work(tx: Tx) -> Issued:
        ws_id = (await find_workspace(tx.uow, workspace)).id
        return await resend_invite(tx, ws_id, invite_id)

    click.echo(_issued_line("reinvited", change(work)) + f" (replaces {invite_id})")
