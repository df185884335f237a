"""Sign-in over HTTP on real databases (a SQLite file and Postgres): the login link, the
confirm page and API, sessions, CSRF, rate limits, client IPs, audit rows and secrets.

The app runs its lifespan in the test's own event loop and is called through httpx's ASGI
transport, so parallel requests really interleave, the peer is a real IP address, and the
test reads the databases through the app's own services.
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from http.cookies import Morsel, SimpleCookie
from ipaddress import ip_network
from typing import Any

import httpx
import pytest
from attrs import frozen
from litestar import Litestar

from adapters.memory.email import InMemoryEmailSender
from entrypoints.bootstrap import Services
from entrypoints.settings import Settings
from entrypoints.web import create_app
from entrypoints.web.clientip import client_ip, rate_key
from saascore.models import Actor, AuditEvent, EmailMessage, Session
from saascore.outbox import flush
from saascore.users import register_user
from tests.support.context import deps_of, tx_of

PEER = ("10.0.0.2", 1234)
COOKIE = "saascore_session"
HTTPS_COOKIE = "__Host-saascore_session"
LINK = re.compile(r"/auth/confirm\?token=([\w-]+)")
MAIL_WAIT_SECONDS = 5.0
EVIL_ORIGIN = "https://evil.example"


def token_in(message: EmailMessage) -> str:
    found = LINK.search(message.text)
    assert found is not None, message.text
    return found.group(1)


def set_cookies(response: httpx.Response) -> dict[str, Morsel[str]]:
    jar: SimpleCookie = SimpleCookie()
    for header in response.headers.get_list("set-cookie"):
        jar.load(header)
    return dict(jar)


def code_of(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.json()["code"]


def with_cookie(token: str, name: str = COOKIE) -> dict[str, str]:
    return {"Cookie": f"{name}={token}"}


@frozen
class SignedIn:
    """A client holding a fresh session, with that session's cookie value and CSRF token."""

    client: httpx.AsyncClient
    token: str
    csrf: str
    body: dict[str, Any]


class Site:
    """One running app on a real database, and helpers to drive it over HTTP."""

    def __init__(self, app: Litestar, stack: AsyncExitStack) -> None:
        self.app = app
        self.services: Services = app.state.services
        self._stack = stack

    @property
    def settings(self) -> Settings:
        return self.services.settings

    @property
    def mailbox(self) -> InMemoryEmailSender:
        email = self.services.email
        assert isinstance(email, InMemoryEmailSender)
        return email

    async def client(self, peer: tuple[str, int] = PEER) -> httpx.AsyncClient:
        # Litestar types its ASGI callable more narrowly than httpx's generic one.
        transport = httpx.ASGITransport(app=self.app, client=peer)  # type: ignore[arg-type]
        client = httpx.AsyncClient(transport=transport, base_url=self.settings.base_url)
        return await self._stack.enter_async_context(client)

    async def mail_to(self, email: str) -> EmailMessage:
        """Deliver the outbox now and return the newest message to ``email``."""
        s = self.services
        await flush(deps_of(s, s.delivery_policy))
        return self.mailbox.sent_to(email)[-1]

    async def ask(
        self, client: httpx.AsyncClient, email: str, next_path: str | None = None
    ) -> httpx.Response:
        return await client.post("/api/auth/login-link", json={"email": email, "next": next_path})

    async def link_for(
        self, email: str, next_path: str | None = None, client: httpx.AsyncClient | None = None
    ) -> str:
        response = await self.ask(client or await self.client(), email, next_path)
        assert 202 == response.status_code, response.text
        return token_in(await self.mail_to(email))

    async def sign_in(self, email: str, peer: tuple[str, int] = PEER) -> SignedIn:
        client = await self.client(peer)
        token = await self.link_for(email, client=client)
        response = await client.post("/api/auth/confirm", json={"token": token})
        assert 200 == response.status_code, response.text
        body = response.json()
        return SignedIn(client, client.cookies[cookie_name(self)], body["csrf_token"], body)

    async def seed_user(self, email: str) -> str:
        s = self.services
        async with s.uow() as uow:
            user = await register_user(tx_of(s, uow, Actor.system()), email=email)
            await uow.commit()
        return user.id

    async def sessions_of(self, email: str) -> list[Session]:
        async with self.services.uow() as uow:
            user = await uow.users.get_by_email(email)
            assert user is not None
            return list(await uow.sessions.list_for_user(user.id))

    async def audit(self) -> list[AuditEvent]:
        async with self.services.uow() as uow:
            return list(await uow.audit.list(limit=100))


def cookie_name(site: Site) -> str:
    return HTTPS_COOKIE if site.settings.uses_https else COOKIE


OpenSite = Callable[..., Awaitable[Site]]


@asynccontextmanager
async def serving(app: Litestar) -> AsyncIterator[None]:
    """Run the app's lifespan in a task of its own: Litestar must leave the lifespan in the
    task that entered it, and a fixture's setup and teardown run in different tasks."""
    started, stop = asyncio.Event(), asyncio.Event()

    async def run() -> None:
        async with app.lifespan():
            started.set()
            await stop.wait()

    task = asyncio.create_task(run())
    waiting = asyncio.create_task(started.wait())
    await asyncio.wait({task, waiting}, return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        waiting.cancel()
        await task  # start-up failed: raise its error here
    try:
        yield
    finally:
        stop.set()
        await task


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest) -> str:
    """A migrated, empty database: a SQLite file, then Postgres."""
    url: str = request.getfixturevalue(f"{request.param}_url")
    return url


@pytest.fixture
async def open_site(database: str) -> AsyncIterator[OpenSite]:
    """Start the app on ``database`` with settings overrides; stopped after the test."""
    async with AsyncExitStack() as stack:

        async def start(*, dispatch_outbox: bool = False, **overrides: Any) -> Site:
            settings = Settings(
                database_url=database, environment="test", email_backend="memory", **overrides
            )
            app = create_app(settings, dispatch_outbox=dispatch_outbox)
            await stack.enter_async_context(serving(app))
            return Site(app, stack)

        yield start


@pytest.fixture
async def site(open_site: OpenSite) -> Site:
    """The app with default settings (email delivered when a test flushes the outbox)."""
    return await open_site()


async def wait_for_mail(site: Site, email: str) -> EmailMessage:
    """Poll the background dispatcher's deliveries, for at most a few seconds."""
    deadline = time.monotonic() + MAIL_WAIT_SECONDS
    while not site.mailbox.sent_to(email):
        assert time.monotonic() < deadline, f"no email to {email} within {MAIL_WAIT_SECONDS}s"
        await asyncio.sleep(0.02)
    return site.mailbox.sent_to(email)[-1]


class TestWholeFlow:
    async def test_link_page_confirm_then_use_the_api(self, open_site: OpenSite) -> None:
        """A new address asks, gets the email, opens the page, confirms, and uses the API."""
        site = await open_site(dispatch_outbox=True)
        client = await site.client()

        asked = await site.ask(client, "New.Person@Example.com", "/workspaces")
        token = token_in(await wait_for_mail(site, "new.person@example.com"))
        page = await client.get("/auth/confirm", params={"token": token})
        page_again = await client.get("/auth/confirm", params={"token": token})
        confirmed = await client.post("/api/auth/confirm", json={"token": token})

        assert 202 == asked.status_code
        assert (200, 200) == (page.status_code, page_again.status_code)
        assert "new.person@example.com" in page.text
        assert ("no-store", []) == (
            page.headers["cache-control"],
            page.headers.get_list("set-cookie"),
        )
        assert 200 == confirmed.status_code
        body = confirmed.json()
        assert ("new.person@example.com", "/workspaces", True) == (
            body["user"]["email"],
            body["next"],
            body["new_user"],
        )
        cookie = set_cookies(confirmed)[COOKIE]
        assert (True, "lax", "/", "") == (
            cookie["httponly"],
            cookie["samesite"].lower(),
            cookie["path"],
            cookie["secure"],
        )

        me = await client.get("/api/me")
        before = await client.get("/api/workspaces")
        created = await client.post(
            "/api/workspaces", json={"name": "Acme"}, headers={"X-CSRF-Token": body["csrf_token"]}
        )
        after = await client.get("/api/workspaces")

        assert (200, "new.person@example.com") == (me.status_code, me.json()["user"]["email"])
        assert body["csrf_token"] == me.json()["csrf_token"]
        assert (200, []) == (before.status_code, before.json())
        assert (201, "Acme", "owner") == (
            created.status_code,
            created.json()["name"],
            created.json()["role"],
        )
        assert [("Acme", "owner")] == [(w["name"], w["role"]) for w in after.json()]

    async def test_a_known_user_signs_in_to_their_account(self, site: Site) -> None:
        """A seeded user signs in to the account they have; no new account is made."""
        user_id = await site.seed_user("founder@example.com")

        signed_in = await site.sign_in("founder@example.com")

        assert (user_id, False) == (signed_in.body["user"]["id"], signed_in.body["new_user"])

    async def test_an_unsafe_next_is_refused_when_asking(self, site: Site) -> None:
        """``next`` must be a path on this site: a URL elsewhere is bad input."""
        client = await site.client()

        responses = [
            await site.ask(client, "a@example.com", bad)
            for bad in ("https://evil.example/", "//evil.example/x", "/\\evil.example")
        ]

        assert [(400, "invalid_input")] * 3 == [code_of(r) for r in responses]


class TestFormFlow:
    async def test_the_form_signs_in_and_redirects_to_next(self, site: Site) -> None:
        """POST /auth/confirm with the form field answers 303 to ``next``, with the cookie."""
        client = await site.client()
        token = await site.link_for("form@example.com", "/workspaces?tab=members", client)

        response = await client.post("/auth/confirm", data={"token": token})
        me = await client.get("/api/me")

        assert (303, "/workspaces?tab=members") == (
            response.status_code,
            response.headers["location"],
        )
        assert COOKIE in set_cookies(response)
        assert (200, "form@example.com") == (me.status_code, me.json()["user"]["email"])

    async def test_the_form_without_next_redirects_home(self, site: Site) -> None:
        """Without ``next`` the form sends the person to the home page."""
        client = await site.client()
        token = await site.link_for("home@example.com", client=client)

        response = await client.post("/auth/confirm", data={"token": token})

        assert (303, "/") == (response.status_code, response.headers["location"])

    async def test_a_used_link_shows_an_error_page_without_a_cookie(self, site: Site) -> None:
        """The second form post of one link gets a 400 page and no session."""
        client = await site.client()
        token = await site.link_for("twice@example.com", client=client)
        await client.post("/auth/confirm", data={"token": token})

        again = await (await site.client()).post("/auth/confirm", data={"token": token})

        assert (400, {}) == (again.status_code, set_cookies(again))


class TestIndistinguishable:
    async def test_known_and_unknown_addresses_get_the_same_answer(self, site: Site) -> None:
        """With sign-up on, both answer alike and both get a sign-in link."""
        await site.seed_user("known@example.com")
        client = await site.client()

        known = await site.ask(client, "known@example.com")
        unknown = await site.ask(client, "unknown@example.com")

        assert (known.status_code, known.json()) == (unknown.status_code, unknown.json())
        assert 202 == known.status_code
        for email in ("known@example.com", "unknown@example.com"):
            assert LINK.search((await site.mail_to(email)).text) is not None

    async def test_with_signup_off_unknown_gets_mail_without_a_link(
        self, open_site: OpenSite
    ) -> None:
        """With sign-up off, both answer alike; the unknown address gets no link."""
        site = await open_site(signup_enabled=False)
        await site.seed_user("known@example.com")
        client = await site.client()

        known = await site.ask(client, "known@example.com")
        unknown = await site.ask(client, "unknown@example.com")

        assert (known.status_code, known.json()) == (unknown.status_code, unknown.json())
        assert LINK.search((await site.mail_to("known@example.com")).text) is not None
        no_account = await site.mail_to("unknown@example.com")
        assert (False, False) == (
            "/auth/confirm" in no_account.text,
            "/auth/confirm" in (no_account.html or ""),
        )


class TestLinkLifetime:
    async def test_a_link_works_once(self, site: Site) -> None:
        """Using a link a second time answers 400 ``invalid_or_expired_token``."""
        client = await site.client()
        token = await site.link_for("once@example.com", client=client)

        first = await client.post("/api/auth/confirm", json={"token": token})
        second = await client.post("/api/auth/confirm", json={"token": token})
        page = await client.get("/auth/confirm", params={"token": token})

        assert 200 == first.status_code
        assert (400, "invalid_or_expired_token") == code_of(second)
        assert 400 == page.status_code

    async def test_an_expired_link_is_refused(self, open_site: OpenSite) -> None:
        """A link past its lifetime answers 400 on the page and on confirm."""
        site = await open_site(login_link_ttl_seconds=1)
        client = await site.client()
        token = await site.link_for("late@example.com", client=client)

        await asyncio.sleep(1.1)
        page = await client.get("/auth/confirm", params={"token": token})
        confirmed = await client.post("/api/auth/confirm", json={"token": token})

        assert 400 == page.status_code
        assert (400, "invalid_or_expired_token") == code_of(confirmed)

    async def test_a_newer_link_cancels_the_older(self, site: Site) -> None:
        """Asking again cancels the earlier link; the newest one works."""
        client = await site.client()
        old = await site.link_for("twice@example.com", client=client)
        new = await site.link_for("twice@example.com", client=client)

        old_confirmed = await client.post("/api/auth/confirm", json={"token": old})
        new_confirmed = await client.post("/api/auth/confirm", json={"token": new})

        assert (400, "invalid_or_expired_token") == code_of(old_confirmed)
        assert 200 == new_confirmed.status_code

    async def test_an_unknown_token_is_refused(self, site: Site) -> None:
        """A token the server never issued answers like a used one."""
        client = await site.client()

        confirmed = await client.post("/api/auth/confirm", json={"token": secrets.token_urlsafe()})

        assert (400, "invalid_or_expired_token") == code_of(confirmed)


class TestParallelConfirms:
    async def test_exactly_one_of_ten_parallel_confirms_signs_in(self, site: Site) -> None:
        """Ten clients racing one link: one 200, nine 400, and one session afterwards."""
        token = await site.link_for("race@example.com")
        clients = [await site.client() for _ in range(10)]

        responses = await asyncio.gather(
            *(c.post("/api/auth/confirm", json={"token": token}) for c in clients)
        )

        statuses = sorted(r.status_code for r in responses)
        assert [200] + [400] * 9 == statuses
        assert {"invalid_or_expired_token"} == {
            r.json()["code"] for r in responses if r.status_code == 400
        }
        assert 1 == sum(COOKIE in set_cookies(r) for r in responses)
        assert 1 == len(await site.sessions_of("race@example.com"))


class TestSessions:
    async def test_a_forged_cookie_is_not_authenticated(self, site: Site) -> None:
        """A session token the server never issued answers 401 ``not_authenticated``."""
        client = await site.client()

        response = await client.get("/api/me", headers=with_cookie(secrets.token_urlsafe(32)))

        assert (401, "not_authenticated") == code_of(response)

    async def test_no_cookie_is_not_authenticated(self, site: Site) -> None:
        """Without a session the API answers 401."""
        client = await site.client()

        assert (401, "not_authenticated") == code_of(await client.get("/api/workspaces"))

    async def test_an_idle_session_expires(self, open_site: OpenSite) -> None:
        """A session unused for longer than the idle lifetime answers 401."""
        site = await open_site(session_idle_ttl_seconds=1)
        signed_in = await site.sign_in("idle@example.com")
        fresh = await signed_in.client.get("/api/me")

        await asyncio.sleep(1.1)
        stale = await (await site.client()).get("/api/me", headers=with_cookie(signed_in.token))

        assert 200 == fresh.status_code
        assert (401, "not_authenticated") == code_of(stale)

    async def test_use_keeps_a_session_with_a_short_idle_lifetime_alive(
        self, open_site: OpenSite
    ) -> None:
        """A session used more often than its idle lifetime stays signed in."""
        site = await open_site(session_idle_ttl_seconds=2)
        signed_in = await site.sign_in("busy@example.com")
        replay = await site.client()
        statuses = []

        for _ in range(2):
            await asyncio.sleep(1.2)
            statuses.append(await replay.get("/api/me", headers=with_cookie(signed_in.token)))

        assert [200, 200] == [r.status_code for r in statuses]

    async def test_the_absolute_lifetime_ends_a_session_in_use(self, open_site: OpenSite) -> None:
        """Past its absolute lifetime a session answers 401, however recently it was used."""
        site = await open_site(session_absolute_ttl_seconds=1)
        signed_in = await site.sign_in("absolute@example.com")
        replay = await site.client()

        await asyncio.sleep(0.6)
        used = await replay.get("/api/me", headers=with_cookie(signed_in.token))
        await asyncio.sleep(0.6)
        ended = await replay.get("/api/me", headers=with_cookie(signed_in.token))

        assert 200 == used.status_code
        assert (401, "not_authenticated") == code_of(ended)

    async def test_logout_clears_the_cookie_and_ends_the_session(self, site: Site) -> None:
        """Logout expires the cookie, and replaying the old value answers 401."""
        signed_in = await site.sign_in("leaver@example.com")

        logout = await signed_in.client.post(
            "/api/auth/logout", headers={"X-CSRF-Token": signed_in.csrf}
        )
        after = await signed_in.client.get("/api/me")
        replayed = await (await site.client()).get("/api/me", headers=with_cookie(signed_in.token))

        cleared = set_cookies(logout)[COOKIE]
        assert (204, "", "0") == (logout.status_code, cleared.value, cleared["max-age"])
        assert (401, "not_authenticated") == code_of(after)
        assert (401, "not_authenticated") == code_of(replayed)
        assert [] == await site.sessions_of("leaver@example.com")

    async def test_every_sign_in_starts_a_new_session(self, site: Site) -> None:
        """Two sign-ins give two sessions with different tokens."""
        first = await site.sign_in("two@example.com")
        second = await site.sign_in("two@example.com")

        assert first.token != second.token
        assert 2 == len(await site.sessions_of("two@example.com"))

    async def test_logout_everywhere_ends_the_other_sessions_too(self, site: Site) -> None:
        """Log out everywhere ends this session and every other one of the user."""
        laptop = await site.sign_in("everywhere@example.com")
        phone = await site.sign_in("everywhere@example.com", peer=("10.0.0.9", 4321))

        ended = await laptop.client.post(
            "/api/auth/logout-everywhere", headers={"X-CSRF-Token": laptop.csrf}
        )
        laptop_after = await laptop.client.get("/api/me")
        phone_after = await phone.client.get("/api/me")

        assert 204 == ended.status_code
        assert "" == set_cookies(ended)[COOKIE].value
        assert [401, 401] == [laptop_after.status_code, phone_after.status_code]
        assert [] == await site.sessions_of("everywhere@example.com")

    async def test_sessions_are_listed_and_another_can_be_ended(self, site: Site) -> None:
        """The list marks this session current; ending the other one signs it out."""
        laptop = await site.sign_in("lister@example.com")
        phone = await site.sign_in("lister@example.com", peer=("10.0.0.9", 4321))

        listed = (await laptop.client.get("/api/me/sessions")).json()
        current = [s for s in listed if s["current"]]
        others = [s for s in listed if not s["current"]]
        revoked = await laptop.client.delete(
            f"/api/me/sessions/{others[0]['id']}", headers={"X-CSRF-Token": laptop.csrf}
        )

        assert (2, 1, 1) == (len(listed), len(current), len(others))
        assert ("10.0.0.2", "10.0.0.9") == (current[0]["ip"], others[0]["ip"])
        assert 204 == revoked.status_code
        assert 401 == (await phone.client.get("/api/me")).status_code
        assert 200 == (await laptop.client.get("/api/me")).status_code
        assert [current[0]["id"]] == [s.id for s in await site.sessions_of("lister@example.com")]

    async def test_someone_elses_session_cannot_be_ended(self, site: Site) -> None:
        """Ending a session of another user answers 404 and leaves it alone."""
        mallory = await site.sign_in("mallory@example.com")
        victim = await site.sign_in("victim@example.com")
        victim_id = (await site.sessions_of("victim@example.com"))[0].id

        response = await mallory.client.delete(
            f"/api/me/sessions/{victim_id}", headers={"X-CSRF-Token": mallory.csrf}
        )

        assert (404, "not_found") == code_of(response)
        assert 200 == (await victim.client.get("/api/me")).status_code


class TestCsrf:
    async def test_a_cookie_post_without_the_token_is_refused(self, site: Site) -> None:
        """A cookie-authenticated POST without X-CSRF-Token answers 403 ``csrf_failed``."""
        signed_in = await site.sign_in("csrf@example.com")

        response = await signed_in.client.post("/api/workspaces", json={"name": "Nope"})

        assert (403, "csrf_failed") == code_of(response)

    async def test_a_wrong_token_is_refused(self, site: Site) -> None:
        """Another session's CSRF token does not work for this one."""
        signed_in = await site.sign_in("csrf@example.com")
        other = await site.sign_in("other@example.com")

        wrong = await signed_in.client.post(
            "/api/workspaces", json={"name": "Nope"}, headers={"X-CSRF-Token": other.csrf}
        )
        garbage = await signed_in.client.post(
            "/api/workspaces", json={"name": "Nope"}, headers={"X-CSRF-Token": "x" * 43}
        )

        assert [(403, "csrf_failed")] * 2 == [code_of(wrong), code_of(garbage)]

    async def test_logout_needs_the_token_too(self, site: Site) -> None:
        """A forged logout (no token) is refused and the session lives on."""
        signed_in = await site.sign_in("stay@example.com")

        response = await signed_in.client.post("/api/auth/logout")

        assert (403, "csrf_failed") == code_of(response)
        assert 200 == (await signed_in.client.get("/api/me")).status_code

    async def test_another_origin_is_refused_even_without_a_session(self, site: Site) -> None:
        """``Origin: https://evil.example`` answers 403 ``csrf_failed`` on the link request."""
        client = await site.client()

        response = await client.post(
            "/api/auth/login-link",
            json={"email": "a@example.com"},
            headers={"Origin": EVIL_ORIGIN},
        )

        assert (403, "csrf_failed") == code_of(response)
        assert [] == site.mailbox.sent

    async def test_another_origin_is_refused_with_the_right_token(self, site: Site) -> None:
        """The Origin check holds even when the CSRF token is right."""
        signed_in = await site.sign_in("csrf@example.com")

        response = await signed_in.client.post(
            "/api/workspaces",
            json={"name": "Evil"},
            headers={"X-CSRF-Token": signed_in.csrf, "Origin": EVIL_ORIGIN},
        )

        assert (403, "csrf_failed") == code_of(response)

    async def test_a_form_confirm_from_another_origin_is_refused(self, site: Site) -> None:
        """Another site cannot sign a visitor in with its own link (login CSRF)."""
        client = await site.client()
        token = await site.link_for("attacker@example.com", client=client)

        response = await client.post(
            "/auth/confirm", data={"token": token}, headers={"Origin": EVIL_ORIGIN}
        )

        assert (403, {}) == (response.status_code, set_cookies(response))

    async def test_our_own_origin_is_accepted(self, site: Site) -> None:
        """Requests carrying the BASE_URL origin pass the check."""
        signed_in = await site.sign_in("csrf@example.com")
        origin = {"Origin": "http://127.0.0.1:8000"}

        link = await signed_in.client.post(
            "/api/auth/login-link", json={"email": "friend@example.com"}, headers=origin
        )
        created = await signed_in.client.post(
            "/api/workspaces",
            json={"name": "Ours"},
            headers={**origin, "X-CSRF-Token": signed_in.csrf},
        )

        assert (202, 201) == (link.status_code, created.status_code)


class TestRateLimits:
    async def test_the_sixth_link_for_one_address_is_refused(self, open_site: OpenSite) -> None:
        """The per-address limit counts every spelling of the address and says when to retry."""
        site = await open_site(login_link_limit_per_email=5)
        client = await site.client()
        spellings = ["limit@example.com", "Limit@Example.com", " LIMIT@example.com "] * 2

        responses = [await site.ask(client, email) for email in spellings]

        assert [202] * 5 == [r.status_code for r in responses[:5]]
        refused = responses[5]
        assert (429, "rate_limited") == code_of(refused)
        assert int(refused.headers["retry-after"]) >= 1

    async def test_a_refused_link_reports_its_own_limit(self, open_site: OpenSite) -> None:
        """The 429 from the per-address limit carries that limit's RateLimit headers."""
        site = await open_site(login_link_limit_per_email=5)
        client = await site.client()

        responses = [await site.ask(client, "limit@example.com") for _ in range(6)]

        refused = responses[5]
        assert (429, "5", "0") == (
            refused.status_code,
            refused.headers["ratelimit-limit"],
            refused.headers["ratelimit-remaining"],
        )

    async def test_api_responses_carry_ratelimit_headers(self, site: Site) -> None:
        """Each API answer says the general limit and what is left of it."""
        client = await site.client()

        first = await client.get("/api/me")
        second = await client.get("/api/me")

        assert [("300", "299"), ("300", "298")] == [
            (r.headers["ratelimit-limit"], r.headers["ratelimit-remaining"])
            for r in (first, second)
        ]

    async def test_the_general_limit_refuses_the_fourth_request(self, open_site: OpenSite) -> None:
        """With RATE_LIMIT_MAX=3 the fourth API request answers 429; /healthz is never limited."""
        site = await open_site(rate_limit_max=3)
        client = await site.client()

        allowed = [await client.get("/api/me") for _ in range(3)]
        refused = await client.get("/api/workspaces")
        health = [await client.get("/healthz") for _ in range(5)]

        assert [401] * 3 == [r.status_code for r in allowed]
        assert (429, "rate_limited") == code_of(refused)
        assert int(refused.headers["retry-after"]) >= 1
        assert [200] * 5 == [r.status_code for r in health]

    async def test_the_general_limit_is_per_client(self, open_site: OpenSite) -> None:
        """Another client address has its own budget."""
        site = await open_site(rate_limit_max=1)
        first = await site.client(("10.0.0.2", 1))
        second = await site.client(("10.0.0.3", 1))

        statuses = [(await c.get("/api/me")).status_code for c in (first, first, second)]

        assert [401, 429, 401] == statuses

    async def test_forwarded_for_is_ignored_without_trusted_proxies(
        self, open_site: OpenSite
    ) -> None:
        """A client cannot dodge the per-IP limit by inventing X-Forwarded-For hops."""
        site = await open_site(login_link_limit_per_ip=2)
        client = await site.client()

        responses = [
            await client.post(
                "/api/auth/login-link",
                json={"email": f"user{n}@example.com"},
                headers={"X-Forwarded-For": f"203.0.113.{n}"},
            )
            for n in range(3)
        ]

        assert [202, 202, 429] == [r.status_code for r in responses]

    async def test_behind_a_trusted_proxy_each_client_has_its_own_budget(
        self, open_site: OpenSite
    ) -> None:
        """Behind a trusted proxy the forwarded client address is the rate-limit key."""
        site = await open_site(login_link_limit_per_ip=2, trusted_proxies="10.0.0.0/8")
        proxy = await site.client()

        async def ask_from(ip: str, n: int) -> int:
            response = await proxy.post(
                "/api/auth/login-link",
                json={"email": f"user{n}@example.com"},
                headers={"X-Forwarded-For": f"{ip}, 10.0.0.7"},
            )
            return response.status_code

        spread = [await ask_from(f"203.0.113.{n}", n) for n in range(3)]
        one_client = [await ask_from("198.51.100.1", n) for n in range(3)]

        assert ([202, 202, 202], [202, 202, 429]) == (spread, one_client)


def scope_with(*forwarded: bytes, peer: str = "10.0.0.2") -> dict[str, Any]:
    return {"client": (peer, 1234), "headers": [(b"x-forwarded-for", v) for v in forwarded]}


PROXIES = (ip_network("10.0.0.0/8"),)


class TestClientIp:
    def test_an_untrusted_peer_is_the_client_whatever_it_forwards(self) -> None:
        """Without trusted proxies, X-Forwarded-For is ignored."""
        scope = scope_with(b"203.0.113.9, 10.0.0.3")

        assert ("10.0.0.2", "192.0.2.1") == (
            client_ip(scope, ()),
            client_ip(scope_with(b"203.0.113.9", peer="192.0.2.1"), PROXIES),
        )

    def test_a_trusted_peer_gives_the_right_most_untrusted_hop(self) -> None:
        """Behind trusted proxies the client is the last hop that is not a proxy."""
        scope = scope_with(b"198.51.100.1, 203.0.113.9, 10.0.0.3")

        assert "203.0.113.9" == client_ip(scope, PROXIES)

    def test_a_garbled_hop_falls_back_to_the_peer(self) -> None:
        """A chain with a hop that is not an IP address is not trusted at all."""
        scope = scope_with(b"203.0.113.9, not-an-ip, 10.0.0.3")

        assert "10.0.0.2" == client_ip(scope, PROXIES)

    def test_several_forwarded_headers_are_joined(self) -> None:
        """Hops from several X-Forwarded-For headers form one chain, in order."""
        scope = scope_with(b"198.51.100.1", b"203.0.113.9, 10.0.0.3")

        assert "203.0.113.9" == client_ip(scope, PROXIES)

    def test_only_proxies_in_the_chain_gives_the_peer(self) -> None:
        """When every hop is a trusted proxy, the peer is the answer."""
        scope = scope_with(b"10.0.0.4, 10.0.0.3")

        assert "10.0.0.2" == client_ip(scope, PROXIES)


class TestHttpsCookie:
    async def test_over_https_the_cookie_is_host_prefixed_and_secure(
        self, open_site: OpenSite
    ) -> None:
        """With an https BASE_URL the cookie is ``__Host-`` prefixed, Secure, HttpOnly, Lax."""
        site = await open_site(base_url="https://app.example.com")

        signed_in = await site.sign_in("secure@example.com")
        confirmed = await signed_in.client.get("/api/me")
        logout = await signed_in.client.post(
            "/api/auth/logout", headers={"X-CSRF-Token": signed_in.csrf}
        )

        assert 200 == confirmed.status_code
        cleared = set_cookies(logout)
        assert [HTTPS_COOKIE] == list(cleared)
        assert (True, True, "") == (
            cleared[HTTPS_COOKIE]["secure"],
            cleared[HTTPS_COOKIE]["httponly"],
            cleared[HTTPS_COOKIE]["domain"],
        )

    async def test_the_confirm_response_sets_the_secure_cookie(self, open_site: OpenSite) -> None:
        """The confirm response's Set-Cookie is ``__Host-saascore_session``; Secure; Path=/."""
        site = await open_site(base_url="https://app.example.com")
        client = await site.client()
        token = await site.link_for("secure@example.com", client=client)

        confirmed = await client.post("/api/auth/confirm", json={"token": token})

        cookies = set_cookies(confirmed)
        assert [HTTPS_COOKIE] == list(cookies)
        cookie = cookies[HTTPS_COOKIE]
        assert (True, True, "lax", "/", "") == (
            cookie["secure"],
            cookie["httponly"],
            cookie["samesite"].lower(),
            cookie["path"],
            cookie["domain"],
        )


class TestAudit:
    async def test_sign_in_and_out_are_audited_with_request_id_and_ip(self, site: Site) -> None:
        """auth.login and auth.logout rows carry the request's id and the client IP."""
        client = await site.client()
        token = await site.link_for("audited@example.com", client=client)

        confirmed = await client.post(
            "/api/auth/confirm", json={"token": token}, headers={"X-Request-ID": "req-login-1"}
        )
        user_id = confirmed.json()["user"]["id"]
        logout = await client.post(
            "/api/auth/logout",
            headers={
                "X-Request-ID": "req-logout-1",
                "X-CSRF-Token": confirmed.json()["csrf_token"],
            },
        )

        assert ("req-login-1", "req-logout-1") == (
            confirmed.headers["x-request-id"],
            logout.headers["x-request-id"],
        )
        rows = {e.action: e for e in await site.audit()}
        assert {"auth.login", "auth.logout"} <= set(rows)
        assert [("req-login-1", "10.0.0.2", user_id), ("req-logout-1", "10.0.0.2", user_id)] == [
            (rows[a].request_id, rows[a].ip, rows[a].actor_id)
            for a in ("auth.login", "auth.logout")
        ]

    async def test_the_audit_ip_is_the_forwarded_client_behind_a_proxy(
        self, open_site: OpenSite
    ) -> None:
        """Behind a trusted proxy, audit rows and the session list show the real client."""
        site = await open_site(trusted_proxies="10.0.0.0/8")
        client = await site.client()
        token = await site.link_for("proxied@example.com", client=client)

        await client.post(
            "/api/auth/confirm",
            json={"token": token},
            headers={"X-Forwarded-For": "203.0.113.9"},
        )

        login = next(e for e in await site.audit() if e.action == "auth.login")
        session = (await site.sessions_of("proxied@example.com"))[0]
        assert ("203.0.113.9", "203.0.113.9") == (login.ip, session.ip)


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """Put the root logger back (the app points it at this test's captured stderr) before
    the app stops, so the lines it writes while stopping have somewhere to go."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


class TestSecrets:
    async def test_tokens_never_appear_in_response_bodies(self, site: Site) -> None:
        """The session token and the link token are in no JSON body."""
        client = await site.client()
        link_token = await site.link_for("secret@example.com", client=client)

        confirmed = await client.post("/api/auth/confirm", json={"token": link_token})
        session_token = client.cookies[COOKIE]
        bodies = [
            confirmed.text,
            (await client.get("/api/me")).text,
            (await client.get("/api/me/sessions")).text,
            (await client.get("/api/workspaces")).text,
        ]

        assert [(False, False)] * 4 == [
            (session_token in body, link_token in body) for body in bodies
        ]

    async def test_tokens_never_reach_the_logs(
        self, capsys: pytest.CaptureFixture[str], open_site: OpenSite, restore_logging: None
    ) -> None:
        """Neither token is written to the logs through a whole sign-in and sign-out."""
        await self._sign_in_and_out(await open_site(dispatch_outbox=True), capsys)

    async def test_tokens_never_reach_the_logs_at_debug_level(
        self, capsys: pytest.CaptureFixture[str], open_site: OpenSite, restore_logging: None
    ) -> None:
        """LOG_LEVEL=DEBUG, used for troubleshooting, still keeps both tokens out of the logs."""
        await self._sign_in_and_out(await open_site(log_level="DEBUG"), capsys)

    @staticmethod
    async def _sign_in_and_out(site: Site, capsys: pytest.CaptureFixture[str]) -> None:
        client = await site.client()
        await site.ask(client, "quiet@example.com")
        s = site.services
        await flush(deps_of(s, s.delivery_policy))
        link_token = token_in(await wait_for_mail(site, "quiet@example.com"))
        await client.get("/auth/confirm", params={"token": link_token})
        confirmed = await client.post("/api/auth/confirm", json={"token": link_token})
        await client.post("/api/auth/confirm", json={"token": link_token})
        session_token = client.cookies[COOKIE]
        await client.get("/api/me", headers=with_cookie(session_token))
        await client.post(
            "/api/auth/logout", headers={"X-CSRF-Token": confirmed.json()["csrf_token"]}
        )
        await client.get("/api/me", headers=with_cookie(session_token))

        captured = capsys.readouterr()
        logs = captured.out + captured.err
        assert "/api/auth/confirm" in logs  # the access log was captured at all
        assert (False, False) == (link_token in logs, session_token in logs)


class TestRateKeys:
    @pytest.mark.parametrize(
        ("peer", "key"),
        [
            ("203.0.113.9", "203.0.113.9"),
            ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
            ("2001:db8:1:2:ffff:ffff:ffff:fffe", "2001:db8:1:2::/64"),
            ("::ffff:192.0.2.7", "192.0.2.7"),
        ],
    )
    def test_ipv6_clients_are_counted_by_their_64(self, peer: str, key: str) -> None:
        """A client holds a whole IPv6 /64 and may use any address in it: the per-client
        limits count the /64, so rotating addresses buys no extra attempts."""
        assert key == rate_key(scope_with(peer=peer), ())


class TestSignInReplacesTheBrowsersSession:
    async def test_the_session_a_browser_held_ends_when_it_signs_in_again(self, site: Site) -> None:
        """Confirming a link in a browser that holds a session (another account's, or an
        older one of the same account) ends that session: it no longer authenticates."""
        first = await site.sign_in("ada@example.com")
        old_cookie = first.token
        token = await site.link_for("max@example.com", client=first.client)

        confirmed = await first.client.post("/api/auth/confirm", json={"token": token})
        other = await site.client()
        other.cookies.set(cookie_name(site), old_cookie)
        with_old = await other.get("/api/me")

        assert 200 == confirmed.status_code
        assert 401 == with_old.status_code
        assert [] == await site.sessions_of("ada@example.com")
        assert "auth.logout" in [e.action for e in await site.audit()]
