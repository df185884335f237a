"""``/api/workspaces``: the signed-in user's workspaces."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody

from entrypoints.bootstrap import Services
from entrypoints.web.api.schemas import WorkspaceIn, WorkspaceOut
from entrypoints.web.auth import Authenticated, actor_of
from saascore.models import Role, WorkspaceSummary
from saascore.ports import UnitOfWork
from saascore.workspaces import create_workspace, list_workspaces


class WorkspacesController(Controller):
    path = "/api/workspaces"
    tags = ["workspaces"]

    @get("/", summary="Your workspaces, with your role in each")
    async def mine(
        self, auth: NamedDependency[Authenticated], uow: NamedDependency[UnitOfWork]
    ) -> list[WorkspaceOut]:
        return [WorkspaceOut.of(s) for s in await list_workspaces(uow, auth.user.id)]

    @post("/", status_code=201, summary="Create a workspace you own")
    async def create(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[WorkspaceIn],
        auth: NamedDependency[Authenticated],
        uow: NamedDependency[UnitOfWork],
        services: NamedDependency[Services],
    ) -> WorkspaceOut:
        created = await create_workspace(
            uow,
            services.clock,
            services.ids,
            actor_of(request, services, auth.user.id),
            name=data.name,
        )
        return WorkspaceOut.of(WorkspaceSummary(created, Role.OWNER))
