"""The account page: your name, your sessions (revoke one), and signing out everywhere."""

from __future__ import annotations

from typing import Any

from attrs import frozen
from litestar import Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, URLEncodedBody
from litestar.response import Redirect, Template

from entrypoints.bootstrap import Services
from entrypoints.web.auth import expired_cookie
from entrypoints.web.pagekit import done, render, signed_in
from saascore import auth as signin
from saascore.context import Tx
from saascore.users import rename_user


@frozen
class NameForm:
    name: str = ""


@get("/account", include_in_schema=False)
async def account_page(
    request: Request[Any, Any, Any],
    request_tx: NamedDependency[Tx],
    services: NamedDependency[Services],
) -> Template:
    auth = await signed_in(request, request_tx)
    sessions = await signin.list_sessions(request_tx, auth.user)
    context = {"sessions": sessions, "current": auth.session.id, "csrf_token": auth.csrf_token}
    return render(request, "account.html", context, auth=auth)


@post("/account/name", include_in_schema=False)
async def name_submit(
    request: Request[Any, Any, Any],
    data: URLEncodedBody[NameForm],
    request_tx: NamedDependency[Tx],
    services: NamedDependency[Services],
) -> Redirect:
    auth = await signed_in(request, request_tx, form=True)
    await rename_user(auth.acting(request_tx), auth.user, name=data.name)
    return done(services, "/account", "Your name is saved.")


@post("/account/sessions/{session_id:str}/revoke", include_in_schema=False)
async def revoke_session_submit(
    request: Request[Any, Any, Any],
    session_id: FromPath[str],
    request_tx: NamedDependency[Tx],
    services: NamedDependency[Services],
) -> Redirect:
    auth = await signed_in(request, request_tx, form=True)
    await signin.revoke_session(auth.acting(request_tx), auth.user, session_id)
    if session_id == auth.session.id:
        response = done(services, "/", "You are signed out.", "info")
        response.set_cookie(expired_cookie(services.settings))
        return response
    return done(services, "/account", "That session is signed out.")


@post("/account/sign-out-everywhere", include_in_schema=False)
async def sign_out_everywhere_submit(
    request: Request[Any, Any, Any],
    request_tx: NamedDependency[Tx],
    services: NamedDependency[Services],
) -> Redirect:
    auth = await signed_in(request, request_tx, form=True)
    await signin.sign_out_everywhere(auth.acting(request_tx), auth.user)
    response = done(services, "/", "You are signed out on every device.", "info")
    response.set_cookie(expired_cookie(services.settings))
    return response


ACCOUNT_PAGES = [account_page, name_submit, revoke_session_submit, sign_out_everywhere_submit]
