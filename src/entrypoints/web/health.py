"""Liveness, readiness and the service index."""

from __future__ import annotations

from typing import Any

from litestar import MediaType, Response, get
from litestar.datastructures import State

from entrypoints.bootstrap import Services
from saascore import __version__


@get("/healthz", tags=["operations"], summary="The process is up", cache=False)
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@get(
    "/readyz",
    tags=["operations"],
    summary="The database is reachable and migrated",
    cache=False,
    responses=None,
)
async def readyz(state: State) -> Response[dict[str, Any]]:
    services: Services = state.services
    problems = await services.readiness()
    if problems:
        return Response(
            {"status": "unavailable", "problems": problems},
            status_code=503,
            media_type=MediaType.JSON,
        )
    return Response({"status": "ready", "problems": []}, media_type=MediaType.JSON)


def service_index() -> dict[str, Any]:
    """What this server is: ``/`` answers it to clients that do not ask for a web page."""
    return {
        "name": "saascore",
        "version": __version__,
        "links": {
            "health": "/healthz",
            "readiness": "/readyz",
            "openapi": "/schema/openapi.json",
            "api_docs": "/schema/swagger",
        },
    }
