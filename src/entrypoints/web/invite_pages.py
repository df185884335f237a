"""Pages for the invited person: see the invitation, sign in as the invited address, accept
or decline. New and existing users take the same path: the sign-in link brings them back
to this page, signed in."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from attrs import frozen
from litestar import Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromQuery, URLEncodedBody
from litestar.response import Template

from entrypoints.bootstrap import Services
from entrypoints.web.auth import check_csrf, optional_auth
from entrypoints.web.clientip import rate_key
from entrypoints.web.pages import PRIVATE
from entrypoints.web.problems import status_for
from entrypoints.web.ratelimits import enforce
from saascore import invites as inv
from saascore.auth import request_login_link
from saascore.context import Tx
from saascore.errors import Conflict, Gone, NotFound, PermissionDenied, SaasCoreError
from saascore.workspaces import workspace_or_not_found


@frozen
class TokenForm:
    token: str


def message(
    title: str,
    text: str,
    *,
    status: int = 200,
    error: bool = False,
    link: str | None = None,
    link_text: str | None = None,
) -> Template:
    return Template(
        "message.html",
        status_code=status,
        headers=PRIVATE,
        context={
            "title": title,
            "message": text,
            "error": error,
            "sign_in": status == 401,
            "link": link,
            "link_text": link_text,
        },
    )


def _refusal(exc: SaasCoreError) -> Template:
    return message(
        "This invitation cannot be used", exc.message, status=status_for(exc), error=True
    )


REFUSED = (Gone, NotFound, PermissionDenied, Conflict)


@get("/invites/accept", include_in_schema=False)
async def invite_page(
    request: Request[Any, Any, Any],
    token: FromQuery[str],
    request_tx: NamedDependency[Tx],
    services: NamedDependency[Services],
) -> Template:
    try:
        view = await inv.view_invite(request_tx, token)
    except REFUSED as exc:
        return _refusal(exc)
    auth = await optional_auth(request, request_tx, services)
    return Template(
        "invite.html", headers=PRIVATE, context={"view": view, "token": token, "auth": auth}
    )


@post("/invites/accept", include_in_schema=False)
async def accept_submit(
    request: Request[Any, Any, Any],
    data: URLEncodedBody[TokenForm],
    request_tx: NamedDependency[Tx],
    services: NamedDependency[Services],
) -> Template:
    auth = await optional_auth(request, request_tx, services)
    if auth is None:
        return message(
            "Sign in first", "Open the invitation link again to sign in.", status=401, error=True
        )
    await check_csrf(request, auth)
    try:
        membership = await inv.accept_invite(
            auth.acting(request_tx),
            auth.user,
            data.token,
        )
    except REFUSED as exc:
        return _refusal(exc)
    workspace = await workspace_or_not_found(request_tx, membership.workspace_id)
    return message(
        f"Welcome to {workspace.name}",
        f"You joined {workspace.name} as {membership.role}.",
        link=f"/workspaces/{workspace.id}",
        link_text=f"Open {workspace.name}",
    )


@post("/invites/decline", include_in_schema=False)
async def decline_submit(
    request: Request[Any, Any, Any],
    data: URLEncodedBody[TokenForm],
    request_tx: NamedDependency[Tx],
    services: NamedDependency[Services],
) -> Template:
    try:
        await inv.decline_invite(request_tx, data.token)
    except REFUSED as exc:
        return _refusal(exc)
    return message("Invitation declined", "You declined the invitation. Nothing else happens.")


@post("/invites/sign-in", include_in_schema=False)
async def sign_in_for_invite(
    request: Request[Any, Any, Any],
    data: URLEncodedBody[TokenForm],
    request_tx: NamedDependency[Tx],
    services: NamedDependency[Services],
) -> Template:
    """Email a sign-in link for the invited address that leads back to the invitation."""
    try:
        view = await inv.view_invite(request_tx, data.token)
    except REFUSED as exc:
        return _refusal(exc)
    policies = services.policies
    await enforce(
        services,
        policies.login_link_per_ip,
        rate_key(request.scope, services.settings.trusted_networks),
    )
    await enforce(services, policies.login_link_per_email, view.invite.email)
    await request_login_link(
        request_tx,
        email=view.invite.email,
        next_path=f"/invites/accept?token={quote(data.token)}",
    )
    mailbox = services.mailbox is not None
    return message(
        "Check your email",
        f"We sent a sign-in link to {view.invite.email}. It brings you back here.",
        link="/dev/mailbox" if mailbox else None,
        link_text="Open the dev mailbox",
    )
