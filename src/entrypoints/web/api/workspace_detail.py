"""``/api/workspaces/{workspace_id}``: one workspace, its members, its invites, its audit log.

Every route checks the signed-in user's membership in the use case: a workspace they do not
belong to answers 404, exactly like one that does not exist.
"""

from __future__ import annotations

from datetime import datetime

from litestar import Controller, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody

from entrypoints.bootstrap import Services
from entrypoints.web.api.responses import ANY, BODY, IN_WORKSPACE, problems
from entrypoints.web.api.schemas import (
    AuditEventOut,
    AuditPageOut,
    InviteIn,
    InviteOut,
    MemberOut,
    RenameIn,
    RoleIn,
    TransferIn,
    WorkspaceOut,
)
from entrypoints.web.auth import Authenticated
from entrypoints.web.ratelimits import enforce
from saascore import invites as inv
from saascore import workspaces as ws
from saascore.context import Ctx, Tx
from saascore.models import AuditQuery, InviteView, MemberView, Role

WorkspaceId = FromPath[str]
MAX_AUDIT_PAGE = 200


class WorkspaceController(Controller):
    path = "/api/workspaces/{workspace_id:str}"
    tags = ["workspaces"]

    @get("/", summary="A workspace, with your role in it", responses=problems(ANY, IN_WORKSPACE))
    async def show(
        self,
        workspace_id: WorkspaceId,
        tx: NamedDependency[Tx],
        services: NamedDependency[Services],
    ) -> WorkspaceOut:
        return WorkspaceOut.of(await ws.get_workspace(tx, workspace_id))

    @patch(
        "/",
        summary="Rename (admins and owners; the slug stays)",
        responses=problems(ANY, BODY, IN_WORKSPACE),
    )
    async def rename(
        self,
        workspace_id: WorkspaceId,
        data: JSONBody[RenameIn],
        tx: NamedDependency[Tx],
        services: NamedDependency[Services],
    ) -> WorkspaceOut:
        await ws.rename_workspace(tx, workspace_id, name=data.name)
        return WorkspaceOut.of(await ws.get_workspace(tx, workspace_id))

    @delete(
        "/",
        status_code=204,
        summary="Delete the workspace (owners); its live subscription is canceled first",
        responses=problems(ANY, IN_WORKSPACE),
    )
    async def remove(self, workspace_id: WorkspaceId, ctx: NamedDependency[Ctx]) -> None:
        await ws.delete_workspace(ctx, workspace_id)

    @get("/members", summary="The members, by email", responses=problems(ANY, IN_WORKSPACE))
    async def members(
        self,
        workspace_id: WorkspaceId,
        tx: NamedDependency[Tx],
        services: NamedDependency[Services],
    ) -> list[MemberOut]:
        return [MemberOut.of(m) for m in await ws.list_members(tx, workspace_id)]

    @patch(
        "/members/{user_id:str}",
        summary="Change a member's role",
        responses=problems(ANY, BODY, IN_WORKSPACE, 409),
    )
    async def change_role(
        self,
        workspace_id: WorkspaceId,
        user_id: FromPath[str],
        data: JSONBody[RoleIn],
        tx: NamedDependency[Tx],
        services: NamedDependency[Services],
    ) -> MemberOut:
        membership = await ws.change_role(
            tx,
            workspace_id,
            user_id=user_id,
            role=data.role,
        )
        user = await tx.uow.users.get(user_id)
        assert user is not None  # a member's user row exists (foreign key)
        return MemberOut.of(MemberView(membership, user))

    @delete(
        "/members/{user_id:str}",
        status_code=204,
        summary="Remove a member",
        responses=problems(ANY, IN_WORKSPACE, 409),
    )
    async def remove_member(
        self,
        workspace_id: WorkspaceId,
        user_id: FromPath[str],
        tx: NamedDependency[Tx],
        services: NamedDependency[Services],
    ) -> None:
        await ws.remove_member(tx, workspace_id, user_id=user_id)

    @post(
        "/leave",
        status_code=204,
        summary="Leave the workspace",
        responses=problems(ANY, IN_WORKSPACE, 409),
    )
    async def leave(
        self,
        workspace_id: WorkspaceId,
        tx: NamedDependency[Tx],
        services: NamedDependency[Services],
    ) -> None:
        await ws.leave_workspace(tx, workspace_id)

    @post(
        "/transfer",
        status_code=204,
        summary="Make a member the owner (owners)",
        responses=problems(ANY, BODY, IN_WORKSPACE, 409),
    )
    async def transfer(
        self,
        workspace_id: WorkspaceId,
        data: JSONBody[TransferIn],
        tx: NamedDependency[Tx],
        services: NamedDependency[Services],
    ) -> None:
        await ws.transfer_ownership(tx, workspace_id, user_id=data.user_id)

    @get(
        "/invites",
        summary="Pending invites (admins and owners); never their tokens",
        responses=problems(ANY, IN_WORKSPACE),
    )
    async def invites(
        self,
        workspace_id: WorkspaceId,
        tx: NamedDependency[Tx],
        services: NamedDependency[Services],
    ) -> list[InviteOut]:
        now = tx.now()
        return [InviteOut.of(v, now) for v in await inv.list_invites(tx, workspace_id)]

    @post(
        "/invites",
        status_code=201,
        summary="Invite someone by email (admins and owners, up to their own role)",
        responses=problems(ANY, BODY, IN_WORKSPACE, 402, 409),
    )
    async def invite(
        self,
        workspace_id: WorkspaceId,
        data: JSONBody[InviteIn],
        auth: NamedDependency[Authenticated],
        tx: NamedDependency[Tx],
        services: NamedDependency[Services],
    ) -> InviteOut:
        await ws.require_role(tx, workspace_id, Role.ADMIN)  # 404/403 before counting
        await enforce(services, services.policies.invites_per_workspace, workspace_id)
        issued = await inv.create_invite(
            tx,
            workspace_id,
            email=data.email,
            role=data.role,
        )
        workspace = await ws.workspace_or_not_found(tx, workspace_id)
        view = InviteView(issued.invite, workspace, auth.user)
        return InviteOut.of(view, tx.now())

    @delete(
        "/invites/{invite_id:str}",
        status_code=204,
        summary="Revoke a pending invite",
        responses=problems(ANY, IN_WORKSPACE, 410),
    )
    async def revoke(
        self,
        workspace_id: WorkspaceId,
        invite_id: FromPath[str],
        tx: NamedDependency[Tx],
        services: NamedDependency[Services],
    ) -> None:
        await inv.revoke_invite(tx, workspace_id, invite_id)

    @post(
        "/invites/{invite_id:str}/resend",
        status_code=200,
        summary="Send a new link with a new expiry; the old link stops working",
        responses=problems(ANY, IN_WORKSPACE, 402, 410),
    )
    async def resend(
        self,
        workspace_id: WorkspaceId,
        invite_id: FromPath[str],
        auth: NamedDependency[Authenticated],
        tx: NamedDependency[Tx],
        services: NamedDependency[Services],
    ) -> InviteOut:
        issued = await inv.resend_invite(
            tx,
            workspace_id,
            invite_id,
        )
        workspace = await ws.workspace_or_not_found(tx, workspace_id)
        return InviteOut.of(InviteView(issued.invite, workspace, auth.user), tx.now())

    @get(
        "/audit",
        summary="The audit log, newest first (admins and owners)",
        responses=problems(ANY, IN_WORKSPACE),
    )
    async def audit(
        self,
        workspace_id: WorkspaceId,
        tx: NamedDependency[Tx],
        services: NamedDependency[Services],
        action: FromQuery[str | None] = None,
        actor: FromQuery[str | None] = None,
        since: FromQuery[datetime | None] = None,
        until: FromQuery[datetime | None] = None,
        before: FromQuery[int | None] = None,
        limit: FromQuery[int] = 50,
    ) -> AuditPageOut:
        size = max(1, min(limit, MAX_AUDIT_PAGE))
        events = await ws.read_audit_log(
            tx,
            AuditQuery(
                workspace_id,
                action=action,
                actor_id=actor,
                since=since,
                until=until,
                before_seq=before,
                limit=size,
            ),
        )
        following = events[-1].seq if len(events) == size else None
        return AuditPageOut([AuditEventOut.of(e) for e in events], following)
