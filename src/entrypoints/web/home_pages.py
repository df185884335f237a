"""The entry pages: sign in by email, "check your email", the dashboard with the workspace
switcher and "create workspace", and signing out.

``/`` answers a browser (``Accept: text/html``) with the sign-in form or the dashboard, and
any other client with the JSON service index it always served.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from attrs import frozen
from litestar import MediaType, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromQuery, URLEncodedBody
from litestar.response import Redirect, Template

from entrypoints.bootstrap import Services
from entrypoints.web.api.auth import LINK_SENT
from entrypoints.web.auth import expired_cookie, optional_auth
from entrypoints.web.clientip import rate_key
from entrypoints.web.health import service_index
from entrypoints.web.pagekit import done, render, signed_in
from entrypoints.web.ratelimits import enforce
from saascore import auth as signin
from saascore.auth import safe_next_path
from saascore.context import Tx
from saascore.errors import InvalidInput
from saascore.users import normalise_email
from saascore.workspaces import create_workspace, list_workspaces


@frozen
class EmailForm:
    email: str = ""
    next: str = ""


@frozen
class NameForm:
    name: str = ""


def _wants_html(request: Request[Any, Any, Any]) -> bool:
    return "text/html" in request.headers.get("accept", "")


@get("/", include_in_schema=False, cache=False)
async def home(
    request: Request[Any, Any, Any],
    request_tx: NamedDependency[Tx],
    services: NamedDependency[Services],
    next: FromQuery[str | None] = None,
) -> Response[Any]:
    if not _wants_html(request):
        return Response(service_index(), media_type=MediaType.JSON)
    auth = await optional_auth(request, request_tx, services)
    if auth is None:
        context = {
            "next": safe_next_path(next) or "",
            "mailbox": services.mailbox is not None,
        }
        return render(request, "sign_in.html", context, auth=None)
    workspaces = await list_workspaces(request_tx, auth.user.id)
    return render(request, "dashboard.html", {"workspaces": workspaces}, auth=auth)


@post("/sign-in", include_in_schema=False)
async def sign_in_submit(
    request: Request[Any, Any, Any],
    data: URLEncodedBody[EmailForm],
    request_tx: NamedDependency[Tx],
    services: NamedDependency[Services],
) -> Template:
    """Email a sign-in link; the answer is the same whether or not the address is known."""
    try:
        email = normalise_email(data.email)
    except InvalidInput as exc:
        again = {"next": data.next, "email": data.email, "problem": exc.message}
        return render(request, "sign_in.html", again, auth=None, status=400)
    policies = services.policies
    ip = rate_key(request.scope, services.settings.trusted_networks)
    await enforce(services, policies.login_link_per_ip, ip)
    await enforce(services, policies.login_link_per_email, email)
    await signin.request_login_link(request_tx, email=email, next_path=safe_next_path(data.next))
    context: dict[str, Any] = {
        "email": email,
        "text": LINK_SENT,
        "mailbox": services.mailbox is not None,
    }
    return render(request, "check_email.html", context, auth=None)


@post("/sign-out", include_in_schema=False)
async def sign_out_submit(
    request: Request[Any, Any, Any],
    request_tx: NamedDependency[Tx],
    services: NamedDependency[Services],
) -> Redirect:
    auth = await signed_in(request, request_tx, form=True)
    await signin.sign_out(auth.acting(request_tx), auth.session)
    response = done(services, "/", "You are signed out.", "info")
    response.set_cookie(expired_cookie(services.settings))
    return response


@post("/workspaces", include_in_schema=False)
async def create_workspace_submit(
    request: Request[Any, Any, Any],
    data: URLEncodedBody[NameForm],
    request_tx: NamedDependency[Tx],
    services: NamedDependency[Services],
) -> Redirect:
    auth = await signed_in(request, request_tx, form=True)
    workspace = await create_workspace(auth.acting(request_tx), name=data.name)
    return done(services, f"/workspaces/{workspace.id}", f"Workspace {workspace.name} created.")


@get("/workspaces/switch", include_in_schema=False)
async def switch_workspace(workspace: FromQuery[str] = "") -> Redirect:
    """The no-JavaScript workspace switcher: a select in a GET form lands here."""
    return Redirect(
        f"/workspaces/{quote(workspace, safe='')}" if workspace else "/", status_code=303
    )


HOME_PAGES = [home, sign_in_submit, sign_out_submit, create_workspace_submit, switch_workspace]
