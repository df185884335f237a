"""``/api/auth``: ask for a sign-in link, confirm it, sign out."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, post
from litestar.di import NamedDependency
from litestar.params import JSONBody

from entrypoints.bootstrap import Services
from entrypoints.web.api.responses import ANY, BODY, SIGNED_IN, problems
from entrypoints.web.api.schemas import Accepted, ConfirmIn, LoginLinkIn, SignedInOut, UserOut
from entrypoints.web.auth import (
    Authenticated,
    cookie_name,
    csrf_token_for,
    expired_cookie,
    session_cookie,
)
from entrypoints.web.clientip import rate_key
from entrypoints.web.ratelimits import enforce
from saascore import auth as signin
from saascore.context import Tx
from saascore.users import normalise_email

LINK_SENT = "If that address can sign in, a sign-in link is on its way. It expires soon."


class AuthController(Controller):
    path = "/api/auth"
    tags = ["sign-in"]

    @post(
        "/login-link",
        status_code=202,
        summary="Email a sign-in link",
        responses=problems(ANY, BODY),
        description="Answers the same whether or not the address has an account.",
    )
    async def request_link(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[LoginLinkIn],
        request_tx: NamedDependency[Tx],
        services: NamedDependency[Services],
    ) -> Accepted:
        policies = services.policies
        ip = rate_key(request.scope, services.settings.trusted_networks)
        await enforce(services, policies.login_link_per_ip, ip)
        await enforce(services, policies.login_link_per_email, normalise_email(data.email))
        await signin.request_login_link(request_tx, email=data.email, next_path=data.next)
        return Accepted(LINK_SENT)

    @post(
        "/confirm",
        status_code=200,
        summary="Use a sign-in link and start a session",
        responses=problems(ANY, BODY),
        description="Sets the session cookie. Each link works once.",
    )
    async def confirm(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[ConfirmIn],
        request_tx: NamedDependency[Tx],
        services: NamedDependency[Services],
    ) -> Response[SignedInOut]:
        signed_in = await confirm_link(request, request_tx, services, data.token)
        body = SignedInOut(
            UserOut.of(signed_in.user),
            csrf_token_for(services.settings, signed_in.session),
            signed_in.next_path,
            signed_in.new_user,
        )
        return Response(body, cookies=[session_cookie(services.settings, signed_in.token)])

    @post(
        "/logout",
        status_code=204,
        summary="Sign out of this session",
        responses=problems(ANY, SIGNED_IN),
    )
    async def logout(
        self,
        request: Request[Any, Any, Any],
        auth: NamedDependency[Authenticated],
        tx: NamedDependency[Tx],
        services: NamedDependency[Services],
    ) -> Response[None]:
        await signin.sign_out(tx, auth.session)
        return Response(None, status_code=204, cookies=[expired_cookie(services.settings)])

    @post(
        "/logout-everywhere",
        status_code=204,
        summary="Sign out of every session",
        responses=problems(ANY, SIGNED_IN),
    )
    async def logout_everywhere(
        self,
        request: Request[Any, Any, Any],
        auth: NamedDependency[Authenticated],
        tx: NamedDependency[Tx],
        services: NamedDependency[Services],
    ) -> Response[None]:
        await signin.sign_out_everywhere(tx, auth.user)
        return Response(None, status_code=204, cookies=[expired_cookie(services.settings)])


async def confirm_link(
    request: Request[Any, Any, Any], tx: Tx, services: Services, token: str
) -> signin.SignedIn:
    """Shared by the JSON API and the confirm page: rate-limited, then confirmed."""
    ip = rate_key(request.scope, services.settings.trusted_networks)
    await enforce(services, services.policies.confirm_per_ip, ip)
    held = request.cookies.get(cookie_name(services.settings))
    return await signin.confirm_login_link(tx, token=token, replacing=held)
