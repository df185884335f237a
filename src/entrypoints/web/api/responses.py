"""The error answers each API route declares in the OpenAPI schema, so the schema says
every status a client can meet; each is a problem body (``entrypoints.web.problems``)."""

from __future__ import annotations

from collections.abc import Mapping

from litestar.openapi import ResponseSpec

from entrypoints.web.api.schemas import ProblemOut
from entrypoints.web.problems import PROBLEM_JSON

MEANING: Mapping[int, str] = {
    400: "Bad input (every bad field is listed in errors), or a sign-in link that is not valid",
    401: "Not signed in",
    402: "The plan has no seat left",
    403: "The role is too low for this, or the CSRF check failed (code csrf_failed)",
    404: "No such workspace or resource, or one you are not a member of",
    409: "A conflict: already a member, an invite pending, or the last owner",
    410: "The invitation was used, declined, revoked, replaced or has expired",
    413: "The body is too large",
    415: "The body is not JSON",
    429: "Rate limited: retry after Retry-After seconds",
    501: "Billing is not configured on this server",
    503: "A dependency (database, email, billing provider) is down: retry later",
}

# Every route is rate limited and reads the database.
ANY = (429, 503)
# A JSON body: Litestar's decoding, the size limit, the media type, and the Origin check.
BODY = (400, 403, 413, 415)
SIGNED_IN = (401, 403)
IN_WORKSPACE = (400, 401, 403, 404)


def problems(*statuses: int | tuple[int, ...]) -> dict[int, ResponseSpec]:
    """``responses=`` for a route: each status, or group of statuses, as a problem body."""
    flat = {s for group in statuses for s in (group if isinstance(group, tuple) else (group,))}
    return {
        status: ResponseSpec(
            data_container=ProblemOut,
            media_type=PROBLEM_JSON,
            description=MEANING[status],
            generate_examples=False,
        )
        for status in sorted(flat)
    }
