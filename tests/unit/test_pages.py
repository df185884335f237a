"""Pages escape what users typed and keep tokens out of caches and referrers."""

from __future__ import annotations

from litestar.testing import AsyncTestClient

from adapters.clock import SequentialIds
from entrypoints.bootstrap import memory_services
from entrypoints.web import create_app
from saascore.invites import create_invite
from saascore.models import Actor, Role
from saascore.policies import InvitePolicy
from saascore.users import register_user
from saascore.workspaces import create_workspace
from tests.support.context import tx_of

EVIL = '<script>alert("x")</script>'


async def test_the_invite_page_escapes_names_and_is_private() -> None:
    """A workspace or inviter named like markup shows as text; the page is never cached."""
    services = memory_services(ids=SequentialIds("pages"))
    s = services
    async with s.uow() as uow:
        inviter = await register_user(
            tx_of(s, uow, Actor.system()), email="owner@example.com", name=EVIL
        )
        workspace = await create_workspace(tx_of(s, uow, Actor(inviter.id)), name=EVIL)
        issued = await create_invite(
            tx_of(s, uow, Actor(inviter.id), InvitePolicy("http://127.0.0.1:8000")),
            workspace.id,
            email="new@example.com",
            role=Role.MEMBER,
        )
        await uow.commit()

    async with AsyncTestClient(create_app(services, dispatch_outbox=False)) as client:
        page = await client.get("/invites/accept", params={"token": issued.token})

    assert 200 == page.status_code
    assert EVIL not in page.text
    assert "&lt;script&gt;" in page.text
    assert ("no-store", "strict-origin") == (
        page.headers["cache-control"],
        page.headers["referrer-policy"],
    )
