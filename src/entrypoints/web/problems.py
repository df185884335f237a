"""Errors as RFC 9457 problem bodies: the web's one mapping table from saascore errors.

Every error response is ``application/problem+json`` with ``type``, ``title``, ``status``,
``detail``, a stable ``code`` and the ``request_id``; never a stack trace.
"""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

import structlog
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.types import ExceptionHandlersMap

from entrypoints.web.requestid import request_id_of
from entrypoints.web.validation import body_errors
from saascore import errors

log = structlog.get_logger("saascore.web")
PROBLEM_JSON = "application/problem+json"

# Order matters: the first class an error is an instance of wins (subclasses first).
STATUS_FOR: tuple[tuple[type[errors.SaasCoreError], int], ...] = (
    (errors.NotAuthenticated, 401),
    (errors.NotFound, 404),
    (errors.PermissionDenied, 403),
    (errors.Conflict, 409),
    (errors.InvalidInput, 400),
    (errors.RateLimited, 429),
    (errors.SeatLimit, 402),
    (errors.LimitExceeded, 429),
    (errors.Gone, 410),
    (errors.TokenExpired, 400),
    (errors.TokenInvalid, 400),
    (errors.ExternalServiceError, 503),
    (errors.BillingNotConfigured, 501),
    (errors.WebhookRejected, 400),
)

# Codes for errors Litestar raises itself (routing, parsing, auth).
CODE_FOR_STATUS: Mapping[int, str] = {
    400: "invalid_input",
    401: "not_authenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    408: "request_timeout",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
    500: "internal_error",
    503: "service_unavailable",
}


def status_for(exc: errors.SaasCoreError) -> int:
    return next((status for cls, status in STATUS_FOR if isinstance(exc, cls)), 400)


def problem(
    request: Request[Any, Any, Any],
    status: int,
    code: str,
    detail: str,
    *,
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> Response[dict[str, Any]]:
    body = {
        "type": f"urn:saascore:problem:{code}",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "code": code,
        "request_id": request_id_of(request.scope),
        **extra,
    }
    return Response(body, status_code=status, headers=dict(headers or {}), media_type=PROBLEM_JSON)


def on_saascore_error(
    request: Request[Any, Any, Any], exc: errors.SaasCoreError
) -> Response[dict[str, Any]]:
    status = status_for(exc)
    extra: dict[str, Any] = {}
    headers: dict[str, str] = {}
    if isinstance(exc, errors.InvalidInput):
        extra["errors"] = [{"field": f, "message": m} for f, m in exc.fields.items()]
    if isinstance(exc, errors.RateLimited):
        headers["Retry-After"] = str(exc.retry_after)
        if exc.limit is not None:
            headers.update(
                {
                    "RateLimit-Limit": str(exc.limit),
                    "RateLimit-Remaining": "0",
                    "RateLimit-Reset": str(exc.retry_after),
                }
            )
    if status >= 500:
        log.warning("dependency unavailable", code=exc.code, error=exc.message)
    return problem(request, status, exc.code, exc.message, headers=headers, **extra)


def _validation_errors(exc: ValidationException) -> list[dict[str, str]]:
    found = []
    for item in exc.extra if isinstance(exc.extra, list) else []:
        if isinstance(item, Mapping):
            found.append(
                {
                    "field": str(item.get("key") or item.get("source") or "body"),
                    "message": str(item.get("message", "invalid value")),
                }
            )
    return found


def on_http_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[dict[str, Any]]:
    status = exc.status_code
    code = CODE_FOR_STATUS.get(status, "http_error")
    extra: dict[str, Any] = {}
    detail = exc.detail or HTTPStatus(status).phrase
    if isinstance(exc, ValidationException):
        extra["errors"] = body_errors(request) or _validation_errors(exc)
        detail = (
            "the request is not valid: "
            + "; ".join(f"{e['field']}: {e['message']}" for e in extra["errors"])
            if extra["errors"]
            else detail
        )
    if status >= 500:
        # Litestar's 5xx (e.g. ImproperlyConfiguredException) are our bugs: log, never show.
        log.error("server error", path=request.url.path, error=repr(exc), exc_info=exc)
        detail = HTTPStatus(status).phrase
    return problem(request, status, code, detail, headers=exc.headers, **extra)


def on_unexpected_error(
    request: Request[Any, Any, Any], exc: Exception
) -> Response[dict[str, Any]]:
    log.exception("unhandled error", path=request.url.path)
    return problem(
        request,
        500,
        "internal_error",
        "something went wrong on our side; quote the request id when you report it",
    )


EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    errors.SaasCoreError: on_saascore_error,
    HTTPException: on_http_error,
    Exception: on_unexpected_error,
}
