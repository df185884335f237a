"""Request ids: accept a sane incoming ``X-Request-ID`` or make one, echo it on every
response (error responses included), bind it to every log line, and log each request once."""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any

import structlog
from litestar.datastructures import MutableScopeHeaders
from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send

HEADER = "x-request-id"
_SANE = re.compile(r"[A-Za-z0-9._:\-]{1,64}")
_KEY = "saascore_request"
_QUIET_PATHS = frozenset({"/healthz", "/readyz"})

access_log = structlog.get_logger("saascore.access")


def _context(scope: Scope | Any) -> dict[str, Any]:
    state: dict[str, Any] = scope.setdefault("state", {})
    context: dict[str, Any] | None = state.get(_KEY)
    if context is None:
        incoming = ""
        for name, value in scope.get("headers", ()):
            if name == HEADER.encode():
                incoming = value.decode("latin-1")
                break
        request_id = incoming if _SANE.fullmatch(incoming) else uuid.uuid4().hex
        context = {"request_id": request_id, "started": time.perf_counter()}
        state[_KEY] = context
    return context


def request_id_of(scope: Scope | Any) -> str:
    """The request id of this request, made on first use and the same ever after."""
    return str(_context(scope)["request_id"])


class RequestContextMiddleware(ASGIMiddleware):
    """Bind the request id to every log line written while the request is handled."""

    scopes = ("http",)  # type: ignore[assignment]

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        with structlog.contextvars.bound_contextvars(request_id=request_id_of(scope)):
            await next_app(scope, receive, send)


def _secure(headers: MutableScopeHeaders, path: str, https: bool) -> None:
    """Headers every response gets; a page may set a stricter Referrer-Policy itself."""
    if https:  # browsers then refuse plain http to this host for two years
        headers["Strict-Transport-Security"] = "max-age=63072000; includeSubDomains"
    headers["X-Content-Type-Options"] = "nosniff"
    headers["X-Frame-Options"] = "DENY"
    if "referrer-policy" not in headers:
        headers["Referrer-Policy"] = "strict-origin-when-cross-origin"
    # The API docs pages load their scripts from a CDN; everything else is ours alone.
    if not path.startswith("/schema"):
        headers["Content-Security-Policy"] = (
            "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
            "object-src 'none'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
        )
    if path == "/":  # answers JSON or HTML by Accept: caches must key on it
        vary = headers.get("vary")
        headers["Vary"] = f"{vary}, Accept" if vary and "accept" not in vary.lower() else "Accept"


SESSION_COOKIE = "saascore_session"  # within both names, plain and __Host-


def _private(headers: MutableScopeHeaders, scope: Scope) -> None:
    """A signed-in answer, or one that hands out a session, is nobody else's: no shared
    cache may keep it, and no browser cache may keep it on disk. (Static files and the
    schema are the same for everyone, cookie or not.)"""
    if scope["path"].startswith(("/static", "/schema")):
        return
    sent = any(
        name == b"cookie" and SESSION_COOKIE.encode() in value
        for name, value in scope.get("headers", ())
    )
    setting = SESSION_COOKIE in ",".join(headers.getall("set-cookie", []))
    if (sent or setting) and "no-store" not in (headers.get("cache-control") or ""):
        headers["Cache-Control"] = "no-store, private"


async def stamp_response(message: Message, scope: Scope) -> None:
    """A ``before_send`` hook: runs for every response, including errors Litestar answers."""
    if message["type"] != "http.response.start" or scope["type"] != ScopeType.HTTP:
        return
    context = _context(scope)
    headers = MutableScopeHeaders.from_message(message)
    headers[HEADER] = context["request_id"]
    services = getattr(scope["litestar_app"].state, "services", None)
    _secure(headers, scope["path"], bool(services and services.settings.uses_https))
    _private(headers, scope)
    path = scope["path"]
    status = message["status"]
    level = logging.DEBUG if path in _QUIET_PATHS and status < 400 else logging.INFO
    access_log.log(
        level,
        "request",
        method=scope["method"],
        path=path,
        status=status,
        duration_ms=round((time.perf_counter() - context["started"]) * 1000, 2),
        request_id=context["request_id"],
    )
