"""``/api/me``: the signed-in user, their profile and their sessions."""

from __future__ import annotations

from litestar import Controller, delete, get, patch
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody

from entrypoints.bootstrap import Services
from entrypoints.web.api.responses import ANY, BODY, SIGNED_IN, problems
from entrypoints.web.api.schemas import MeOut, ProfileIn, SessionOut, UserOut
from entrypoints.web.auth import Authenticated
from saascore import auth as signin
from saascore.context import Tx
from saascore.users import rename_user


class MeController(Controller):
    path = "/api/me"
    tags = ["account"]

    @get(
        "/",
        summary="The signed-in user, and the CSRF token for changes",
        responses=problems(ANY, 401),
    )
    async def me(self, auth: NamedDependency[Authenticated]) -> MeOut:
        return MeOut(UserOut.of(auth.user), auth.csrf_token)

    @patch("/", summary="Change your name", responses=problems(ANY, BODY, SIGNED_IN))
    async def update(
        self,
        data: JSONBody[ProfileIn],
        auth: NamedDependency[Authenticated],
        tx: NamedDependency[Tx],
        services: NamedDependency[Services],
    ) -> UserOut:
        user = await rename_user(
            tx,
            auth.user,
            name=data.name,
        )
        return UserOut.of(user)

    @get(
        "/sessions",
        summary="Your sessions, most recently used first",
        responses=problems(ANY, 401),
    )
    async def sessions(
        self, auth: NamedDependency[Authenticated], tx: NamedDependency[Tx]
    ) -> list[SessionOut]:
        found = await signin.list_sessions(tx, auth.user)
        return [SessionOut.of(s, auth.session.id) for s in found]

    @delete(
        "/sessions/{session_id:str}",
        status_code=204,
        summary="End one of your sessions",
        responses=problems(ANY, SIGNED_IN, 400, 404),
    )
    async def revoke(
        self,
        session_id: FromPath[str],
        auth: NamedDependency[Authenticated],
        tx: NamedDependency[Tx],
        services: NamedDependency[Services],
    ) -> None:
        await signin.revoke_session(tx, auth.user, session_id)
