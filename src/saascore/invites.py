"""Use cases for invitations.

Rules:
- owners and admins invite, list, revoke and resend; nobody invites above their own role,
  and an admin cannot touch an owner's invitation;
- one pending invite per address and workspace (a second is a ``Conflict``); an expired one
  is set aside when a new one is made; inviting a member is a ``Conflict``;
- the token is 32 random bytes, kept only as a hash, emailed once through the outbox with a
  link to the accept page;
- resending replaces the invite with a new one (new token, new expiry): the old link then
  answers ``InviteGone`` (410), like a revoked, declined, accepted or expired one;
- only a signed-in user whose email is the invited address accepts; accepting is atomic,
  so of parallel accepts exactly one makes a membership; an existing member is a
  ``Conflict``; the invited person may decline with the link alone;
- every step is audited in the workspace's chain.
"""

from __future__ import annotations

from collections.abc import Sequence

from attrs import frozen

from saascore.auth import hash_token, new_token
from saascore.billing import ensure_seat
from saascore.context import Tx
from saascore.emails import invite_email
from saascore.errors import Conflict, InviteGone, NotFound, PermissionDenied
from saascore.models import Invite, InviteStatus, InviteView, Membership, Role, User
from saascore.users import normalise_email
from saascore.workspaces import require_role, workspace_or_not_found


@frozen
class Issued:
    """A new invite and the token that went into its email (handed out nowhere else)."""

    invite: Invite
    token: str


async def _issue(
    tx: Tx,
    workspace_id: str,
    email: str,
    role: Role,
) -> Issued:
    now = tx.now()
    token = new_token()
    invite = Invite(
        id=tx.new_id(),
        workspace_id=workspace_id,
        email=email,
        role=role,
        inviter_id=tx.actor.user_id,
        token_hash=hash_token(token),
        created_at=now,
        expires_at=now + tx.deps.invites.ttl,
    )
    await tx.uow.invites.add(invite)
    workspace = await workspace_or_not_found(tx, workspace_id)
    inviter = await tx.uow.users.get(tx.actor.user_id) if tx.actor.user_id else None
    link = f"{tx.deps.invites.base_url}/invites/accept?token={token}"
    await tx.enqueue(
        invite_email(
            email,
            link,
            workspace.name,
            inviter.name if inviter else "The team",
            role,
            tx.deps.invites.ttl,
        )
    )
    return Issued(invite, token)


async def _pending_in(tx: Tx, workspace_id: str, invite_id: str) -> Invite:
    invite = await tx.uow.invites.get(invite_id)
    if invite is None or invite.workspace_id != workspace_id:
        raise NotFound("invite not found")
    return invite


async def create_invite(
    tx: Tx,
    workspace_id: str,
    *,
    email: str,
    role: Role,
) -> Issued:
    """Invite ``email`` with ``role`` (owners and admins, up to their own role)."""
    actor_role = await require_role(tx, workspace_id, Role.ADMIN)
    email = normalise_email(email)
    if not actor_role.at_least(role):
        raise PermissionDenied(f"a {actor_role} cannot invite an {role}")
    user = await tx.uow.users.get_by_email(email)
    if user is not None and await tx.uow.memberships.get(workspace_id, user.id) is not None:
        raise Conflict("that address already belongs to a member")
    existing = await tx.uow.invites.pending_for(workspace_id, email)
    if existing is not None:
        if existing.state_at(tx.now()) is not InviteStatus.EXPIRED:
            raise Conflict("that address already has a pending invite: resend it instead")
        await tx.uow.invites.respond(existing.id, InviteStatus.EXPIRED, tx.now())
    await tx.uow.workspaces.lock(workspace_id)  # seats are counted under the lock
    await ensure_seat(tx, workspace_id, count_invites=True)
    issued = await _issue(tx, workspace_id, email, role)
    await tx.record(
        "member.invited",
        workspace_id=workspace_id,
        target=issued.invite.id,
        data={"email": email, "role": str(role)},
    )
    return issued


async def list_invites(tx: Tx, workspace_id: str) -> Sequence[InviteView]:
    """The pending invites (expired ones included, marked by their expiry), newest first."""
    await require_role(tx, workspace_id, Role.ADMIN)
    workspace = await workspace_or_not_found(tx, workspace_id)
    pending = await tx.uow.invites.list_pending(workspace_id)
    inviters = {
        i.inviter_id: await tx.uow.users.get(i.inviter_id) for i in pending if i.inviter_id
    }  # one lookup per inviter, not per invite
    return [InviteView(i, workspace, inviters.get(i.inviter_id or "")) for i in pending]


async def _manageable(tx: Tx, workspace_id: str, invite_id: str) -> Invite:
    actor_role = await require_role(tx, workspace_id, Role.ADMIN)
    invite = await _pending_in(tx, workspace_id, invite_id)
    if not actor_role.at_least(invite.role):
        raise PermissionDenied(f"a {actor_role} cannot manage an invite for an {invite.role}")
    if invite.status is not InviteStatus.PENDING:
        raise InviteGone(f"this invite was already {invite.status}")
    return invite


async def revoke_invite(tx: Tx, workspace_id: str, invite_id: str) -> None:
    """Withdraw a pending invite; its link then answers 410."""
    invite = await _manageable(tx, workspace_id, invite_id)
    if not await tx.uow.invites.respond(invite.id, InviteStatus.REVOKED, tx.now()):
        raise InviteGone("this invite was answered in the meantime")
    await tx.record(
        "invite.revoked", workspace_id=workspace_id, target=invite.id, data={"email": invite.email}
    )


async def resend_invite(
    tx: Tx,
    workspace_id: str,
    invite_id: str,
) -> Issued:
    """Send a fresh invite with a new token and expiry in place of a pending one."""
    invite = await _manageable(tx, workspace_id, invite_id)
    if not await tx.uow.invites.respond(invite.id, InviteStatus.REPLACED, tx.now()):
        raise InviteGone("this invite was answered in the meantime")
    issued = await _issue(tx, workspace_id, invite.email, invite.role)
    await tx.record(
        "invite.resent",
        workspace_id=workspace_id,
        target=issued.invite.id,
        data={"email": invite.email, "replaces": invite.id},
    )
    return issued


async def view_invite(tx: Tx, token: str) -> InviteView:
    """What the accept page shows: the invite, its workspace and inviter. A used, revoked,
    replaced or expired invite is ``InviteGone``; an unknown token is ``NotFound``."""
    invite = await tx.uow.invites.get_by_hash(hash_token(token))
    if invite is None:
        raise NotFound("no such invite")
    state = invite.state_at(tx.now())
    if state is not InviteStatus.PENDING:
        raise InviteGone(f"this invite was {state}: ask for a new one")
    workspace = await workspace_or_not_found(tx, invite.workspace_id)
    inviter = await tx.uow.users.get(invite.inviter_id) if invite.inviter_id else None
    return InviteView(invite, workspace, inviter)


async def accept_invite(
    tx: Tx,
    user: User,
    token: str,
) -> Membership:
    """Join the workspace as the invited role, if ``user`` is the invited address and the
    plan has a seat for them."""
    view = await view_invite(tx, token)
    invite = view.invite
    if normalise_email(user.email) != invite.email:
        raise PermissionDenied(
            f"this invite is for {invite.email}: sign in with that address to accept it"
        )
    if await tx.uow.memberships.get(invite.workspace_id, user.id) is not None:
        raise Conflict("you are already a member of this workspace")
    await tx.uow.workspaces.lock(invite.workspace_id)  # seats are counted under the lock
    await ensure_seat(tx, invite.workspace_id, count_invites=False)
    now = tx.now()
    if not await tx.uow.invites.respond(invite.id, InviteStatus.ACCEPTED, now):
        raise InviteGone("this invite was already used")
    membership = Membership(invite.workspace_id, user.id, invite.role, now)
    await tx.uow.memberships.add(membership)
    await tx.record(
        "invite.accepted",
        workspace_id=invite.workspace_id,
        target=user.id,
        data={"invite": invite.id, "email": invite.email, "role": str(invite.role)},
    )
    return membership


async def decline_invite(tx: Tx, token: str) -> None:
    """Turn an invite down; having the link is enough."""
    invite = (await view_invite(tx, token)).invite
    if not await tx.uow.invites.respond(invite.id, InviteStatus.DECLINED, tx.now()):
        raise InviteGone("this invite was already answered")
    await tx.record(
        "invite.declined",
        workspace_id=invite.workspace_id,
        target=invite.id,
        data={"email": invite.email},
    )
