"""A workspace's pages: its members (roles, remove, transfer ownership, leave) and its
settings (rename, delete with a typed confirmation).

Every action calls the use case, which checks the role: the page hides the controls a role
may not use, and a form posted by hand anyway answers 403.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from attrs import frozen
from litestar import Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, URLEncodedBody
from litestar.response import Redirect, Template

from entrypoints.bootstrap import Services
from entrypoints.web.auth import Authenticated
from entrypoints.web.pagekit import done, render, signed_in, signed_in_briefly
from saascore import workspaces as ws
from saascore.context import Tx
from saascore.errors import InvalidInput
from saascore.models import Role

WorkspaceId = FromPath[str]


@frozen
class NameForm:
    name: str = ""


@frozen
class RoleForm:
    role: str = ""


@frozen
class UserForm:
    user_id: str = ""


@frozen
class ConfirmForm:
    confirm: str = ""


def role_from(raw: str) -> Role:
    try:
        return Role(raw)
    except ValueError:
        raise InvalidInput({"role": "choose owner, admin or member"}) from None


async def workspace_context(tx: Tx, auth: Authenticated, workspace_id: str) -> dict[str, Any]:
    """What every workspace page shows: the workspace, your role, the switcher's list."""
    summary = await ws.get_workspace(auth.acting(tx), workspace_id)
    return {
        "workspace": summary.workspace,
        "role": summary.role,
        "can_manage": summary.role.at_least(Role.ADMIN),
        "is_owner": summary.role is Role.OWNER,
        "workspaces": await ws.list_workspaces(tx, auth.user.id),
        "csrf_token": auth.csrf_token,
    }


async def workspace_page(
    request: Request[Any, Any, Any],
    tx: Tx,
    workspace_id: str,
    template: str,
    extra: Mapping[str, Any] | None = None,
) -> Template:
    auth = await signed_in(request, tx)
    context = await workspace_context(tx, auth, workspace_id)
    return render(request, template, {**context, **(extra or {})}, auth=auth)


@get("/workspaces/{workspace_id:str}", include_in_schema=False)
async def members_page(
    request: Request[Any, Any, Any],
    workspace_id: WorkspaceId,
    request_tx: NamedDependency[Tx],
    services: NamedDependency[Services],
) -> Template:
    auth = await signed_in(request, request_tx)
    context = await workspace_context(request_tx, auth, workspace_id)
    members = await ws.list_members(auth.acting(request_tx), workspace_id)
    mine: Role = context["role"]
    context |= {
        "members": members,
        "grantable": [r for r in (Role.MEMBER, Role.ADMIN, Role.OWNER) if mine.at_least(r)],
        "me": auth.user.id,
    }
    return render(request, "members.html", context, auth=auth)


@get("/workspaces/{workspace_id:str}/settings", include_in_schema=False)
async def settings_page(
    request: Request[Any, Any, Any],
    workspace_id: WorkspaceId,
    request_tx: NamedDependency[Tx],
    services: NamedDependency[Services],
) -> Template:
    return await workspace_page(request, request_tx, workspace_id, "settings.html")


@post("/workspaces/{workspace_id:str}/rename", include_in_schema=False)
async def rename_submit(
    request: Request[Any, Any, Any],
    workspace_id: WorkspaceId,
    data: URLEncodedBody[NameForm],
    request_tx: NamedDependency[Tx],
    services: NamedDependency[Services],
) -> Redirect:
    auth = await signed_in(request, request_tx, form=True)
    workspace = await ws.rename_workspace(auth.acting(request_tx), workspace_id, name=data.name)
    return done(services, f"/workspaces/{workspace_id}/settings", f"Renamed to {workspace.name}.")


@post("/workspaces/{workspace_id:str}/delete", include_in_schema=False)
async def delete_submit(
    request: Request[Any, Any, Any],
    workspace_id: WorkspaceId,
    data: URLEncodedBody[ConfirmForm],
    services: NamedDependency[Services],
) -> Redirect:
    """Delete after the owner typed the workspace's name; the provider is called (a live
    subscription is canceled first) with no transaction of ours open."""
    ctx = await signed_in_briefly(request, form=True)
    async with ctx.read() as tx:
        summary = await ws.get_workspace(tx, workspace_id)
    if data.confirm.strip() != summary.workspace.name:
        raise InvalidInput({"confirm": "type the workspace's name exactly to delete it"})
    await ws.delete_workspace(ctx, workspace_id)
    return done(services, "/", f"Workspace {summary.workspace.name} deleted.")


@post("/workspaces/{workspace_id:str}/members/{user_id:str}/role", include_in_schema=False)
async def role_submit(
    request: Request[Any, Any, Any],
    workspace_id: WorkspaceId,
    user_id: FromPath[str],
    data: URLEncodedBody[RoleForm],
    request_tx: NamedDependency[Tx],
    services: NamedDependency[Services],
) -> Redirect:
    auth = await signed_in(request, request_tx, form=True)
    role = role_from(data.role)
    await ws.change_role(auth.acting(request_tx), workspace_id, user_id=user_id, role=role)
    return done(services, f"/workspaces/{workspace_id}", f"Role changed to {role}.")


@post("/workspaces/{workspace_id:str}/members/{user_id:str}/remove", include_in_schema=False)
async def remove_submit(
    request: Request[Any, Any, Any],
    workspace_id: WorkspaceId,
    user_id: FromPath[str],
    request_tx: NamedDependency[Tx],
    services: NamedDependency[Services],
) -> Redirect:
    auth = await signed_in(request, request_tx, form=True)
    await ws.remove_member(auth.acting(request_tx), workspace_id, user_id=user_id)
    return done(services, f"/workspaces/{workspace_id}", "Member removed.")


@post("/workspaces/{workspace_id:str}/transfer", include_in_schema=False)
async def transfer_submit(
    request: Request[Any, Any, Any],
    workspace_id: WorkspaceId,
    data: URLEncodedBody[UserForm],
    request_tx: NamedDependency[Tx],
    services: NamedDependency[Services],
) -> Redirect:
    auth = await signed_in(request, request_tx, form=True)
    await ws.transfer_ownership(auth.acting(request_tx), workspace_id, user_id=data.user_id)
    text = "Ownership transferred: you are now an admin."
    return done(services, f"/workspaces/{workspace_id}", text)


@post("/workspaces/{workspace_id:str}/leave", include_in_schema=False)
async def leave_submit(
    request: Request[Any, Any, Any],
    workspace_id: WorkspaceId,
    request_tx: NamedDependency[Tx],
    services: NamedDependency[Services],
) -> Redirect:
    auth = await signed_in(request, request_tx, form=True)
    await ws.leave_workspace(auth.acting(request_tx), workspace_id)
    return done(services, "/", "You left the workspace.")


WORKSPACE_PAGES = [
    members_page,
    settings_page,
    rename_submit,
    delete_submit,
    role_submit,
    remove_submit,
    transfer_submit,
    leave_submit,
]
