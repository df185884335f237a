"""Workspaces, members and invites over HTTP on real databases (a SQLite file and Postgres):
the role matrix, tenant isolation, the last owner, the invite lifecycle and its pages,
races, bad input, the audit log and the per-workspace invite limit.

The role-matrix and isolation classes share one running app per database, with everyone
signed in once, and give every test a fresh workspace; the other tests start their own app.
"""

from __future__ import annotations

import asyncio
import itertools
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AsyncExitStack
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import pytest_asyncio
from attrs import frozen
from litestar import Litestar

from entrypoints.bootstrap import Services
from entrypoints.settings import Settings
from entrypoints.web import create_app
from saascore.auth import hash_token
from saascore.invites import create_invite
from saascore.models import Actor, EmailMessage, Role
from saascore.users import register_user
from saascore.workspaces import add_member, create_workspace
from tests.integration.test_signin_http import PEER, SignedIn, Site, serving, token_in
from tests.support import UNLIMITED_PLANS
from tests.support.context import tx_of
from tests.support.databases import PostgresDatabases, SqliteDatabases

OWNER = "founder@example.com"
ADMIN = "ada@example.com"
MEMBER = "max@example.com"
OUTSIDER = "dana@example.com"
TARGET = "tina@example.com"  # a plain member the actions act on
CO_OWNER = "olga@example.com"  # a second owner: owners may leave, admins meet an owner
NEWBIE = "newbie@example.com"  # invited in the invite tests; no account until they sign in
PEOPLE: Mapping[str, str] = {
    OWNER: "Frances Founder",
    ADMIN: "Ada Admin",
    MEMBER: "Max Member",
    OUTSIDER: "Dana Designer",
    TARGET: "Tina Target",
    CO_OWNER: "Olga Owner",
}
ROLE_OF_CALLER: Mapping[str, str] = {
    "owner": OWNER,
    "admin": ADMIN,
    "member": MEMBER,
    "non-member": OUTSIDER,
}
INVITE_LINK = re.compile(r"/invites/accept\?token=([\w-]+)")
CSRF_FIELD = re.compile(r'name="_csrf" value="([^"]+)"')
MADE_UP = "00000000-0000-0000-0000-000000000000"
NEWBIE_PEER = ("10.0.0.7", 4321)


# --- the world ------------------------------------------------------------------------------


@frozen
class Team:
    """A fresh workspace: an owner, a co-owner, an admin, a member and a target member, and a
    pending invite for a member and one for an owner (made by the system)."""

    workspace_id: str
    users: Mapping[str, str]  # email -> user id
    member_invite: str
    owner_invite: str

    def ids(self) -> dict[str, str]:
        return {
            "workspace": self.workspace_id,
            "target": self.users[TARGET],
            "co_owner": self.users[CO_OWNER],
            "member_invite": self.member_invite,
            "owner_invite": self.owner_invite,
        }


async def register_people(services: Services) -> dict[str, str]:
    s = services
    async with s.uow() as uow:
        users = {
            email: (await register_user(tx_of(s, uow, Actor.system()), email=email, name=name)).id
            for email, name in PEOPLE.items()
        }
        await uow.commit()
    return users


async def make_workspace(
    services: Services, name: str, owner_id: str, members: Mapping[str, Role] | None = None
) -> str:
    s, actor = services, Actor.system()
    async with s.uow() as uow:
        workspace = await create_workspace(tx_of(s, uow, actor), name=name, owner_id=owner_id)
        for user_id, role in (members or {}).items():
            await add_member(tx_of(s, uow, actor), workspace.id, user_id=user_id, role=role)
        await uow.commit()
    return workspace.id


async def make_member(services: Services, workspace_id: str, user_id: str, role: Role) -> None:
    s = services
    async with s.uow() as uow:
        await add_member(tx_of(s, uow, Actor.system()), workspace_id, user_id=user_id, role=role)
        await uow.commit()


async def make_team(services: Services, users: Mapping[str, str], name: str) -> Team:
    s = services
    roles = {CO_OWNER: Role.OWNER, ADMIN: Role.ADMIN, MEMBER: Role.MEMBER, TARGET: Role.MEMBER}
    workspace_id = await make_workspace(
        s, name, users[OWNER], {users[email]: role for email, role in roles.items()}
    )
    async with s.uow() as uow:
        issued = [
            await create_invite(
                tx_of(s, uow, Actor.system(), s.invite_policy), workspace_id, email=email, role=role
            )
            for email, role in (
                ("guest@example.com", Role.MEMBER),
                ("heir@example.com", Role.OWNER),
            )
        ]
        await uow.commit()
    return Team(workspace_id, users, issued[0].invite.id, issued[1].invite.id)


Snapshot = tuple[Any, ...]


async def snapshot(services: Services, workspace_id: str) -> Snapshot:
    """Everything a request could change in a workspace: name, members, invites, audit."""
    async with services.uow() as uow:
        workspace = await uow.workspaces.get(workspace_id)
        members = sorted(
            (m.user.email, str(m.membership.role))
            for m in await uow.memberships.list_members(workspace_id)
        )
        invites = sorted(
            (i.id, i.email, str(i.role), i.status, i.expires_at)
            for i in await uow.invites.list_pending(workspace_id)
        )
        audit = await uow.audit.list(workspace_id=workspace_id, limit=1000)
    return (workspace.name if workspace else None, members, invites, len(audit))


async def role_in(services: Services, workspace_id: str, email: str) -> str | None:
    async with services.uow() as uow:
        user = await uow.users.get_by_email(email)
        membership = await uow.memberships.get(workspace_id, user.id) if user else None
    return str(membership.role) if membership else None


async def member_rows(services: Services, workspace_id: str, email: str) -> int:
    async with services.uow() as uow:
        members = await uow.memberships.list_members(workspace_id)
    return sum(1 for m in members if m.user.email == email)


def problem(response: httpx.Response) -> tuple[int, dict[str, Any]]:
    """The status and the problem body, without the request id that differs every time."""
    body = dict(response.json())
    body.pop("request_id", None)
    return response.status_code, body


def code_or_none(response: httpx.Response) -> str | None:
    return response.json()["code"] if response.status_code >= 400 else None


# --- calls ----------------------------------------------------------------------------------


@frozen
class Caller:
    """A client, signed in or not, that sends its CSRF token on unsafe requests."""

    client: httpx.AsyncClient
    csrf: str | None = None

    @classmethod
    def of(cls, signed_in: SignedIn) -> Caller:
        return cls(signed_in.client, signed_in.csrf)

    async def send(
        self, method: str, url: str, body: Mapping[str, Any] | None = None
    ) -> httpx.Response:
        headers = {"X-CSRF-Token": self.csrf} if self.csrf and method != "GET" else {}
        return await self.client.request(method, url, json=body, headers=headers)


@frozen
class Call:
    """One request to a workspace route; ``{…}`` names a team id filled in when sent."""

    method: str
    path: str
    body: Mapping[str, Any] | None = None

    def url(self, ids: Mapping[str, str]) -> str:
        return ("/api/workspaces/{workspace}" + self.path).format(**ids)

    def json(self, ids: Mapping[str, str]) -> dict[str, Any] | None:
        if self.body is None:
            return None
        return {k: v.format(**ids) if isinstance(v, str) else v for k, v in self.body.items()}

    async def by(self, caller: Caller, ids: Mapping[str, str]) -> httpx.Response:
        return await caller.send(self.method, self.url(ids), self.json(ids))


CALLS: Mapping[str, Call] = {
    "get workspace": Call("GET", ""),
    "rename": Call("PATCH", "", {"name": "Renamed"}),
    "delete": Call("DELETE", ""),
    "list members": Call("GET", "/members"),
    "make a member admin": Call("PATCH", "/members/{target}", {"role": "admin"}),
    "make a member owner": Call("PATCH", "/members/{target}", {"role": "owner"}),
    "demote an owner": Call("PATCH", "/members/{co_owner}", {"role": "admin"}),
    "remove a member": Call("DELETE", "/members/{target}"),
    "remove an owner": Call("DELETE", "/members/{co_owner}"),
    "transfer ownership": Call("POST", "/transfer", {"user_id": "{target}"}),
    "leave": Call("POST", "/leave"),
    "list invites": Call("GET", "/invites"),
    "invite a member": Call("POST", "/invites", {"email": "new@example.com", "role": "member"}),
    "invite an admin": Call("POST", "/invites", {"email": "new@example.com", "role": "admin"}),
    "invite an owner": Call("POST", "/invites", {"email": "new@example.com", "role": "owner"}),
    "revoke a member invite": Call("DELETE", "/invites/{member_invite}"),
    "revoke an owner invite": Call("DELETE", "/invites/{owner_invite}"),
    "resend a member invite": Call("POST", "/invites/{member_invite}/resend"),
    "resend an owner invite": Call("POST", "/invites/{owner_invite}/resend"),
    "read audit": Call("GET", "/audit"),
}

# DESIGN §4a: a member reads; an admin also manages invites and members up to admin; an
# owner also manages owners, ownership transfer and deletion. (owner, admin, member)
ALLOWED: Mapping[str, tuple[int, int, int]] = {
    "get workspace": (200, 200, 200),
    "rename": (200, 200, 403),
    "delete": (204, 403, 403),
    "list members": (200, 200, 200),
    "make a member admin": (200, 200, 403),
    "make a member owner": (200, 403, 403),
    "demote an owner": (200, 403, 403),
    "remove a member": (204, 204, 403),
    "remove an owner": (204, 403, 403),
    "transfer ownership": (204, 403, 403),
    "leave": (204, 204, 204),
    "list invites": (200, 200, 403),
    "invite a member": (201, 201, 403),
    "invite an admin": (201, 201, 403),
    "invite an owner": (201, 403, 403),
    "revoke a member invite": (204, 204, 403),
    "revoke an owner invite": (204, 403, 403),
    "resend a member invite": (200, 200, 403),
    "resend an owner invite": (200, 403, 403),
    "read audit": (200, 200, 403),
}
READS = frozenset({"get workspace", "list members", "list invites", "read audit"})
CODE_FOR = {401: "not_authenticated", 403: "permission_denied", 404: "not_found"}


def expected_status(action: str, role: str) -> int:
    if role == "nobody":
        return 401
    if role == "non-member":
        return 404
    return ALLOWED[action][("owner", "admin", "member").index(role)]


MATRIX = [
    pytest.param(action, role, id=f"{role}-{action.replace(' ', '-')}")
    for action in CALLS
    for role in ("owner", "admin", "member", "non-member", "nobody")
]
ID_CALLS = [
    "make a member admin",
    "make a member owner",
    "demote an owner",
    "remove a member",
    "remove an owner",
    "transfer ownership",
    "revoke a member invite",
    "revoke an owner invite",
    "resend a member invite",
    "resend an owner invite",
]
MADE_UP_IDS = dict.fromkeys(("target", "co_owner", "member_invite", "owner_invite"), MADE_UP)


# --- sites ----------------------------------------------------------------------------------


def settings_on(database_url: str, **overrides: Any) -> Settings:
    overrides.setdefault("billing_plans", UNLIMITED_PLANS)
    return Settings(
        database_url=database_url, environment="test", email_backend="memory", **overrides
    )


class Crowd:
    """One app on one database, with everyone signed in once; each test gets a fresh team."""

    def __init__(self, site: Site, users: dict[str, str], callers: dict[str, Caller]) -> None:
        self.site = site
        self.services = site.services
        self.users = users
        self.callers = callers
        self._names = itertools.count(1)

    async def team(self) -> Team:
        return await make_team(self.services, self.users, f"Team {next(self._names)}")

    async def own_workspace(self, email: str) -> str:
        """A fresh workspace that ``email`` owns alone."""
        name = f"Own {next(self._names)}"
        return await make_workspace(self.services, name, self.users[email])


@pytest.fixture(scope="class", params=["sqlite", "postgres"])
def crowd_database(request: pytest.FixtureRequest) -> str:
    """A migrated, empty database per class: a SQLite file, then Postgres (made outside the
    event loop: migrating runs one of its own)."""
    databases: SqliteDatabases | PostgresDatabases = request.getfixturevalue(
        f"{request.param}_databases"
    )
    return databases.new()


@pytest_asyncio.fixture(scope="class", loop_scope="class")
async def crowd(crowd_database: str) -> AsyncIterator[Crowd]:
    """The app with the owner, the admin, the member and the outsider signed in, and a client
    that is signed in as nobody."""
    async with AsyncExitStack() as stack:
        # The matrix sends hundreds of requests from one address: lift the general limit.
        app = create_app(settings_on(crowd_database, rate_limit_max=100_000), dispatch_outbox=False)
        await stack.enter_async_context(serving(app))
        site = Site(app, stack)
        users = await register_people(site.services)
        callers = {role: Caller.of(await site.sign_in(e)) for role, e in ROLE_OF_CALLER.items()}
        callers["nobody"] = Caller(await site.client())
        yield Crowd(site, users, callers)


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest) -> str:
    """A migrated, empty database: a SQLite file, then Postgres."""
    url: str = request.getfixturevalue(f"{request.param}_url")
    return url


OpenSite = Callable[..., Awaitable["Acme"]]


@frozen
class Acme:
    """A running app with the people registered and a team workspace made."""

    site: Site
    users: Mapping[str, str]
    team: Team

    @property
    def services(self) -> Services:
        return self.site.services

    @property
    def workspace_id(self) -> str:
        return self.team.workspace_id

    def url(self, path: str = "") -> str:
        return f"/api/workspaces/{self.team.workspace_id}{path}"

    async def sign_in(self, email: str, peer: tuple[str, int] = PEER) -> Caller:
        return Caller.of(await self.site.sign_in(email, peer))

    async def invite_email(self, email: str) -> EmailMessage:
        return await self.site.mail_to(email)

    async def invite_token(self, email: str) -> str:
        message = await self.site.mail_to(email)
        found = INVITE_LINK.search(message.text)
        assert found is not None, message.text
        return found.group(1)


@pytest.fixture
async def open_acme(database: str) -> AsyncIterator[OpenSite]:
    """Start the app on ``database`` with settings overrides, and make the team."""
    async with AsyncExitStack() as stack:

        async def start(**overrides: Any) -> Acme:
            app: Litestar = create_app(settings_on(database, **overrides), dispatch_outbox=False)
            await stack.enter_async_context(serving(app))
            site = Site(app, stack)
            users = await register_people(site.services)
            return Acme(site, users, await make_team(site.services, users, "Acme Inc"))

        yield start


@pytest.fixture
async def acme(open_acme: OpenSite) -> Acme:
    """The app with default settings and the team."""
    return await open_acme()


async def invite(acme: Acme, by: Caller, email: str = NEWBIE, role: str = "member") -> str:
    """Invite ``email`` over HTTP and return the token from the email it gets."""
    response = await by.send("POST", acme.url("/invites"), {"email": email, "role": role})
    assert 201 == response.status_code, response.text
    return await acme.invite_token(email)


async def pending_id(acme: Acme, by: Caller, email: str) -> str:
    listed = await by.send("GET", acme.url("/invites"))
    ids: list[str] = [i["id"] for i in listed.json() if i["email"] == email]
    assert 1 == len(ids), listed.text
    return ids[0]


async def view(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.post("/api/invites/view", json={"token": token})


async def accept(caller: Caller, token: str) -> httpx.Response:
    return await caller.send("POST", "/api/invites/accept", {"token": token})


# --- 1. the role matrix ---------------------------------------------------------------------


@pytest.mark.asyncio(loop_scope="class")
class TestRoleMatrix:
    @pytest.mark.parametrize(("action", "role"), MATRIX)
    async def test_each_role_gets_what_the_matrix_says(
        self, crowd: Crowd, action: str, role: str
    ) -> None:
        """Owner, admin, member, non-member and nobody get the status DESIGN §4a gives them,
        and only an allowed change changes anything."""
        team = await crowd.team()
        before = await snapshot(crowd.services, team.workspace_id)

        response = await CALLS[action].by(crowd.callers[role], team.ids())

        status = expected_status(action, role)
        changed = 200 <= status < 300 and action not in READS
        after = await snapshot(crowd.services, team.workspace_id)
        assert (status, CODE_FOR.get(status), changed) == (
            response.status_code,
            code_or_none(response),
            before != after,
        ), response.text


# --- 2. tenant isolation --------------------------------------------------------------------


@pytest.mark.asyncio(loop_scope="class")
class TestTenantIsolation:
    @pytest.mark.parametrize("action", list(CALLS))
    async def test_another_workspace_answers_like_a_missing_one(
        self, crowd: Crowd, action: str
    ) -> None:
        """Someone outside a workspace gets the very 404 a made-up workspace id gets, and
        nothing in the workspace changes."""
        team = await crowd.team()
        outsider = crowd.callers["non-member"]
        before = await snapshot(crowd.services, team.workspace_id)

        real = await CALLS[action].by(outsider, team.ids())
        made_up = await CALLS[action].by(outsider, {**team.ids(), "workspace": MADE_UP})

        assert problem(made_up) == problem(real)
        assert (404, "not_found", "workspace not found") == (
            real.status_code,
            real.json()["code"],
            real.json()["detail"],
        )
        assert before == await snapshot(crowd.services, team.workspace_id)

    @pytest.mark.parametrize("action", ID_CALLS)
    async def test_ids_from_another_workspace_are_not_found_in_ones_own(
        self, crowd: Crowd, action: str
    ) -> None:
        """An owner using another workspace's member or invite id under their own workspace's
        URL gets the 404 a made-up id gets, and neither workspace changes."""
        team = await crowd.team()
        own = await crowd.own_workspace(OUTSIDER)
        outsider = crowd.callers["non-member"]
        before = (
            await snapshot(crowd.services, team.workspace_id),
            await snapshot(crowd.services, own),
        )

        foreign = await CALLS[action].by(outsider, {**team.ids(), "workspace": own})
        made_up = await CALLS[action].by(
            outsider,
            {**team.ids(), **MADE_UP_IDS, "workspace": own},
        )

        assert problem(made_up) == problem(foreign)
        assert (404, "not_found") == (foreign.status_code, foreign.json()["code"])
        after = (
            await snapshot(crowd.services, team.workspace_id),
            await snapshot(crowd.services, own),
        )
        assert before == after

    async def test_an_invite_of_one_workspace_is_not_found_under_another(
        self, crowd: Crowd
    ) -> None:
        """The owner of both workspaces cannot revoke or resend B's invite through A's URL."""
        first, second = await crowd.team(), await crowd.team()
        owner = crowd.callers["owner"]
        crossed = {**first.ids(), "member_invite": second.member_invite}
        before = await snapshot(crowd.services, second.workspace_id)

        revoke = await CALLS["revoke a member invite"].by(owner, crossed)
        resend = await CALLS["resend a member invite"].by(owner, crossed)

        assert [(404, "not_found", "invite not found")] * 2 == [
            (r.status_code, r.json()["code"], r.json()["detail"]) for r in (revoke, resend)
        ]
        assert before == await snapshot(crowd.services, second.workspace_id)

    async def test_nobody_gets_401_whether_or_not_the_workspace_exists(self, crowd: Crowd) -> None:
        """Without a session every workspace route answers 401, whether the id exists or not."""
        team = await crowd.team()
        nobody = crowd.callers["nobody"]

        real = await CALLS["get workspace"].by(nobody, team.ids())
        made_up = await CALLS["get workspace"].by(nobody, {**team.ids(), "workspace": MADE_UP})

        assert problem(made_up) == problem(real)
        assert 401 == real.status_code


# --- 3. the last owner ----------------------------------------------------------------------


class TestLastOwner:
    async def test_the_sole_owner_cannot_leave_or_step_down(self, acme: Acme) -> None:
        """Leaving, demoting or removing oneself as the only owner answers 409 last_owner."""
        olga = await acme.sign_in(CO_OWNER)
        founder_id = acme.users[OWNER]
        # Olga steps down first, so the founder is the only owner.
        stepped = await olga.send(
            "PATCH", acme.url(f"/members/{acme.users[CO_OWNER]}"), {"role": "admin"}
        )
        owner = await acme.sign_in(OWNER)
        before = await snapshot(acme.services, acme.workspace_id)

        leave = await owner.send("POST", acme.url("/leave"))
        demote = await owner.send("PATCH", acme.url(f"/members/{founder_id}"), {"role": "admin"})
        remove = await owner.send("DELETE", acme.url(f"/members/{founder_id}"))

        assert 200 == stepped.status_code, stepped.text
        assert [(409, "last_owner")] * 3 == [
            (r.status_code, r.json()["code"]) for r in (leave, demote, remove)
        ]
        assert before == await snapshot(acme.services, acme.workspace_id)

    async def test_the_only_owner_stepping_down_last_is_refused(self, acme: Acme) -> None:
        """Of two owners, the first may step down and the second, now alone, may not."""
        olga = await acme.sign_in(CO_OWNER)
        owner = await acme.sign_in(OWNER)

        first = await olga.send("POST", acme.url("/leave"))
        second = await owner.send("POST", acme.url("/leave"))

        assert (204, (409, "last_owner")) == (
            first.status_code,
            (second.status_code, second.json()["code"]),
        )
        assert "owner" == await role_in(acme.services, acme.workspace_id, OWNER)

    async def test_after_a_transfer_the_former_owner_can_leave(self, acme: Acme) -> None:
        """Transferring ownership makes the target owner and the former one admin, who may
        then leave."""
        olga = await acme.sign_in(CO_OWNER)
        await olga.send("POST", acme.url("/leave"))
        owner = await acme.sign_in(OWNER)

        transfer = await owner.send("POST", acme.url("/transfer"), {"user_id": acme.users[ADMIN]})
        roles = [await role_in(acme.services, acme.workspace_id, e) for e in (OWNER, ADMIN)]
        leave = await owner.send("POST", acme.url("/leave"))
        after = await owner.send("GET", acme.url())

        assert (204, ["admin", "owner"]) == (transfer.status_code, roles)
        assert (204, None, 404) == (
            leave.status_code,
            await role_in(acme.services, acme.workspace_id, OWNER),
            after.status_code,
        )


# --- 4. invites over HTTP -------------------------------------------------------------------


class TestInvites:
    async def test_an_invite_emails_a_link_and_never_shows_its_token(self, acme: Acme) -> None:
        """Creating an invite mails an accept link; neither the answer nor the list shows the
        token or its hash."""
        owner = await acme.sign_in(OWNER)

        created = await owner.send(
            "POST", acme.url("/invites"), {"email": "New.Person@Example.com", "role": "admin"}
        )
        message = await acme.invite_email("new.person@example.com")
        listed = await owner.send("GET", acme.url("/invites"))

        found = INVITE_LINK.search(message.text)
        assert found is not None, message.text
        token = found.group(1)
        assert f"{acme.site.settings.base_url}/invites/accept?token={token}" in message.text
        assert (201, "new.person@example.com", "admin", "Frances Founder") == (
            created.status_code,
            created.json()["email"],
            created.json()["role"],
            created.json()["inviter"]["name"],
        )
        assert 200 == listed.status_code
        mine = [i for i in listed.json() if i["id"] == created.json()["id"]]
        assert [created.json()] == mine
        secrets = (token, hash_token(token))
        assert [(False, False)] * 2 == [
            tuple(s in body for s in secrets) for body in (created.text, listed.text)
        ]
        expected_keys = {"id", "email", "role", "inviter", "created_at", "expires_at", "expired"}
        assert [expected_keys] * len(listed.json()) == [set(i) for i in listed.json()]

    async def test_a_second_pending_invite_and_inviting_a_member_conflict(self, acme: Acme) -> None:
        """A second invite to a pending address, or one to an existing member, answers 409."""
        owner = await acme.sign_in(OWNER)
        await invite(acme, owner)
        before = await snapshot(acme.services, acme.workspace_id)

        again = await owner.send("POST", acme.url("/invites"), {"email": NEWBIE})
        member = await owner.send("POST", acme.url("/invites"), {"email": MEMBER.upper()})

        assert [(409, "conflict")] * 2 == [
            (r.status_code, r.json()["code"]) for r in (again, member)
        ]
        assert before == await snapshot(acme.services, acme.workspace_id)

    async def test_admins_cannot_invite_owners_and_members_cannot_invite(self, acme: Acme) -> None:
        """An admin inviting an owner and a member inviting anyone answer 403, and no mail goes."""
        admin = await acme.sign_in(ADMIN)
        member = await acme.sign_in(MEMBER)
        sent = len(acme.site.mailbox.sent)

        by_admin = await admin.send(
            "POST", acme.url("/invites"), {"email": NEWBIE, "role": "owner"}
        )
        by_member = await member.send("POST", acme.url("/invites"), {"email": NEWBIE})
        await acme.site.mail_to(MEMBER)  # flush: whatever was queued is now sent

        assert [(403, "permission_denied")] * 2 == [
            (r.status_code, r.json()["code"]) for r in (by_admin, by_member)
        ]
        assert [] == [m for m in acme.site.mailbox.sent[sent:] if m.to == NEWBIE]

    async def test_resend_retires_the_old_link_and_mails_a_working_one(self, acme: Acme) -> None:
        """After a resend the old link answers 410 on the API and the page; the new one works."""
        owner = await acme.sign_in(OWNER)
        old = await invite(acme, owner)
        invite_id = await pending_id(acme, owner, NEWBIE)
        anonymous = await acme.site.client()

        resent = await owner.send("POST", acme.url(f"/invites/{invite_id}/resend"))
        new = await acme.invite_token(NEWBIE)

        assert (200, True, False, False) == (
            resent.status_code,
            new != old,
            old in resent.text,
            new in resent.text,
        )
        old_view = await view(anonymous, old)
        old_page = await anonymous.get("/invites/accept", params={"token": old})
        new_view = await view(anonymous, new)
        new_page = await anonymous.get("/invites/accept", params={"token": new})
        assert ((410, "invite_gone"), 410) == (
            (old_view.status_code, old_view.json()["code"]),
            old_page.status_code,
        )
        assert (200, NEWBIE, 200) == (
            new_view.status_code,
            new_view.json()["email"],
            new_page.status_code,
        )

    async def test_a_revoked_link_is_gone(self, acme: Acme) -> None:
        """After a revoke the link answers 410 and can no longer be accepted."""
        owner = await acme.sign_in(OWNER)
        token = await invite(acme, owner)
        invite_id = await pending_id(acme, owner, NEWBIE)
        anonymous = await acme.site.client()

        revoked = await owner.send("DELETE", acme.url(f"/invites/{invite_id}"))
        gone = await view(anonymous, token)
        page = await anonymous.get("/invites/accept", params={"token": token})
        listed = await owner.send("GET", acme.url("/invites"))

        assert (204, (410, "invite_gone"), 410) == (
            revoked.status_code,
            (gone.status_code, gone.json()["code"]),
            page.status_code,
        )
        assert [] == [i for i in listed.json() if i["id"] == invite_id]

    async def test_a_declined_invite_is_gone(self, acme: Acme) -> None:
        """Declining needs only the link; afterwards viewing and accepting answer 410."""
        owner = await acme.sign_in(OWNER)
        token = await invite(acme, owner)
        anonymous = await acme.site.client()

        declined = await anonymous.post("/api/invites/decline", json={"token": token})
        newbie = await acme.sign_in(NEWBIE)
        after = [await view(anonymous, token), await accept(newbie, token)]
        again = await anonymous.post("/api/invites/decline", json={"token": token})

        assert 204 == declined.status_code, declined.text
        assert [(410, "invite_gone")] * 3 == [
            (r.status_code, r.json()["code"]) for r in (*after, again)
        ]
        assert None is await role_in(acme.services, acme.workspace_id, NEWBIE)

    async def test_declining_through_the_page_form_works(self, acme: Acme) -> None:
        """The page's decline form answers 200 and the link is gone afterwards."""
        owner = await acme.sign_in(OWNER)
        token = await invite(acme, owner)
        anonymous = await acme.site.client()

        declined = await anonymous.post("/invites/decline", data={"token": token})
        page = await anonymous.get("/invites/accept", params={"token": token})

        assert (200, True, 410) == (
            declined.status_code,
            "Invitation declined" in declined.text,
            page.status_code,
        )

    async def test_someone_else_cannot_accept(self, acme: Acme) -> None:
        """A signed-in user with another email gets 403 and no membership; the invite stays."""
        owner = await acme.sign_in(OWNER)
        token = await invite(acme, owner)
        dana = await acme.sign_in(OUTSIDER)

        refused = await accept(dana, token)
        still = await view(dana.client, token)

        assert ((403, "permission_denied"), None, 200) == (
            (refused.status_code, refused.json()["code"]),
            await role_in(acme.services, acme.workspace_id, OUTSIDER),
            still.status_code,
        )

    async def test_the_invited_user_joins_with_the_invited_role_once(self, acme: Acme) -> None:
        """Accepting as the invited address makes a membership with the role; again is 410."""
        owner = await acme.sign_in(OWNER)
        token = await invite(acme, owner, role="admin")
        newbie = await acme.sign_in(NEWBIE)

        joined = await accept(newbie, token)
        again = await accept(newbie, token)
        shown = await newbie.send("GET", acme.url())

        assert (200, {"workspace_id": acme.workspace_id, "role": "admin"}) == (
            joined.status_code,
            joined.json(),
        )
        assert ((410, "invite_gone"), "admin", (200, "admin")) == (
            (again.status_code, again.json()["code"]),
            await role_in(acme.services, acme.workspace_id, NEWBIE),
            (shown.status_code, shown.json()["role"]),
        )
        listed = await owner.send("GET", acme.url("/invites"))
        assert [] == [i for i in listed.json() if i["email"] == NEWBIE]

    async def test_an_answered_address_can_be_invited_again(self, acme: Acme) -> None:
        """After a decline, and after a revoke, the same address can be invited anew."""
        owner = await acme.sign_in(OWNER)
        anonymous = await acme.site.client()
        declined = await anonymous.post(
            "/api/invites/decline", json={"token": await invite(acme, owner)}
        )

        after_decline = await owner.send("POST", acme.url("/invites"), {"email": NEWBIE})
        invite_id = await pending_id(acme, owner, NEWBIE)
        revoked = await owner.send("DELETE", acme.url(f"/invites/{invite_id}"))
        after_revoke = await owner.send("POST", acme.url("/invites"), {"email": NEWBIE})

        assert [204, 201, 204, 201] == [
            r.status_code for r in (declined, after_decline, revoked, after_revoke)
        ]

    async def test_accepting_when_already_a_member_conflicts(self, acme: Acme) -> None:
        """Someone who joined meanwhile by other means gets 409 and keeps one membership."""
        owner = await acme.sign_in(OWNER)
        token = await invite(acme, owner, role="admin")
        newbie = await acme.sign_in(NEWBIE)
        newbie_id = (await newbie.send("GET", "/api/me")).json()["user"]["id"]
        await make_member(acme.services, acme.workspace_id, newbie_id, Role.MEMBER)

        response = await accept(newbie, token)

        assert ((409, "conflict"), "member", 1) == (
            (response.status_code, response.json()["code"]),
            await role_in(acme.services, acme.workspace_id, NEWBIE),
            await member_rows(acme.services, acme.workspace_id, NEWBIE),
        )

    async def test_an_accept_needs_the_csrf_token(self, acme: Acme) -> None:
        """The accept API refuses a cookie-authenticated request without X-CSRF-Token."""
        owner = await acme.sign_in(OWNER)
        token = await invite(acme, owner)
        newbie = await acme.sign_in(NEWBIE)

        refused = await newbie.client.post("/api/invites/accept", json={"token": token})

        assert ((403, "csrf_failed"), None) == (
            (refused.status_code, refused.json()["code"]),
            await role_in(acme.services, acme.workspace_id, NEWBIE),
        )

    async def test_an_unknown_token_is_not_found(self, acme: Acme) -> None:
        """A token that was never issued answers 404 on the API and the page."""
        anonymous = await acme.site.client()

        api = await view(anonymous, "never-issued")
        page = await anonymous.get("/invites/accept", params={"token": "never-issued"})

        assert ((404, "not_found"), 404) == (
            (api.status_code, api.json()["code"]),
            page.status_code,
        )

    async def test_an_expired_invite_is_gone(self, open_acme: OpenSite) -> None:
        """Once its lifetime has passed, the link answers 410 everywhere."""
        acme = await open_acme(invite_ttl_seconds=1)
        owner = await acme.sign_in(OWNER)
        token = await invite(acme, owner)
        newbie = await acme.sign_in(NEWBIE)

        await asyncio.sleep(1.1)
        gone = [await view(newbie.client, token), await accept(newbie, token)]
        page = await newbie.client.get("/invites/accept", params={"token": token})
        listed = await owner.send("GET", acme.url("/invites"))

        assert [(410, "invite_gone")] * 2 == [(r.status_code, r.json()["code"]) for r in gone]
        assert (410, None) == (
            page.status_code,
            await role_in(acme.services, acme.workspace_id, NEWBIE),
        )
        assert [True] == [i["expired"] for i in listed.json() if i["email"] == NEWBIE]

    async def test_an_expired_invite_can_be_replaced(self, open_acme: OpenSite) -> None:
        """A new invite to an address whose invite expired is made, not refused as a duplicate."""
        acme = await open_acme(invite_ttl_seconds=1)
        owner = await acme.sign_in(OWNER)
        await invite(acme, owner)

        await asyncio.sleep(1.1)
        again = await owner.send("POST", acme.url("/invites"), {"email": NEWBIE})

        assert 201 == again.status_code, again.text


# --- 5. races -------------------------------------------------------------------------------

ROUNDS = 5  # an interleaving is likely, not certain: a few rounds make a miss unlikely


class TestRaces:
    async def test_of_parallel_accepts_exactly_one_joins(self, acme: Acme) -> None:
        """Nine accepts of one invite at once, from three sessions: one 200, the rest 410 or
        409, and one membership row."""
        owner = await acme.sign_in(OWNER)
        token = await invite(acme, owner)
        sessions = [await acme.sign_in(NEWBIE) for _ in range(3)]

        responses = await asyncio.gather(*(accept(s, token) for s in sessions * 3))

        statuses = sorted(r.status_code for r in responses)
        assert [200] == [s for s in statuses if s == 200], [r.text for r in responses]
        assert set(statuses) - {200} <= {409, 410}, [r.text for r in responses]
        assert 1 == await member_rows(acme.services, acme.workspace_id, NEWBIE)

    async def test_of_parallel_invites_of_one_address_one_is_made(self, acme: Acme) -> None:
        """Five invites of one address at once: one 201, four 409, one pending invite."""
        owner = await acme.sign_in(OWNER)
        body = {"email": NEWBIE}

        responses = await asyncio.gather(
            *(owner.send("POST", acme.url("/invites"), body) for _ in range(5))
        )

        assert [201, 409, 409, 409, 409] == sorted(r.status_code for r in responses), [
            r.text for r in responses
        ]
        listed = await owner.send("GET", acme.url("/invites"))
        assert 1 == len([i for i in listed.json() if i["email"] == NEWBIE])

    async def test_of_parallel_resends_one_link_survives(self, acme: Acme) -> None:
        """Three resends of one invite at once: one 200, the others 410, one pending invite."""
        owner = await acme.sign_in(OWNER)
        await invite(acme, owner)
        invite_id = await pending_id(acme, owner, NEWBIE)

        responses = await asyncio.gather(
            *(owner.send("POST", acme.url(f"/invites/{invite_id}/resend")) for _ in range(3))
        )

        assert [200, 410, 410] == sorted(r.status_code for r in responses), [
            r.text for r in responses
        ]
        await pending_id(acme, owner, NEWBIE)

    async def test_two_owners_leaving_at_once_leave_an_owner(self, acme: Acme) -> None:
        """When both owners leave at the same moment, one of them is refused (409
        last_owner): a workspace always keeps an owner."""
        owners = [await acme.sign_in(OWNER), await acme.sign_in(CO_OWNER)]
        outcomes = []
        for n in range(ROUNDS):
            workspace_id = await make_workspace(
                acme.services,
                f"Race {n}",
                acme.users[OWNER],
                {acme.users[CO_OWNER]: Role.OWNER},
            )
            url = f"/api/workspaces/{workspace_id}/leave"
            responses = await asyncio.gather(*(o.send("POST", url) for o in owners))
            left = [await role_in(acme.services, workspace_id, e) for e in (OWNER, CO_OWNER)]
            outcomes.append((sorted(r.status_code for r in responses), left.count("owner")))

        assert [([204, 409], 1)] * ROUNDS == outcomes

    async def test_two_owners_demoting_each_other_at_once_leave_an_owner(self, acme: Acme) -> None:
        """When each of two owners makes the other an admin at the same moment, one change is
        refused: a workspace always keeps an owner."""
        founder, olga = await acme.sign_in(OWNER), await acme.sign_in(CO_OWNER)
        outcomes = []
        for n in range(ROUNDS):
            workspace_id = await make_workspace(
                acme.services,
                f"Race {n}",
                acme.users[OWNER],
                {acme.users[CO_OWNER]: Role.OWNER},
            )
            url = f"/api/workspaces/{workspace_id}/members/{{}}"
            responses = await asyncio.gather(
                founder.send("PATCH", url.format(acme.users[CO_OWNER]), {"role": "admin"}),
                olga.send("PATCH", url.format(acme.users[OWNER]), {"role": "admin"}),
            )
            roles = [await role_in(acme.services, workspace_id, e) for e in (OWNER, CO_OWNER)]
            done, refused = sorted(r.status_code for r in responses)
            # The loser is refused as the last owner (409), or, when the winner went first,
            # as an admin who may not touch an owner (403).
            outcomes.append((done, refused in {403, 409}, roles.count("owner")))

        assert [(200, True, 1)] * ROUNDS == outcomes

    async def test_an_accept_racing_a_revoke_has_one_winner(self, acme: Acme) -> None:
        """An accept and a revoke of one invite at once: exactly one succeeds, and a
        membership exists exactly when the accept won."""
        owner = await acme.sign_in(OWNER)
        token = await invite(acme, owner)
        invite_id = await pending_id(acme, owner, NEWBIE)
        newbie = await acme.sign_in(NEWBIE)

        accepted, revoked = await asyncio.gather(
            accept(newbie, token), owner.send("DELETE", acme.url(f"/invites/{invite_id}"))
        )

        outcome = (accepted.status_code, revoked.status_code)
        assert outcome in {(200, 410), (410, 204)}, (accepted.text, revoked.text)
        joined = await member_rows(acme.services, acme.workspace_id, NEWBIE)
        assert int(accepted.status_code == 200) == joined


# --- 6. the invited person who is not signed in ---------------------------------------------


class TestNotSignedIn:
    async def test_the_page_signs_the_invited_person_in_and_back_to_accept(
        self, acme: Acme
    ) -> None:
        """Page → sign-in email → confirm form → back on the page → accept form → member."""
        owner = await acme.sign_in(OWNER)
        token = await invite(acme, owner)
        visitor = await acme.site.client(NEWBIE_PEER)

        page = await visitor.get("/invites/accept", params={"token": token})
        asked = await visitor.post("/invites/sign-in", data={"token": token})
        link = token_in(await acme.site.mail_to(NEWBIE))
        confirmed = await visitor.post("/auth/confirm", data={"token": link})
        back = await visitor.get(confirmed.headers["location"])

        assert 200 == page.status_code
        assert [True] * 4 == [
            text in page.text
            for text in ("Acme Inc", "Frances Founder", 'action="/invites/sign-in"', NEWBIE)
        ]
        assert 'action="/invites/accept"' not in page.text
        assert (200, True) == (asked.status_code, "Check your email" in asked.text)
        assert (303, f"/invites/accept?token={quote(token)}") == (
            confirmed.status_code,
            confirmed.headers["location"],
        )
        assert (200, True, False) == (
            back.status_code,
            'action="/invites/accept"' in back.text,
            'action="/invites/sign-in"' in back.text,
        )
        csrf = CSRF_FIELD.search(back.text)
        assert csrf is not None, back.text

        refused = await visitor.post("/invites/accept", data={"token": token})
        assert (403, None) == (
            refused.status_code,
            await role_in(acme.services, acme.workspace_id, NEWBIE),
        )

        joined = await visitor.post("/invites/accept", data={"token": token, "_csrf": csrf[1]})
        assert (200, True, "member") == (
            joined.status_code,
            "Welcome to Acme Inc" in joined.text,
            await role_in(acme.services, acme.workspace_id, NEWBIE),
        )

    async def test_the_page_tells_another_signed_in_user_it_is_not_theirs(self, acme: Acme) -> None:
        """Signed in with another address, the page offers no accept button."""
        owner = await acme.sign_in(OWNER)
        token = await invite(acme, owner)
        dana = await acme.sign_in(OUTSIDER)

        page = await dana.client.get("/invites/accept", params={"token": token})

        assert (200, False, True) == (
            page.status_code,
            'action="/invites/accept"' in page.text,
            f"You are signed in as {OUTSIDER}" in page.text,
        )

    async def test_the_accept_form_without_a_session_asks_to_sign_in(self, acme: Acme) -> None:
        """Posting the accept form with no session answers 401 and makes nothing."""
        owner = await acme.sign_in(OWNER)
        token = await invite(acme, owner)
        anonymous = await acme.site.client()

        response = await anonymous.post("/invites/accept", data={"token": token})

        assert (401, None) == (
            response.status_code,
            await role_in(acme.services, acme.workspace_id, NEWBIE),
        )


# --- 7. the audit log -----------------------------------------------------------------------


class TestAudit:
    async def test_invite_and_accept_are_audited_with_actor_and_ip(self, acme: Acme) -> None:
        """member.invited and invite.accepted show who did them and from which address."""
        owner = await acme.sign_in(OWNER)
        token = await invite(acme, owner)
        newbie = await acme.sign_in(NEWBIE, NEWBIE_PEER)
        await accept(newbie, token)
        newbie_id = (await newbie.send("GET", "/api/me")).json()["user"]["id"]

        response = await owner.send("GET", acme.url("/audit"))

        assert 200 == response.status_code, response.text
        events = {
            e["action"]: e for e in response.json()["events"] if e["data"].get("email") == NEWBIE
        }
        assert [
            ("member.invited", acme.users[OWNER], PEER[0]),
            ("invite.accepted", newbie_id, NEWBIE_PEER[0]),
        ] == [
            (a, events[a]["actor_id"], events[a]["ip"])
            for a in ("member.invited", "invite.accepted")
        ]

    async def test_filters_by_action_and_actor(self, acme: Acme) -> None:
        """``action`` and ``actor`` narrow the log to matching events only."""
        owner = await acme.sign_in(OWNER)
        token = await invite(acme, owner)
        newbie = await acme.sign_in(NEWBIE)
        await accept(newbie, token)
        newbie_id = (await newbie.send("GET", "/api/me")).json()["user"]["id"]

        invited = await owner.client.get(acme.url("/audit"), params={"action": "member.invited"})
        by_newbie = await owner.client.get(acme.url("/audit"), params={"actor": newbie_id})

        # The team was made with two invites already; this is the third.
        assert ["member.invited"] * 3 == [e["action"] for e in invited.json()["events"]]
        assert [("invite.accepted", newbie_id)] == [
            (e["action"], e["actor_id"]) for e in by_newbie.json()["events"]
        ]

    async def test_since_and_until_bound_the_time(self, acme: Acme) -> None:
        """A window in the future or the far past holds no events."""
        owner = await acme.sign_in(OWNER)

        future = await owner.client.get(
            acme.url("/audit"), params={"since": "2999-01-01T00:00:00Z"}
        )
        past = await owner.client.get(acme.url("/audit"), params={"until": "2000-01-01T00:00:00Z"})
        now = await owner.client.get(acme.url("/audit"), params={"since": "2000-01-01T00:00:00Z"})

        assert ([], [], True) == (
            future.json()["events"],
            past.json()["events"],
            len(now.json()["events"]) > 0,
        )

    async def test_pages_follow_each_other_without_overlap(self, acme: Acme) -> None:
        """Walking ``before`` page by page yields the whole log once, newest first."""
        owner = await acme.sign_in(OWNER)
        for n in range(5):
            await owner.send("PATCH", acme.url(), {"name": f"Acme {n}"})
        whole = (await owner.client.get(acme.url("/audit"), params={"limit": 200})).json()

        pages: list[list[int]] = []
        before: int | None = None
        while True:
            params: dict[str, int] = {"limit": 3} | ({"before": before} if before else {})
            page = (await owner.client.get(acme.url("/audit"), params=params)).json()
            pages.append([e["seq"] for e in page["events"]])
            before = page["next_before"]
            if before is None:
                break

        seqs = [e["seq"] for e in whole["events"]]
        assert (seqs, None) == ([s for p in pages for s in p], whole["next_before"])
        assert sorted(seqs, reverse=True) == seqs
        assert len(set(seqs)) == len(seqs)
        assert all(0 < len(p) <= 3 for p in pages[:-1])

    async def test_a_member_cannot_read_the_log(self, acme: Acme) -> None:
        """The audit log is for admins and owners: a member gets 403."""
        member = await acme.sign_in(MEMBER)

        response = await member.send("GET", acme.url("/audit"))

        assert (403, "permission_denied") == (response.status_code, response.json()["code"])


# --- bad input -----------------------------------------------------------------------------


class TestBadInput:
    async def test_every_bad_field_of_an_invite_is_listed(self, acme: Acme) -> None:
        """DESIGN §4a: bad input answers 400 listing every bad field, not only the first."""
        owner = await acme.sign_in(OWNER)

        response = await owner.send("POST", acme.url("/invites"), {"email": 5, "role": "boss"})

        assert (400, "invalid_input", ["email", "role"]) == (
            response.status_code,
            response.json()["code"],
            sorted(e["field"] for e in response.json()["errors"]),
        )

    async def test_every_bad_audit_filter_is_listed(self, acme: Acme) -> None:
        """Two bad query parameters of the audit log are both named."""
        owner = await acme.sign_in(OWNER)

        response = await owner.client.get(acme.url("/audit"), params={"before": "x", "limit": "y"})

        assert (400, ["before", "limit"]) == (
            response.status_code,
            sorted(e["field"] for e in response.json()["errors"]),
        )

    async def test_a_role_that_does_not_exist_is_bad_input(self, acme: Acme) -> None:
        """Changing a member to an unknown role answers 400 naming ``role``; nothing changes."""
        owner = await acme.sign_in(OWNER)
        before = await snapshot(acme.services, acme.workspace_id)

        response = await owner.send(
            "PATCH", acme.url(f"/members/{acme.users[TARGET]}"), {"role": "superuser"}
        )

        assert (400, ["role"]) == (
            response.status_code,
            [e["field"] for e in response.json()["errors"]],
        )
        assert before == await snapshot(acme.services, acme.workspace_id)

    async def test_transferring_to_oneself_is_bad_input(self, acme: Acme) -> None:
        """An owner handing the workspace to themselves gets 400 naming ``user_id``."""
        owner = await acme.sign_in(OWNER)

        response = await owner.send("POST", acme.url("/transfer"), {"user_id": acme.users[OWNER]})

        assert (400, ["user_id"]) == (
            response.status_code,
            [e["field"] for e in response.json()["errors"]],
        )


# --- 8. the invite rate limit ---------------------------------------------------------------


class TestInviteLimit:
    async def test_the_third_invite_in_a_workspace_is_refused(self, open_acme: OpenSite) -> None:
        """With a limit of two, the third invite answers 429 with Retry-After; another
        workspace still invites."""
        acme = await open_acme(invite_limit_per_workspace=2)
        other = await make_workspace(acme.services, "Demo Studio", acme.users[OWNER])
        owner = await acme.sign_in(OWNER)

        responses = [
            await owner.send("POST", acme.url("/invites"), {"email": f"n{n}@example.com"})
            for n in range(3)
        ]
        elsewhere = await owner.send(
            "POST", f"/api/workspaces/{other}/invites", {"email": "n2@example.com"}
        )

        assert [201, 201] == [r.status_code for r in responses[:2]]
        refused = responses[2]
        assert (429, "rate_limited") == (refused.status_code, refused.json()["code"])
        assert int(refused.headers["retry-after"]) >= 1
        assert 201 == elsewhere.status_code, elsewhere.text
        listed = await owner.send("GET", acme.url("/invites"))
        assert [] == [i for i in listed.json() if i["email"] == "n2@example.com"]


class TestEdgeInputs:
    """Inputs that passed validation and ended in a 500 (a NUL in a path id or a filter on
    Postgres, an integer past int64, JSON nested a thousand deep): each is a 400 problem."""

    @pytest.mark.parametrize(
        "path",
        [
            "/api/workspaces/bad%00id",
            "/api/workspaces/{ws}/audit?action=member.%00",
            "/api/workspaces/{ws}/audit?before=9223372036854775808",
        ],
    )
    async def test_values_the_database_cannot_hold_are_400(self, acme: Acme, path: str) -> None:
        """Never a 500: a 400 problem where the database cannot hold the value (SQLite takes
        a NUL in text, so there it simply matches nothing)."""
        owner = await acme.sign_in(OWNER)

        response = await owner.send("GET", path.format(ws=acme.workspace_id))

        assert response.status_code in (200, 400, 404), response.text
        if response.status_code >= 400:
            assert response.json()["code"] in ("invalid_input", "not_found")

    async def test_deeply_nested_json_is_400(self, acme: Acme) -> None:
        owner = await acme.sign_in(OWNER)
        body = '{"name": ' + "[" * 1500 + "]" * 1500 + "}"

        response = await owner.client.post(
            "/api/workspaces",
            content=body,
            headers={"X-CSRF-Token": owner.csrf or "", "Content-Type": "application/json"},
        )

        assert (400, "invalid_input") == (response.status_code, response.json()["code"])
        assert "nests deeper" in response.json()["detail"]
