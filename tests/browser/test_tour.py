"""The product tour a new user clicks through, in a real browser against a real server:
sign in through the dev mailbox, create a workspace, invite a second person who accepts in
their own browser, change their role, upgrade through the stub checkout, and read it all in
the audit log; the member sees no invite or billing controls and is refused by hand."""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

from playwright.async_api import expect

from tests.browser.conftest import DevServer, OpenPage

OWNER = "alice@example.com"
MEMBER = "bob@example.com"
MAIL_WAIT_SECONDS = 10


async def follow_mail(page: Any, to: str, path: str) -> None:
    """Open the dev mailbox and click the newest link to ``path`` sent to ``to``, reloading
    while the outbox has not delivered it yet (delivery runs in the background)."""
    link = page.locator(f'article[data-to="{to}"] a[href*="{path}"]').first
    deadline = time.monotonic() + MAIL_WAIT_SECONDS
    while True:
        await page.goto("/dev/mailbox")
        if await link.count() or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
    await link.click()


async def sign_in(page: Any, email: str) -> None:
    await page.goto("/")
    await page.get_by_label("Email address").fill(email)
    await page.get_by_role("button", name="Email me a sign-in link").click()
    await expect(page.get_by_role("heading", name="Check your email")).to_be_visible()
    await page.get_by_role("link", name="Open the dev mailbox").click()
    await follow_mail(page, email, "/auth/confirm")
    await expect(page.get_by_text(f"You are signing in as {email}")).to_be_visible()
    await page.get_by_role("button", name="Sign in").click()


async def test_the_whole_tour(open_page: OpenPage, server: DevServer) -> None:
    """Everything the README promises, by clicking, with no API call or database access."""
    owner = await open_page()
    await owner.goto("/")
    await expect(owner.get_by_label("Email address")).to_be_focused()  # type right away
    await sign_in(owner, OWNER)
    await expect(owner.locator("#no-workspaces")).to_be_visible()

    await owner.get_by_label("Name").fill("Rocket Labs")
    await owner.get_by_role("button", name="Create workspace").click()
    await expect(owner.locator("#flash")).to_have_text("Workspace Rocket Labs created.")
    workspace_url = owner.url
    workspace_id = workspace_url.rsplit("/", 1)[1]

    await owner.get_by_role("link", name="Invites").click()
    await expect(owner.locator("#no-invites")).to_be_visible()
    await owner.get_by_label("Email address").fill(MEMBER)
    await owner.get_by_label("Role").select_option("member")
    await owner.get_by_role("button", name="Send invitation").click()
    await expect(owner.locator("#flash")).to_have_text(f"Invitation sent to {MEMBER}.")
    await expect(owner.locator(f'#invites tr[data-email="{MEMBER}"]')).to_contain_text("UTC")

    member = await open_page()
    await follow_mail(member, MEMBER, "/invites/accept")
    await expect(member.get_by_role("heading", name="Join Rocket Labs")).to_be_visible()
    await member.get_by_role("button", name=f"Email me a sign-in link for {MEMBER}").click()
    await expect(member.get_by_role("heading", name="Check your email")).to_be_visible()
    await member.get_by_role("link", name="Open the dev mailbox").click()
    await follow_mail(member, MEMBER, "/auth/confirm")
    await member.get_by_role("button", name="Sign in").click()
    await member.get_by_role("button", name="Accept and join").click()
    await expect(member.get_by_role("heading", name="Welcome to Rocket Labs")).to_be_visible()
    await member.get_by_role("link", name="Open Rocket Labs").click()
    await expect(member.locator("#my-role")).to_have_text("member")

    # A member sees no invite or billing controls, and posting those forms by hand is 403.
    await expect(member.locator("#tab-invites")).to_have_count(0)
    await member.get_by_role("link", name="Billing").click()
    await expect(member.locator("#owners-only")).to_be_visible()
    await expect(member.get_by_role("button", name=re.compile("Upgrade to"))).to_have_count(0)
    csrf = await member.locator('input[name="_csrf"]').first.input_value()
    forged_invite = await member.context.request.post(
        f"/workspaces/{workspace_id}/invites",
        form={"_csrf": csrf, "email": "eve@example.com", "role": "member"},
    )
    forged_checkout = await member.context.request.post(
        f"/workspaces/{workspace_id}/billing/checkout", form={"_csrf": csrf, "plan": "pro"}
    )
    assert (403, 403) == (forged_invite.status, forged_checkout.status)
    refused = await member.goto(f"/workspaces/{workspace_id}/invites")
    assert refused is not None
    assert 403 == refused.status
    await expect(member.get_by_role("heading", name="You cannot do that here")).to_be_visible()

    await owner.goto(workspace_url)
    row = owner.locator(f'#members tr[data-email="{MEMBER}"]')
    await row.get_by_label(f"Role for {MEMBER}").select_option("admin")
    await row.get_by_role("button", name="Change role").click()
    await expect(owner.locator("#flash")).to_have_text("Role changed to admin.")
    await expect(row.locator(".role")).to_have_text("admin")

    await owner.get_by_role("link", name="Billing").click()
    await expect(owner.locator("#plan")).to_have_text("free")
    await owner.get_by_role("button", name=re.compile("Upgrade to pro")).click()
    await owner.get_by_role("button", name="Pay (test)").click()
    await expect(owner.locator("#plan")).to_have_text("pro")
    await expect(owner.locator("#status")).to_have_text("active")

    await owner.get_by_role("link", name="Audit log").click()
    actions = owner.locator("#events td.action")
    for action in (
        "workspace.created",
        "member.invited",
        "invite.accepted",
        "member.role_changed",
        "billing.subscription_updated",
    ):
        await expect(actions.filter(has_text=action).first).to_be_visible()
    await owner.get_by_label("Action").fill("member.role_changed")
    await owner.get_by_role("button", name="Filter").click()
    await expect(actions).to_have_text(["member.role_changed"])
