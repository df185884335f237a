"""What every page shares: who is signed in, rendering with the flash message, the redirect
after a form (Post/Redirect/Get), and errors shown as readable pages with their status.

Page handlers raise saascore errors like the API does; ``PAGE_ERRORS`` renders them as
pages with the status of the web's one mapping table (``problems.status_for``).
"""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus
from typing import Any
from urllib.parse import urlencode

from litestar import Request, Response
from litestar.exceptions import HTTPException
from litestar.response import Redirect, Template
from litestar.types import ExceptionHandlersMap

from entrypoints.bootstrap import Services
from entrypoints.web.auth import Authenticated, check_csrf, optional_auth
from entrypoints.web.flash import FLASH_COOKIE, Flash, cleared_flash, flash_cookie, read_flash
from entrypoints.web.pages import PRIVATE
from entrypoints.web.problems import log, status_for
from saascore.context import Ctx, Tx
from saascore.errors import NotAuthenticated, RateLimited, SaasCoreError
from saascore.models import Actor

TITLE_FOR = {
    401: "Sign in first",
    403: "You cannot do that here",
    404: "Not found",
    409: "That conflicts with the current state",
    410: "This link is no longer valid",
    429: "Too many tries",
    503: "A service is unavailable",
}


def services_of(request: Request[Any, Any, Any]) -> Services:
    services: Services = request.app.state.services
    return services


def render(
    request: Request[Any, Any, Any],
    template: str,
    context: Mapping[str, Any],
    *,
    auth: Authenticated | None,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
) -> Template:
    """A page with the signed-in user (for the header) and the flash left for it, if any."""
    settings = services_of(request).settings
    cookies = [cleared_flash(settings)] if FLASH_COOKIE in request.cookies else []
    return Template(
        template,
        status_code=status,
        headers={**PRIVATE, **(headers or {})},
        cookies=cookies,
        context={"auth": auth, "flash": read_flash(request, settings), **context},
    )


def done(services: Services, url: str, text: str, kind: str = "success") -> Redirect:
    """Post/Redirect/Get: go to ``url`` and show ``text`` there once."""
    return Redirect(
        url, status_code=303, cookies=[flash_cookie(services.settings, Flash(text, kind))]
    )


async def signed_in(
    request: Request[Any, Any, Any], tx: Tx, *, form: bool = False
) -> Authenticated:
    """The signed-in user (else ``NotAuthenticated``); for a form post, its CSRF token
    checked. ``auth.acting(tx)`` is the transaction acting as them."""
    auth = await optional_auth(request, tx, services_of(request))
    if auth is None:
        raise NotAuthenticated("sign in to see this page")
    if form:
        await check_csrf(request, auth)
    return auth


async def signed_in_briefly(request: Request[Any, Any, Any], *, form: bool = False) -> Ctx:
    """``signed_in`` in a read transaction of its own that ends before returning: for pages
    that then call the billing provider and must hold no transaction meanwhile."""
    deps = services_of(request).deps
    async with deps.transaction(Actor(user_id=None), write=False) as tx:
        auth = await signed_in(request, tx, form=form)
    return deps.ctx(auth.actor)


def error_page(
    request: Request[Any, Any, Any],
    status: int,
    text: str,
    *,
    headers: Mapping[str, str] | None = None,
) -> Template:
    title = TITLE_FOR.get(status, HTTPStatus(status).phrase)
    back = request.url.path if request.method == "GET" else None
    sign_in = f"/?{urlencode({'next': back})}" if back and status == 401 else "/"
    return render(
        request,
        "message.html",
        {
            "title": title,
            "message": text,
            "error": True,
            "sign_in": status == 401,
            "sign_in_href": sign_in,
        },
        auth=None,
        status=status,
        headers=headers,
    )


def on_page_error(request: Request[Any, Any, Any], exc: SaasCoreError) -> Response[Any]:
    status = status_for(exc)
    headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, RateLimited) else None
    if status >= 500:
        log.warning("dependency unavailable", code=exc.code, error=exc.message)
    return error_page(request, status, _sentence(exc.message), headers=headers)


def on_page_http_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    status = exc.status_code
    if status >= 500:
        log.error("server error", path=request.url.path, error=repr(exc), exc_info=exc)
        return error_page(request, status, "Something went wrong on our side.")
    text = "The form was incomplete or not valid." if status == 400 else str(exc.detail)
    return error_page(request, status, _sentence(text), headers=exc.headers)


def _sentence(text: str) -> str:
    text = text.strip() or "That did not work."
    return text[0].upper() + text[1:] + ("" if text.endswith((".", "!", "?")) else ".")


PAGE_ERRORS: ExceptionHandlersMap = {
    SaasCoreError: on_page_error,
    HTTPException: on_page_http_error,
}
