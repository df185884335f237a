"""Use cases for workspaces and their members.

Rules:
- the creator of a workspace becomes its owner; its slug is derived from the name, unique,
  URL-safe, and does not change on rename (links keep working);
- someone who is not a member gets ``NotFound`` for a workspace, exactly as if it did not exist;
- a member reads; an admin also renames and manages members up to admin; an owner also
  manages owners, transfers ownership and deletes;
- nobody grants a role above their own, nor changes or removes someone who outranks them;
- a workspace always keeps at least one owner (``LastOwner``), even under concurrent changes:
  membership changes take the workspace's lock first (``change_members``);
- every change appends an audit event in the same unit of work.

The system actor (``Actor.system()``, used by operators' CLI commands) acts with an owner's
rights in every workspace without being a member.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

from saascore.context import Ctx, Tx
from saascore.errors import Conflict, InvalidInput, LastOwner, NotFound, PermissionDenied
from saascore.models import (
    AuditEvent,
    AuditQuery,
    Membership,
    MemberView,
    Role,
    Workspace,
    WorkspaceSummary,
)
from saascore.users import clean_name

MAX_SLUG_LENGTH = 48


def slugify(name: str) -> str:
    """Return a lower-case ASCII slug of ``name``: letters, digits and single hyphens."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")
    return slug[:MAX_SLUG_LENGTH].rstrip("-") or "workspace"


async def _unique_slug(tx: Tx, name: str) -> str:
    base = slugify(name)
    taken = await tx.uow.workspaces.slugs_like(base)
    if base not in taken:
        return base
    # "acme", "acme-2", "acme-3", ...: the first free number, found from one query.
    n = 2
    while f"{base}-{n}" in taken:
        n += 1
    return f"{base}-{n}"


async def _role_of(tx: Tx, workspace_id: str) -> Role:
    """Return the actor's role, or raise ``NotFound`` for non-members and missing workspaces."""
    if tx.actor.user_id is None:
        if await tx.uow.workspaces.get(workspace_id) is None:
            raise NotFound("workspace not found")
        return Role.OWNER
    membership = await tx.uow.memberships.get(workspace_id, tx.actor.user_id)
    if membership is None:
        raise NotFound("workspace not found")
    return membership.role


async def require_role(tx: Tx, workspace_id: str, needed: Role) -> Role:
    """Return the actor's role if it is at least ``needed``: ``NotFound`` for outsiders,
    ``PermissionDenied`` for members below it."""
    role = await _role_of(tx, workspace_id)
    if not role.at_least(needed):
        raise PermissionDenied(f"this needs the {needed} role")
    return role


async def change_members(tx: Tx, workspace_id: str, needed: Role) -> Role:
    """``require_role`` for changes to who belongs and with which role: takes the
    workspace's lock first, so concurrent changes cannot both pass the last-owner check."""
    await tx.uow.workspaces.lock(workspace_id)
    return await require_role(tx, workspace_id, needed)


async def workspace_or_not_found(tx: Tx, workspace_id: str) -> Workspace:
    workspace = await tx.uow.workspaces.get(workspace_id)
    if workspace is None:
        raise NotFound("workspace not found")
    return workspace


async def _member(tx: Tx, workspace_id: str, user_id: str) -> Membership:
    membership = await tx.uow.memberships.get(workspace_id, user_id)
    if membership is None:
        raise NotFound("member not found")
    return membership


async def _keep_an_owner(tx: Tx, membership: Membership) -> None:
    """Raise ``LastOwner`` if ``membership`` holds the workspace's only owner seat."""
    if (
        membership.role is Role.OWNER
        and await tx.uow.memberships.count_owners(membership.workspace_id) <= 1
    ):
        raise LastOwner("a workspace must keep at least one owner: transfer ownership first")


async def create_workspace(
    tx: Tx,
    *,
    name: str,
    owner_id: str | None = None,
) -> Workspace:
    """Create a workspace owned by ``owner_id`` (default: the actor)."""
    name = clean_name(name)
    owner_id = owner_id or tx.actor.user_id
    if owner_id is None:
        raise InvalidInput({"owner": "a workspace needs an owner"})
    if await tx.uow.users.get(owner_id) is None:
        raise NotFound("no such user")
    now = tx.now()
    workspace = Workspace(
        id=tx.new_id(), name=name, slug=await _unique_slug(tx, name), created_at=now
    )
    await tx.uow.workspaces.add(workspace)
    await tx.uow.memberships.add(Membership(workspace.id, owner_id, Role.OWNER, now))
    await tx.record(
        "workspace.created",
        workspace_id=workspace.id,
        target=workspace.id,
        data={"name": name, "slug": workspace.slug, "owner": owner_id},
    )
    return workspace


async def get_workspace(tx: Tx, workspace_id: str) -> WorkspaceSummary:
    """Return the workspace and the actor's role in it."""
    role = await _role_of(tx, workspace_id)
    return WorkspaceSummary(await workspace_or_not_found(tx, workspace_id), role)


async def list_workspaces(tx: Tx, user_id: str) -> Sequence[WorkspaceSummary]:
    """Return the user's workspaces with their role, ordered by name."""
    return await tx.uow.workspaces.list_for_user(user_id)


async def list_members(tx: Tx, workspace_id: str) -> Sequence[MemberView]:
    """Return the members of a workspace the actor belongs to."""
    await _role_of(tx, workspace_id)
    return await tx.uow.memberships.list_members(workspace_id)


async def add_member(
    tx: Tx,
    workspace_id: str,
    *,
    user_id: str,
    role: Role,
) -> Membership:
    """Add an existing user directly (admins up to admin; people join through invites,
    operators and the seed through this)."""
    actor_role = await change_members(tx, workspace_id, Role.ADMIN)
    if not actor_role.at_least(role):
        raise PermissionDenied(f"a {actor_role} cannot grant the {role} role")
    if await tx.uow.users.get(user_id) is None:
        raise NotFound("no such user")
    if await tx.uow.memberships.get(workspace_id, user_id) is not None:
        raise Conflict("already a member of this workspace")
    membership = Membership(workspace_id, user_id, role, tx.now())
    await tx.uow.memberships.add(membership)
    await tx.record(
        "member.added", workspace_id=workspace_id, target=user_id, data={"role": str(role)}
    )
    return membership


async def rename_workspace(tx: Tx, workspace_id: str, *, name: str) -> Workspace:
    """Rename a workspace (admins and owners). The slug stays."""
    await require_role(tx, workspace_id, Role.ADMIN)
    name = clean_name(name)
    workspace = await workspace_or_not_found(tx, workspace_id)
    if workspace.name == name:
        return workspace
    old, workspace.name = workspace.name, name
    await tx.uow.workspaces.update(workspace)
    await tx.record(
        "workspace.renamed",
        workspace_id=workspace_id,
        target=workspace_id,
        data={"from": old, "to": name},
    )
    return workspace


async def read_audit_log(tx: Tx, query: AuditQuery) -> Sequence[AuditEvent]:
    """One page of a workspace's audit log, newest first (admins and owners)."""
    if query.workspace_id is None:
        raise NotFound("workspace not found")
    await require_role(tx, query.workspace_id, Role.ADMIN)
    return await tx.uow.audit.query(query)


async def change_role(
    tx: Tx,
    workspace_id: str,
    *,
    user_id: str,
    role: Role,
) -> Membership:
    """Give a member a new role, never above the actor's own, never leaving no owner."""
    actor_role = await change_members(tx, workspace_id, Role.ADMIN)
    membership = await _member(tx, workspace_id, user_id)
    if not actor_role.at_least(membership.role) or not actor_role.at_least(role):
        higher = max_role(membership.role, role)
        raise PermissionDenied(f"a {actor_role} cannot manage or grant the {higher} role")
    if membership.role is role:
        return membership
    if role is not Role.OWNER:
        await _keep_an_owner(tx, membership)
    old, membership.role = membership.role, role
    await tx.uow.memberships.set_role(workspace_id, user_id, role)
    await tx.record(
        "member.role_changed",
        workspace_id=workspace_id,
        target=user_id,
        data={"from": str(old), "to": str(role)},
    )
    return membership


def max_role(a: Role, b: Role) -> Role:
    return a if a.rank >= b.rank else b


async def remove_member(tx: Tx, workspace_id: str, *, user_id: str) -> None:
    """Remove a member (admins up to admin, owners anyone); removing yourself is leaving."""
    if user_id == tx.actor.user_id:
        await leave_workspace(tx, workspace_id)
        return
    actor_role = await change_members(tx, workspace_id, Role.ADMIN)
    membership = await _member(tx, workspace_id, user_id)
    if not actor_role.at_least(membership.role):
        raise PermissionDenied(f"a {actor_role} cannot remove an {membership.role}")
    await _keep_an_owner(tx, membership)
    await tx.uow.memberships.remove(workspace_id, user_id)
    await tx.record(
        "member.removed",
        workspace_id=workspace_id,
        target=user_id,
        data={"role": str(membership.role)},
    )


async def leave_workspace(tx: Tx, workspace_id: str) -> None:
    """Leave a workspace; the last owner must transfer ownership first."""
    if tx.actor.user_id is None:
        raise InvalidInput({"user": "the system is not a member and cannot leave"})
    await tx.uow.workspaces.lock(workspace_id)  # see change_members
    membership = await tx.uow.memberships.get(workspace_id, tx.actor.user_id)
    if membership is None:
        raise NotFound("workspace not found")
    await _keep_an_owner(tx, membership)
    await tx.uow.memberships.remove(workspace_id, tx.actor.user_id)
    await tx.record(
        "member.left",
        workspace_id=workspace_id,
        target=tx.actor.user_id,
        data={"role": str(membership.role)},
    )


async def transfer_ownership(tx: Tx, workspace_id: str, *, user_id: str) -> None:
    """Make a member the owner; the owners handing over (the actor, or every owner when the
    system acts) step down to admin."""
    await change_members(tx, workspace_id, Role.OWNER)
    if user_id == tx.actor.user_id:
        raise InvalidInput({"user_id": "you already own this workspace"})
    target = await _member(tx, workspace_id, user_id)
    if tx.actor.user_id is not None:
        previous = [tx.actor.user_id]
    else:
        members = await tx.uow.memberships.list_members(workspace_id)
        previous = [
            m.membership.user_id
            for m in members
            if m.membership.role is Role.OWNER and m.membership.user_id != user_id
        ]
    if target.role is not Role.OWNER:
        await tx.uow.memberships.set_role(workspace_id, user_id, Role.OWNER)
    for owner_id in previous:
        await tx.uow.memberships.set_role(workspace_id, owner_id, Role.ADMIN)
    await tx.record(
        "workspace.ownership_transferred",
        workspace_id=workspace_id,
        target=user_id,
        data={"from": previous, "to": user_id},
    )


async def delete_workspace(ctx: Ctx, workspace_id: str) -> None:
    """Delete a workspace and its memberships (owners), canceling its live subscription at
    the billing provider first, with no transaction open meanwhile. If the provider cannot
    be reached this raises ``BillingUnavailable`` and nothing is deleted: a workspace is
    never gone while its customer is still being charged. Its audit trail stays."""
    async with ctx.read() as tx:
        await require_role(tx, workspace_id, Role.OWNER)
        sub = await tx.uow.subscriptions.get(workspace_id)
    live = sub.subscription_id if sub is not None and sub.is_live else None
    at_provider = await ctx.deps.billing.cancel(live) if live else None
    async with ctx.write() as tx:
        await change_members(tx, workspace_id, Role.OWNER)
        workspace = await workspace_or_not_found(tx, workspace_id)
        if live:
            await tx.record(
                "billing.subscription_canceled",
                workspace_id=workspace_id,
                target=live,
                data={
                    "reason": "workspace deleted",
                    "provider": "canceled" if at_provider else "unknown to the provider",
                },
            )
        await tx.record(
            "workspace.deleted",
            workspace_id=workspace_id,
            target=workspace_id,
            data={"name": workspace.name, "slug": workspace.slug},
        )
        await tx.uow.workspaces.delete(workspace_id)
