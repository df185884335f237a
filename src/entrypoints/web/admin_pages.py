"""A workspace's invites (invite by email and role, the pending list with expiry, resend,
revoke) and its audit log (filters, pages of 50), for admins and owners.

The use cases check the role: a member who opens these pages or posts their forms by hand
gets a 403 page, never the data.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode

from attrs import frozen
from litestar import Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, URLEncodedBody
from litestar.response import Redirect, Template

from entrypoints.bootstrap import Services
from entrypoints.web.pagekit import done, render, signed_in
from entrypoints.web.ratelimits import enforce
from entrypoints.web.workspace_pages import role_from, workspace_context
from saascore import invites as inv
from saascore import workspaces as ws
from saascore.context import Tx
from saascore.errors import InvalidInput
from saascore.models import AuditQuery, Role

WorkspaceId = FromPath[str]
AUDIT_PAGE = 50


@frozen
class InviteForm:
    email: str = ""
    role: str = "member"


@get("/workspaces/{workspace_id:str}/invites", include_in_schema=False)
async def invites_page(
    request: Request[Any, Any, Any],
    workspace_id: WorkspaceId,
    request_tx: NamedDependency[Tx],
    services: NamedDependency[Services],
) -> Template:
    auth = await signed_in(request, request_tx)
    context = await workspace_context(request_tx, auth, workspace_id)
    pending = await inv.list_invites(auth.acting(request_tx), workspace_id)
    mine: Role = context["role"]
    context |= {
        "invites": pending,
        "now": request_tx.now(),
        "grantable": [r for r in (Role.MEMBER, Role.ADMIN, Role.OWNER) if mine.at_least(r)],
    }
    return render(request, "invites.html", context, auth=auth)


@post(
    "/workspaces/{workspace_id:str}/invites",
    include_in_schema=False,
)
async def invite_submit(
    request: Request[Any, Any, Any],
    workspace_id: WorkspaceId,
    data: URLEncodedBody[InviteForm],
    request_tx: NamedDependency[Tx],
    services: NamedDependency[Services],
) -> Redirect:
    auth = await signed_in(request, request_tx, form=True)
    tx = auth.acting(request_tx)
    await ws.require_role(tx, workspace_id, Role.ADMIN)  # 404/403 before counting
    await enforce(services, services.policies.invites_per_workspace, workspace_id)
    issued = await inv.create_invite(
        tx,
        workspace_id,
        email=data.email,
        role=role_from(data.role),
    )
    text = f"Invitation sent to {issued.invite.email}."
    return done(services, f"/workspaces/{workspace_id}/invites", text)


@post(
    "/workspaces/{workspace_id:str}/invites/{invite_id:str}/resend",
    include_in_schema=False,
)
async def resend_submit(
    request: Request[Any, Any, Any],
    workspace_id: WorkspaceId,
    invite_id: FromPath[str],
    request_tx: NamedDependency[Tx],
    services: NamedDependency[Services],
) -> Redirect:
    auth = await signed_in(request, request_tx, form=True)
    issued = await inv.resend_invite(
        auth.acting(request_tx),
        workspace_id,
        invite_id,
    )
    text = f"A new link went to {issued.invite.email}; the old one no longer works."
    return done(services, f"/workspaces/{workspace_id}/invites", text)


@post("/workspaces/{workspace_id:str}/invites/{invite_id:str}/revoke", include_in_schema=False)
async def revoke_submit(
    request: Request[Any, Any, Any],
    workspace_id: WorkspaceId,
    invite_id: FromPath[str],
    request_tx: NamedDependency[Tx],
    services: NamedDependency[Services],
) -> Redirect:
    auth = await signed_in(request, request_tx, form=True)
    await inv.revoke_invite(auth.acting(request_tx), workspace_id, invite_id)
    return done(services, f"/workspaces/{workspace_id}/invites", "Invitation revoked.")


def _day(raw: str | None, field: str, *, end: bool = False) -> datetime | None:
    """A ``YYYY-MM-DD`` filter as the start (or the end) of that day, UTC."""
    if not raw:
        return None
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        raise InvalidInput({field: "use a date like 2026-01-31"}) from None
    start = datetime.combine(day, time.min, tzinfo=UTC)
    return start + timedelta(days=1) if end else start


@get("/workspaces/{workspace_id:str}/audit", include_in_schema=False)
async def audit_page(
    request: Request[Any, Any, Any],
    workspace_id: WorkspaceId,
    request_tx: NamedDependency[Tx],
    services: NamedDependency[Services],
    action: FromQuery[str] = "",
    actor_id: FromQuery[str] = "",
    since: FromQuery[str] = "",
    until: FromQuery[str] = "",
    before: FromQuery[int | None] = None,
) -> Template:
    auth = await signed_in(request, request_tx)
    tx = auth.acting(request_tx)
    query = AuditQuery(
        workspace_id,
        action=action or None,
        actor_id=actor_id or None,
        since=_day(since, "since"),
        until=_day(until, "until", end=True),
        before_seq=before,
        limit=AUDIT_PAGE,
    )
    events = await ws.read_audit_log(tx, query)
    context = await workspace_context(request_tx, auth, workspace_id)
    members = await ws.list_members(tx, workspace_id)
    filters = {"action": action, "actor_id": actor_id, "since": since, "until": until}
    older = None
    if len(events) == AUDIT_PAGE and events[-1].seq is not None:
        older = urlencode({**{k: v for k, v in filters.items() if v}, "before": events[-1].seq})
    context |= {
        "events": events,
        "filters": filters,
        "emails": {m.user.id: m.user.email for m in members},
        "members": members,
        "older": older,
        "first_page": before is None,
    }
    return render(request, "audit.html", context, auth=auth)


ADMIN_PAGES = [invites_page, invite_submit, resend_submit, revoke_submit, audit_page]
