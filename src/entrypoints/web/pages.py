"""Pages for people: the sign-in link's confirm step.

Opening a link (GET) only shows a page and consumes nothing, so mail scanners that fetch
links neither burn them nor receive a session; the button on the page (POST) signs in.
"""

from __future__ import annotations

from typing import Any

from attrs import frozen
from litestar import Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromQuery, URLEncodedBody
from litestar.response import Redirect, Template

from entrypoints.bootstrap import Services
from entrypoints.web.api.auth import confirm_link
from entrypoints.web.auth import session_cookie
from saascore.auth import check_login_link
from saascore.context import Tx
from saascore.errors import TokenInvalid

# The token is in the URL of these pages: keep it out of caches and Referer headers.
# ``strict-origin`` sends only the origin, never the path; ``no-referrer`` would also make
# browsers send ``Origin: null`` on the page's own form posts, which the CSRF check refuses.
PRIVATE = {"Cache-Control": "no-store", "Referrer-Policy": "strict-origin"}


@frozen
class ConfirmForm:
    token: str


def _invalid(exc: TokenInvalid) -> Template:
    return Template(
        "message.html",
        status_code=400,
        headers=PRIVATE,
        context={"title": "This link cannot be used", "message": exc.message, "error": True},
    )


@get("/auth/confirm", include_in_schema=False)
async def confirm_page(
    token: FromQuery[str], request_tx: NamedDependency[Tx], services: NamedDependency[Services]
) -> Template:
    try:
        link = await check_login_link(request_tx, token)
    except TokenInvalid as exc:
        return _invalid(exc)
    return Template("confirm.html", headers=PRIVATE, context={"email": link.email, "token": token})


@post("/auth/confirm", include_in_schema=False)
async def confirm_submit(
    request: Request[Any, Any, Any],
    data: URLEncodedBody[ConfirmForm],
    request_tx: NamedDependency[Tx],
    services: NamedDependency[Services],
) -> Response[Any]:
    try:
        signed_in = await confirm_link(request, request_tx, services, data.token)
    except TokenInvalid as exc:
        return _invalid(exc)
    return Redirect(
        signed_in.next_path or "/",
        status_code=303,
        headers=PRIVATE,
        cookies=[session_cookie(services.settings, signed_in.token)],
    )
