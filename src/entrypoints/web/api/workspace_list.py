"""``/api/workspaces``: the signed-in user's workspaces."""

from __future__ import annotations

from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody

from entrypoints.bootstrap import Services
from entrypoints.web.api.responses import ANY, BODY, SIGNED_IN, problems
from entrypoints.web.api.schemas import WorkspaceIn, WorkspaceOut
from entrypoints.web.auth import Authenticated
from saascore.context import Tx
from saascore.models import Role, WorkspaceSummary
from saascore.workspaces import create_workspace, list_workspaces


class WorkspacesController(Controller):
    path = "/api/workspaces"
    tags = ["workspaces"]

    @get("/", summary="Your workspaces, with your role in each", responses=problems(ANY, 401))
    async def mine(
        self, auth: NamedDependency[Authenticated], tx: NamedDependency[Tx]
    ) -> list[WorkspaceOut]:
        return [WorkspaceOut.of(s) for s in await list_workspaces(tx, auth.user.id)]

    @post(
        "/",
        status_code=201,
        summary="Create a workspace you own",
        responses=problems(ANY, BODY, SIGNED_IN),
    )
    async def create(
        self,
        data: JSONBody[WorkspaceIn],
        tx: NamedDependency[Tx],
        services: NamedDependency[Services],
    ) -> WorkspaceOut:
        created = await create_workspace(
            tx,
            name=data.name,
        )
        return WorkspaceOut.of(WorkspaceSummary(created, Role.OWNER))
