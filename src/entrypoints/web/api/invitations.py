"""``/api/invites``: what the invited person does with the link's token.

The token travels in the body, never in a path, so no access log records it.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, post
from litestar.di import NamedDependency
from litestar.params import JSONBody

from entrypoints.bootstrap import Services
from entrypoints.web.api.responses import ANY, BODY, SIGNED_IN, problems
from entrypoints.web.api.schemas import InvitationOut, InviteTokenIn, JoinedOut
from entrypoints.web.auth import Authenticated
from saascore import invites as inv
from saascore.context import Tx


class InvitationsController(Controller):
    path = "/api/invites"
    tags = ["invites"]

    @post(
        "/view",
        status_code=200,
        summary="What an invite is for (410 once it is used)",
        responses=problems(ANY, BODY, 404, 410),
    )
    async def view(
        self,
        data: JSONBody[InviteTokenIn],
        request_tx: NamedDependency[Tx],
        services: NamedDependency[Services],
    ) -> InvitationOut:
        return InvitationOut.of(await inv.view_invite(request_tx, data.token))

    @post(
        "/accept",
        status_code=200,
        summary="Join the workspace (signed in as the invited address)",
        responses=problems(ANY, BODY, SIGNED_IN, 402, 404, 409, 410),
    )
    async def accept(
        self,
        data: JSONBody[InviteTokenIn],
        auth: NamedDependency[Authenticated],
        tx: NamedDependency[Tx],
        services: NamedDependency[Services],
    ) -> JoinedOut:
        membership = await inv.accept_invite(
            tx,
            auth.user,
            data.token,
        )
        return JoinedOut(membership.workspace_id, str(membership.role))

    @post(
        "/decline",
        status_code=204,
        summary="Turn the invite down (the link is enough)",
        responses=problems(ANY, BODY, 404, 410),
    )
    async def decline(
        self,
        data: JSONBody[InviteTokenIn],
        request_tx: NamedDependency[Tx],
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
    ) -> None:
        await inv.decline_invite(request_tx, data.token)
