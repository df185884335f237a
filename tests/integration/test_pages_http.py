"""The pages for people over HTTP on a SQLite file: the entry page, forms with CSRF tokens
and Post/Redirect/Get flashes, role checks answered as readable pages with the status of
the error table, and no secret rendered. (tests/browser drives the same pages in Chromium.)"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack

import httpx
import pytest
from attrs import frozen

from entrypoints.web import create_app
from entrypoints.web.flash import FLASH_COOKIE
from saascore.models import Role
from tests.integration.test_signin_http import LINK, SignedIn, Site, serving, set_cookies
from tests.integration.test_workspaces_http import (
    ADMIN,
    MEMBER,
    OUTSIDER,
    OWNER,
    make_workspace,
    register_people,
    settings_on,
)

HTML = {"Accept": "text/html"}
CSRF = re.compile(r'name="_csrf" value="([^"]+)"')


@frozen
class Pages:
    site: Site
    users: dict[str, str]
    workspace_id: str
    people: dict[str, SignedIn]

    def url(self, path: str = "") -> str:
        return f"/workspaces/{self.workspace_id}{path}"

    async def post(self, who: str, url: str, data: dict[str, str] | None = None) -> httpx.Response:
        """A form post from ``who``'s browser, with their CSRF token."""
        signed_in = self.people[who]
        form = {"_csrf": signed_in.csrf, **(data or {})}
        return await signed_in.client.post(url, data=form, headers=HTML)

    async def get(self, who: str, url: str) -> httpx.Response:
        return await self.people[who].client.get(url, headers=HTML)


@pytest.fixture
async def pages(sqlite_url: str) -> AsyncIterator[Pages]:
    async with AsyncExitStack() as stack:
        app = create_app(settings_on(sqlite_url), dispatch_outbox=False)
        await stack.enter_async_context(serving(app))
        site = Site(app, stack)
        users = await register_people(site.services)
        workspace_id = await make_workspace(
            site.services,
            "Acme Inc",
            users[OWNER],
            {users[ADMIN]: Role.ADMIN, users[MEMBER]: Role.MEMBER},
        )
        people = {email: await site.sign_in(email) for email in (OWNER, ADMIN, MEMBER, OUTSIDER)}
        yield Pages(site, users, workspace_id, people)


class TestEntry:
    async def test_a_browser_gets_the_sign_in_form_and_other_clients_the_index(
        self, pages: Pages
    ) -> None:
        client = await pages.site.client()

        page = await client.get("/", headers=HTML)
        index = await client.get("/")

        assert (200, True) == (page.status_code, 'action="/sign-in"' in page.text)
        assert "saascore" == index.json()["name"]

    async def test_the_email_form_sends_a_link_and_says_check_your_email(
        self, pages: Pages
    ) -> None:
        client = await pages.site.client()

        known = await client.post("/sign-in", data={"email": OWNER}, headers=HTML)
        unknown = await client.post("/sign-in", data={"email": "nobody@example.com"})

        assert [200, 200] == [known.status_code, unknown.status_code]
        assert "Check your email" in known.text
        assert LINK.search((await pages.site.mail_to(OWNER)).text) is not None

    async def test_a_bad_address_is_a_400_page_that_keeps_the_form(self, pages: Pages) -> None:
        client = await pages.site.client()

        page = await client.post("/sign-in", data={"email": "not an address"})

        assert (400, True) == (page.status_code, 'id="problem"' in page.text)

    async def test_signed_in_the_entry_is_the_dashboard(self, pages: Pages) -> None:
        page = await pages.get(OWNER, "/")

        assert (200, True) == (page.status_code, "Acme Inc" in page.text)
        assert "Create workspace" in page.text

    async def test_signed_out_a_workspace_page_is_a_401_page(self, pages: Pages) -> None:
        client = await pages.site.client()

        page = await client.get(pages.url(), headers=HTML)

        assert (401, True) == (page.status_code, "Sign in first" in page.text)
        assert f'href="/?next=%2Fworkspaces%2F{pages.workspace_id}"' in page.text
        assert page.headers["content-type"].startswith("text/html")


class TestForms:
    async def test_create_redirects_with_a_flash_shown_once(self, pages: Pages) -> None:
        owner = pages.people[OWNER].client

        created = await pages.post(OWNER, "/workspaces", {"name": "Rocket Labs"})
        landing = await owner.get(created.headers["location"], headers=HTML)
        again = await owner.get(created.headers["location"], headers=HTML)

        assert 303 == created.status_code
        assert FLASH_COOKIE in set_cookies(created)
        assert "Workspace Rocket Labs created." in landing.text
        assert "Workspace Rocket Labs created." not in again.text

    async def test_a_form_without_the_csrf_token_is_a_403_page(self, pages: Pages) -> None:
        owner = pages.people[OWNER].client

        refused = await owner.post(pages.url("/rename"), data={"name": "Hijacked"})
        page = await pages.get(OWNER, pages.url("/settings"))

        assert (403, True) == (refused.status_code, "reload the page" in refused.text)
        assert "Hijacked" not in page.text

    async def test_every_form_carries_the_csrf_token(self, pages: Pages) -> None:
        expected = pages.people[OWNER].csrf

        for path in ("", "/settings", "/invites", "/billing", "/audit"):
            page = await pages.get(OWNER, pages.url(path))
            assert 200 == page.status_code, path
            assert page.text.count("<form") >= 1
            tokens = set(CSRF.findall(page.text))
            assert {expected} == tokens, path

    async def test_delete_needs_the_typed_name(self, pages: Pages) -> None:
        wrong = await pages.post(OWNER, pages.url("/delete"), {"confirm": "acme"})
        still = await pages.get(OWNER, pages.url())
        deleted = await pages.post(OWNER, pages.url("/delete"), {"confirm": "Acme Inc"})
        gone = await pages.get(OWNER, pages.url())

        assert (400, 200) == (wrong.status_code, still.status_code)
        assert (303, "/") == (deleted.status_code, deleted.headers["location"])
        assert 404 == gone.status_code

    async def test_an_admin_renames_and_invites(self, pages: Pages) -> None:
        renamed = await pages.post(ADMIN, pages.url("/rename"), {"name": "Acme Labs"})
        invited = await pages.post(
            ADMIN, pages.url("/invites"), {"email": "new@example.com", "role": "member"}
        )
        listed = await pages.get(ADMIN, pages.url("/invites"))

        assert [303, 303] == [renamed.status_code, invited.status_code]
        assert "new@example.com" in listed.text

    async def test_an_owner_changes_a_role(self, pages: Pages) -> None:
        changed = await pages.post(
            OWNER, pages.url(f"/members/{pages.users[MEMBER]}/role"), {"role": "admin"}
        )
        page = await pages.get(OWNER, pages.url())

        assert 303 == changed.status_code
        assert "Role changed to admin." in page.text


class TestRoles:
    async def test_a_member_sees_no_invite_or_member_controls(self, pages: Pages) -> None:
        page = await pages.get(MEMBER, pages.url())

        assert 200 == page.status_code
        assert 'id="tab-invites"' not in page.text
        assert "/role" not in page.text
        assert "Leave workspace" in page.text

    @pytest.mark.parametrize(
        ("path", "data"),
        [
            ("/invites", {"email": "eve@example.com", "role": "member"}),
            ("/billing/checkout", {"plan": "pro"}),
            ("/rename", {"name": "Mine now"}),
            ("/delete", {"confirm": "Acme Inc"}),
        ],
    )
    async def test_a_member_posting_by_hand_gets_a_403_page(
        self, pages: Pages, path: str, data: dict[str, str]
    ) -> None:
        refused = await pages.post(MEMBER, pages.url(path), data)

        assert 403 == refused.status_code
        assert refused.headers["content-type"].startswith("text/html")

    @pytest.mark.parametrize("path", ["/invites", "/audit"])
    async def test_a_member_cannot_open_the_admin_pages(self, pages: Pages, path: str) -> None:
        page = await pages.get(MEMBER, pages.url(path))

        assert (403, True) == (page.status_code, "You cannot do that here" in page.text)

    async def test_an_outsider_gets_404_as_for_no_workspace(self, pages: Pages) -> None:
        theirs = await pages.get(OUTSIDER, pages.url())
        none = await pages.get(OUTSIDER, "/workspaces/00000000-0000-0000-0000-000000000000")

        assert [404, 404] == [theirs.status_code, none.status_code]


class TestAccount:
    async def test_the_account_page_lists_sessions_and_no_secret(self, pages: Pages) -> None:
        signed_in = pages.people[OWNER]

        page = await pages.get(OWNER, "/account")

        assert 200 == page.status_code
        assert "this one" in page.text
        assert signed_in.token not in page.text

    async def test_sign_out_everywhere_ends_every_session(self, pages: Pages) -> None:
        await pages.site.sign_in(OWNER)  # a second device

        out = await pages.post(OWNER, "/account/sign-out-everywhere")

        assert 303 == out.status_code
        assert [] == await pages.site.sessions_of(OWNER)
