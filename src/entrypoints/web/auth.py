"""Sessions over HTTP: the cookie, the ``auth`` dependency, and CSRF protection.

- The session token travels only in an HttpOnly, SameSite=Lax cookie; over https it is
  ``__Host-``-prefixed and Secure.
- CSRF: every unsafe request must come from our own origin when the browser says where it
  comes from (``Origin``), and a cookie-authenticated one must also carry the session's CSRF
  token in ``X-CSRF-Token`` (or the ``_csrf`` form field for pages). The token is an HMAC of
  the session, so it needs no storage and dies with the session.
- Failures answer 403 with code ``csrf_failed``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any
from urllib.parse import urlsplit

from attrs import frozen
from litestar import Request, Response
from litestar.datastructures import Cookie
from litestar.di import NamedDependency
from litestar.enums import RequestEncodingType
from litestar.exceptions import HTTPException

from entrypoints.bootstrap import Services
from entrypoints.settings import Settings
from entrypoints.web.deps import SAFE_METHODS, actor_of
from saascore.auth import authenticate
from saascore.context import Ctx, Tx
from saascore.errors import NotAuthenticated, PermissionDenied
from saascore.models import Actor, Session, User

CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "_csrf"
CSRF_EXEMPT_OPT = "csrf_exempt"


class CsrfFailed(PermissionDenied):
    """The request did not prove it comes from this site."""

    code = "csrf_failed"


@frozen
class Authenticated:
    """The signed-in user of a request, with their session, its CSRF token and the actor
    their changes are recorded as."""

    user: User
    session: Session
    csrf_token: str
    actor: Actor

    def acting(self, tx: Tx) -> Tx:
        """``tx``, acting as this user."""
        return tx.as_actor(self.actor)


def cookie_name(settings: Settings) -> str:
    # __Host- makes browsers refuse the cookie unless Secure, host-only and Path=/.
    return "__Host-saascore_session" if settings.uses_https else "saascore_session"


def session_cookie(settings: Settings, token: str) -> Cookie:
    return Cookie(
        key=cookie_name(settings),
        value=token,
        path="/",
        httponly=True,
        samesite="lax",
        secure=settings.uses_https,
        max_age=settings.session_absolute_ttl_seconds,
    )


def expired_cookie(settings: Settings) -> Cookie:
    return Cookie(
        key=cookie_name(settings),
        value="",
        path="/",
        httponly=True,
        samesite="lax",
        secure=settings.uses_https,
        max_age=0,
    )


def csrf_token_for(settings: Settings, session: Session) -> str:
    digest = hmac.new(
        settings.secret_key.encode(), f"csrf:{session.token_hash}".encode(), hashlib.sha256
    ).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


_LOOPBACK_NAMES = ("127.0.0.1", "localhost")


def allowed_origins(settings: Settings) -> frozenset[str]:
    """Our own origin; in development, also its other loopback name (localhost and
    127.0.0.1 are the same server to a developer, but not to a browser)."""
    own = _origin(settings.base_url)
    parts = urlsplit(own)
    if settings.is_production or parts.hostname not in _LOOPBACK_NAMES:
        return frozenset({own})
    port = f":{parts.port}" if parts.port else ""
    return frozenset(f"{parts.scheme}://{name}{port}" for name in _LOOPBACK_NAMES)


def check_origin(request: Request[Any, Any, Any], settings: Settings) -> None:
    """Refuse unsafe requests that a browser says come from another site."""
    if request.method in SAFE_METHODS or request.route_handler.opt.get(CSRF_EXEMPT_OPT):
        return
    origin = request.headers.get("origin")
    if origin is not None and origin.lower() not in allowed_origins(settings):
        raise CsrfFailed("this request came from another site")


async def before_request(request: Request[Any, Any, Any]) -> None:
    """App-wide ``before_request`` hook: the Origin half of CSRF protection, and 415 for a
    body in a media type the route does not take."""
    services: Services = request.app.state.services
    check_origin(request, services.settings)
    check_media_type(request)


def check_media_type(request: Request[Any, Any, Any]) -> None:
    """Refuse a body sent as another media type than the route takes (JSON or a form)."""
    body = request.route_handler.parsed_fn_signature.parameters.get("data")
    if body is None or request.method in SAFE_METHODS:
        return
    wanted = str(getattr(body.kwarg_definition, "media_type", RequestEncodingType.JSON).value)
    sent = request.content_type[0]
    if sent != wanted:
        raise HTTPException(status_code=415, detail=f"send {wanted}, not {sent or 'nothing'}")


def _matches(expected: str, submitted: str) -> bool:
    # As bytes: compare_digest refuses non-ASCII str, and a header may hold any latin-1.
    return hmac.compare_digest(expected.encode(), submitted.encode("utf-8", "surrogateescape"))


async def _submitted_csrf(request: Request[Any, Any, Any]) -> str:
    token = request.headers.get(CSRF_HEADER)
    if token is None and request.content_type[0] in (
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    ):
        token = (await request.form()).get(CSRF_FIELD)
    return token if isinstance(token, str) else ""


async def _authenticated(
    request: Request[Any, Any, Any], tx: Tx, services: Services
) -> Authenticated:
    user, session = await authenticate(tx, request.cookies.get(cookie_name(services.settings)))
    return Authenticated(
        user,
        session,
        csrf_token_for(services.settings, session),
        actor_of(request, services, user.id),
    )


async def _check_csrf_of_api(request: Request[Any, Any, Any], auth: Authenticated) -> None:
    if (
        request.method not in SAFE_METHODS
        and not request.route_handler.opt.get(CSRF_EXEMPT_OPT)
        and not _matches(auth.csrf_token, await _submitted_csrf(request))
    ):
        raise CsrfFailed("missing or wrong CSRF token: send the X-CSRF-Token header")


async def provide_auth(
    request: Request[Any, Any, Any],
    request_tx: NamedDependency[Tx],
    services: NamedDependency[Services],
) -> Authenticated:
    """The ``auth`` dependency: 401 without a valid session, 403 without the CSRF token on
    an unsafe request."""
    auth = await _authenticated(request, request_tx, services)
    await _check_csrf_of_api(request, auth)
    return auth


async def provide_tx(request_tx: NamedDependency[Tx], auth: NamedDependency[Authenticated]) -> Tx:
    """The ``tx`` dependency: the request's transaction, acting as the signed-in user."""
    return auth.acting(request_tx)


async def provide_ctx(request: Request[Any, Any, Any], services: NamedDependency[Services]) -> Ctx:
    """The ``ctx`` dependency: the signed-in user (CSRF checked), authenticated in a short
    transaction that ends before the handler runs, so none is held while it calls the
    billing provider."""
    anonymous = actor_of(request, services, None)
    async with services.deps.transaction(anonymous, write=False) as tx:
        auth = await _authenticated(request, tx, services)
    await _check_csrf_of_api(request, auth)
    return services.deps.ctx(auth.actor)


async def optional_auth(
    request: Request[Any, Any, Any], tx: Tx, services: Services
) -> Authenticated | None:
    """The signed-in user of a page request, or ``None``; checks no CSRF token (pages check
    it themselves on their forms with ``check_csrf``)."""
    try:
        return await _authenticated(request, tx, services)
    except NotAuthenticated:
        return None


async def check_csrf(request: Request[Any, Any, Any], auth: Authenticated) -> None:
    """Refuse a page's form post that does not carry the session's CSRF token."""
    if not _matches(auth.csrf_token, await _submitted_csrf(request)):
        raise CsrfFailed("missing or wrong CSRF token: reload the page and try again")


def with_cookie(response: Response[Any], cookie: Cookie) -> Response[Any]:
    response.set_cookie(cookie)
    return response
