"""API fuzzing: schemathesis drives every JSON API operation from the app's own OpenAPI
schema, signed in as an owner and as a member of workspace A, against a SQLite file.

Every response must be free of 5xx, carry a declared status code and content type, and match
the declared body schema; and no request may change workspace B (someone else's, with
members, invites, a subscription and an audit trail) by a single byte.

The app runs its lifespan in a thread of its own (an anyio portal), and each generated case
is sent through httpx's ASGI transport on that thread's event loop, with the caller's session
cookie and CSRF token. Path ids are mostly A's real ones, sometimes B's, sometimes made up,
so the fuzzer reaches real handlers; when a case takes A away from the callers (deletion,
transfer, leaving) a fresh A replaces it.
"""

from __future__ import annotations

import json
import os
import time
import zlib
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import schemathesis
from anyio.from_thread import BlockingPortal, start_blocking_portal
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import APIOperation, GenerationMode

from adapters.billing.events import signature_header
from entrypoints.bootstrap import Services
from entrypoints.settings import Settings
from entrypoints.web import create_app
from saascore.invites import Issued, create_invite
from saascore.models import Actor, Role, Subscription, SubscriptionStatus
from tests.integration.test_signin_http import COOKIE, PEER, Site, serving
from tests.integration.test_workspaces_http import (
    ADMIN,
    MEMBER,
    OUTSIDER,
    OWNER,
    TARGET,
    make_workspace,
    register_people,
)
from tests.support.context import tx_of
from tests.support.databases import SqliteDatabases

# About 1 minute for both callers on 2 cores; SAASCORE_FUZZ_EXAMPLES=500 digs deeper.
EXAMPLES_PER_OPERATION = int(os.environ.get("SAASCORE_FUZZ_EXAMPLES", "40"))
MADE_UP = "00000000-0000-0000-0000-000000000000"
B_MEMBER = "bea@example.com"
WEBHOOK_SECRET = "whsec_fuzz"
B_ADMIN = "bruno@example.com"
# Text only B holds and no request carries: seen in a response, B's data leaked.
B_MARKERS = ("Workspace B", B_ADMIN, "b-guest@example.com", "b-heir@example.com", "cus_b", "sub_b")
# Routes that end the caller's own session would turn the rest of the run into 401s.
SESSION_ENDERS = "^/api/(auth/logout|auth/logout-everywhere|me/sessions/)"
CHECKS = [
    schemathesis.checks.not_a_server_error,
    schemathesis.checks.status_code_conformance,
    schemathesis.checks.content_type_conformance,
    schemathesis.checks.response_schema_conformance,
    schemathesis.checks.response_headers_conformance,
]


def fuzz_settings(database_url: str) -> Settings:
    huge = 1_000_000  # every rate limit lifted: the fuzzer sends thousands of requests
    return Settings(
        database_url=database_url,
        environment="test",
        email_backend="memory",
        rate_limit_max=huge,
        login_link_limit_per_email=huge,
        login_link_limit_per_ip=huge,
        confirm_limit_per_ip=huge,
        invite_limit_per_workspace=huge,
        webhook_limit_per_ip=huge,
        stripe_webhook_secret=WEBHOOK_SECRET,
        # A has 4 members and 2 invites: two more invites fit, the third answers 402.
        billing_plans="free::8,pro:price_pro_monthly:25,business:price_business_monthly:",
    )


class World:
    """The running app, the two signed-in callers and the ids the fuzzer aims at."""

    def __init__(self, portal: BlockingPortal, site: Site, client: httpx.AsyncClient) -> None:
        self.portal = portal
        self.site = site
        self.client = client
        self.users: dict[str, str] = {}
        self.headers: dict[str, dict[str, str]] = {}
        self.a = ""
        self.a_invites: list[str] = []
        self.a_tokens: list[str] = []  # never B's: whoever holds an invite's link may decline it
        self.b = ""
        self.b_users: list[str] = []
        self.b_invites: list[str] = []
        self.b_before = ""
        self.seen: Counter[tuple[str, str, int]] = Counter()  # role, operation, status

    @property
    def services(self) -> Services:
        return self.site.services

    # --- seeding ------------------------------------------------------------------------

    async def seed(self) -> None:
        s = self.services
        self.users = await register_people(s)
        for email in (B_MEMBER, B_ADMIN):
            self.users[email] = await self.site.seed_user(email)
        await self.make_a()
        b_roles = {self.users[B_ADMIN]: Role.ADMIN, self.users[B_MEMBER]: Role.MEMBER}
        self.b = await make_workspace(s, "Workspace B", self.users[OUTSIDER], b_roles)
        self.b_users = [self.users[e] for e in (OUTSIDER, B_ADMIN, B_MEMBER)]
        issued = await self.invite(self.b, "b-guest@example.com", "b-heir@example.com")
        self.b_invites = [i.invite.id for i in issued]
        async with s.uow() as uow:
            await uow.subscriptions.save(
                Subscription(
                    workspace_id=self.b,
                    customer_id="cus_b",
                    subscription_id="sub_b",
                    status=SubscriptionStatus.ACTIVE,
                    price_id="price_pro_monthly",
                    current_period_end=datetime(2030, 1, 1, tzinfo=UTC),
                    event_at=datetime(2026, 1, 1, tzinfo=UTC),
                    updated_at=datetime(2026, 1, 1, tzinfo=UTC),
                )
            )
            await uow.commit()
        for role, email in (("owner", OWNER), ("member", MEMBER)):
            signed_in = await self.site.sign_in(email)
            self.headers[role] = {
                "Cookie": f"{COOKIE}={signed_in.token}",
                "X-CSRF-Token": signed_in.csrf,
            }
        self.b_before = await self.snapshot_b()

    async def invite(self, workspace_id: str, *emails: str) -> list[Issued]:
        s = self.services
        async with s.uow() as uow:
            issued = [
                await create_invite(
                    tx_of(s, uow, Actor.system(), s.invite_policy),
                    workspace_id,
                    email=email,
                    role=Role.MEMBER if n == 0 else Role.OWNER,
                )
                for n, email in enumerate(emails)
            ]
            await uow.commit()
        return issued

    async def make_a(self) -> None:
        roles = {
            self.users[ADMIN]: Role.ADMIN,
            self.users[MEMBER]: Role.MEMBER,
            self.users[TARGET]: Role.MEMBER,
        }
        self.a = await make_workspace(self.services, "Workspace A", self.users[OWNER], roles)
        issued = await self.invite(self.a, "a-guest@example.com", "a-heir@example.com")
        self.a_invites = [i.invite.id for i in issued]
        self.a_tokens = [i.token for i in issued]

    async def restore_a(self) -> None:
        """A fresh A when a case took it away from the callers, changed their roles, or used
        up its invites (revoked, resent, accepted)."""
        async with self.services.uow() as uow:
            owner = await uow.memberships.get(self.a, self.users[OWNER])
            member = await uow.memberships.get(self.a, self.users[MEMBER])
            pending = {i.id for i in await uow.invites.list_pending(self.a)}
        if (
            owner is None
            or member is None
            or owner.role is not Role.OWNER
            or member.role is not Role.MEMBER
            or not pending >= set(self.a_invites)
        ):
            await self.make_a()

    async def snapshot_b(self) -> str:
        """Everything in B a request could touch, as text to compare byte for byte."""
        async with self.services.uow() as uow:
            workspace = await uow.workspaces.get(self.b)
            members = sorted(repr(m) for m in await uow.memberships.list_members(self.b))
            invites = sorted(repr(i) for i in await uow.invites.list_pending(self.b))
            every_invite = [repr(await uow.invites.get(i)) for i in self.b_invites]
            subscription = await uow.subscriptions.get(self.b)
            head = await uow.audit.head(self.b)
            audit = await uow.audit.list(workspace_id=self.b, limit=1000)
        return "\n".join(
            map(repr, (workspace, members, invites, every_invite, subscription, head, audit))
        )

    # --- aiming -------------------------------------------------------------------------

    def pick(self, generated: str, ours: list[str], theirs: list[str]) -> str:
        """Mostly one of A's ids, sometimes one of B's, sometimes the generated one; chosen
        from the generated value, so a derandomized run always aims the same way."""
        roll = zlib.crc32(generated.encode("utf-8", "surrogatepass")) % 20
        if roll < 14 and ours:
            return ours[roll % len(ours)]
        if roll < 17 and theirs:
            return theirs[roll % len(theirs)]
        return generated

    def aim(self, case: schemathesis.Case) -> None:
        path = case.path_parameters or {}
        a_users = [self.users[e] for e in (TARGET, ADMIN, MEMBER, OWNER)]
        if "workspace_id" in path:
            path["workspace_id"] = self.pick(str(path["workspace_id"]), [self.a], [self.b])
        if "user_id" in path:
            path["user_id"] = self.pick(str(path["user_id"]), a_users, self.b_users)
        if "invite_id" in path:
            path["invite_id"] = self.pick(str(path["invite_id"]), self.a_invites, self.b_invites)
        body = case.body
        if not isinstance(body, dict):
            return
        aims = {
            "user_id": (a_users, self.b_users),
            "email": ([f"new-{self.seen.total()}@example.com", MEMBER, TARGET], [B_MEMBER]),
            "plan": (["pro", "business"], ["free"]),
            "token": (self.a_tokens, []),
        }
        for name, (ours, theirs) in aims.items():
            if isinstance(body.get(name), str):
                body[name] = self.pick(body[name], ours, theirs)

    # --- sending ------------------------------------------------------------------------

    def send(self, case: schemathesis.Case, role: str) -> httpx.Response:
        sent = case.as_transport_kwargs(
            base_url=self.site.settings.base_url, headers=self.headers[role]
        )
        return self.portal.call(self._send, sent)

    async def _send(self, sent: dict[str, Any]) -> httpx.Response:
        sent = dict(sent)
        method, url = sent.pop("method"), sent.pop("url")
        headers = dict(sent.pop("headers", None) or {})
        cookies: Mapping[str, str] = sent.pop("cookies", None) or {}
        if cookies:
            extra = "; ".join(f"{k}={v}" for k, v in cookies.items())
            headers["Cookie"] = f"{headers['Cookie']}; {extra}" if "Cookie" in headers else extra
        request: dict[str, Any] = {"headers": headers, "params": sent.pop("params", None)}
        if "json" in sent:
            request["json"] = sent.pop("json")
        if "data" in sent:
            data = sent.pop("data")
            request["content" if isinstance(data, str | bytes) else "data"] = data
        if "files" in sent:
            request["files"] = sent.pop("files")
        sent.pop("timeout", None)
        sent.pop("verify", None)
        assert not sent, f"transport arguments not mapped to httpx: {sorted(sent)}"
        return await self.client.request(method, url, **request)

    def after_webhook(self) -> None:
        assert self.b_before == self.portal.call(self.snapshot_b)

    def after(self, case: schemathesis.Case, response: httpx.Response, role: str) -> None:
        leaked = [marker for marker in B_MARKERS if marker in response.text]
        assert not leaked, f"{case.method} {case.formatted_path} showed B's {leaked}"
        self.seen[role, case.operation.label, response.status_code] += 1
        changed = self.portal.call(self.snapshot_b)
        assert self.b_before == changed, (
            f"{case.method} {case.formatted_path} changed workspace B "
            f"(answered {response.status_code}: {response.text[:300]})"
        )
        self.portal.call(self.restore_a)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    database_url = SqliteDatabases(tmp_path_factory.mktemp("fuzz")).new()
    app = create_app(fuzz_settings(database_url), dispatch_outbox=False)
    stack = AsyncExitStack()
    with start_blocking_portal() as portal, portal.wrap_async_context_manager(serving(app)):
        try:
            site = Site(app, stack)
            world = World(portal, site, portal.call(site.client, PEER))
            portal.call(world.seed)
            yield world
        finally:
            portal.call(stack.aclose)


@pytest.fixture(scope="module")
def operations(world: World) -> list[APIOperation]:
    """The JSON API's operations, from the schema the app serves."""
    response = world.portal.call(world.client.get, "/schema/openapi.json")
    assert 200 == response.status_code
    schema = (
        schemathesis.openapi.from_dict(response.json())
        .include(path_regex="^/api/")
        .exclude(path_regex=SESSION_ENDERS)
    )
    return [result.ok() for result in schema.get_all_operations()]


def cases_for(operation: APIOperation) -> st.SearchStrategy[schemathesis.Case]:
    """Valid requests, and invalid ones where the operation takes any input."""
    valid = operation.as_strategy(GenerationMode.POSITIVE)
    if not (operation.path_parameters or operation.query or operation.body):
        return valid
    return st.one_of(valid, operation.as_strategy(GenerationMode.NEGATIVE))


def fuzz(world: World, operation: APIOperation, role: str) -> None:
    @FUZZ
    @given(case=cases_for(operation))
    def run(case: schemathesis.Case) -> None:
        world.aim(case)
        response = world.send(case, role)
        case.validate_response(response, checks=CHECKS, headers=world.headers[role])
        world.after(case, response, role)

    run()


# Operations each caller must have succeeded at least once: proof that the cookie, the CSRF
# token and the aimed ids reach the handlers, rather than a run of 401s, 403s and 404s.
WS = "/api/workspaces/{workspace_id}"
REACHED: Mapping[str, tuple[str, ...]] = {
    "member": (
        f"GET {WS}",
        f"GET {WS}/members",
        f"GET {WS}/billing",
        f"POST {WS}/leave",
        "GET /api/workspaces",
        "POST /api/workspaces",
        "PATCH /api/me",
    ),
    "owner": (
        f"GET {WS}",
        f"PATCH {WS}",
        f"DELETE {WS}",
        f"GET {WS}/audit",
        f"GET {WS}/invites",
        f"POST {WS}/invites",
        f"POST {WS}/invites/{{invite_id}}/resend",
        f"DELETE {WS}/invites/{{invite_id}}",
        f"PATCH {WS}/members/{{user_id}}",
        f"DELETE {WS}/members/{{user_id}}",
        f"POST {WS}/transfer",
        f"POST {WS}/billing/checkout",
        "POST /api/auth/login-link",
        "POST /api/invites/view",
    ),
}
FUZZ = settings(
    max_examples=EXAMPLES_PER_OPERATION,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
    report_multiple_bugs=False,
)


@pytest.mark.parametrize("role", ["owner", "member"])
def test_every_operation_answers_as_documented(
    world: World, operations: list[APIOperation], role: str
) -> None:
    """Signed in as A's owner or member, every operation answers without a server error, with
    a declared status, content type, headers and body, and leaves workspace B alone."""
    failures = {}
    for operation in operations:
        try:
            fuzz(world, operation, role)
        # schemathesis reports its findings as an exception group: report every operation's
        except (Exception, BaseExceptionGroup) as exc:
            failures[operation.label] = f"{type(exc).__name__}: {exc}"
    assert {} == failures
    reached = {label for (who, label, status) in world.seen if who == role and status < 300}
    assert set(REACHED[role]) - reached == set(), "the fuzzer no longer reaches these handlers"


# --- the Stripe webhook: its body is raw bytes the schema cannot describe -------------------

LATIN_1 = st.text(st.characters(min_codepoint=32, max_codepoint=255), max_size=80)
DIGITS = st.text(st.characters(categories=["Nd", "No"]), min_size=1, max_size=8)
SIGNATURES = st.one_of(
    st.none(),
    LATIN_1,
    st.builds("t={},v1={}".format, st.one_of(DIGITS, st.integers(), LATIN_1), LATIN_1),
    st.builds("t={},v1={}".format, st.just("9" * 5000), st.just("0" * 64)),
)
JSON_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(max_size=20),
    st.sampled_from(["sub_1", "cus_1", MADE_UP, "active", "subscription", "invoice"]),
)
OBJECT_KINDS = st.sampled_from(["subscription", "checkout.session", "invoice", "customer", "x"])
EVENTS = st.fixed_dictionaries(
    {
        "id": st.one_of(st.text(min_size=1, max_size=12), JSON_SCALARS),
        "type": st.one_of(
            st.sampled_from(
                [
                    "customer.subscription.updated",
                    "customer.subscription.deleted",
                    "checkout.session.completed",
                    "invoice.paid",
                    "invoice.payment_failed",
                ]
            ),
            JSON_SCALARS,
        ),
        "created": st.one_of(st.integers(), JSON_SCALARS),
        "data": st.fixed_dictionaries(
            {
                "object": st.fixed_dictionaries(
                    {"object": OBJECT_KINDS},
                    optional={
                        "id": JSON_SCALARS,
                        "customer": JSON_SCALARS,
                        "subscription": JSON_SCALARS,
                        "status": JSON_SCALARS,
                        "current_period_end": st.one_of(st.integers(), JSON_SCALARS),
                        "client_reference_id": JSON_SCALARS,
                        "metadata": st.one_of(
                            JSON_SCALARS, st.fixed_dictionaries({"workspace_id": JSON_SCALARS})
                        ),
                        "items": st.one_of(
                            JSON_SCALARS,
                            st.fixed_dictionaries(
                                {
                                    "data": st.lists(
                                        st.dictionaries(st.text(max_size=5), JSON_SCALARS),
                                        max_size=2,
                                    )
                                }
                            ),
                        ),
                    },
                )
            }
        ),
    }
)


def post_webhook(world: World, payload: bytes, signature: str | None) -> httpx.Response:
    headers = {b"Content-Type": b"application/json"}
    if signature is not None:
        headers[b"Stripe-Signature"] = signature.encode()  # any bytes, as a client may send
    return world.portal.call(
        lambda: world.client.post("/api/billing/webhook", content=payload, headers=headers)
    )


class TestWebhook:
    @FUZZ
    @given(
        payload=st.binary(max_size=512) | EVENTS.map(json.dumps).map(str.encode),
        signature=SIGNATURES,
    )
    def test_an_unsigned_body_is_refused_with_400(
        self, world: World, payload: bytes, signature: str | None
    ) -> None:
        """Any body without Stripe's signature over it answers 400 with a problem body."""
        response = post_webhook(world, payload, signature)
        assert (400, "application/problem+json") == (
            response.status_code,
            response.headers["content-type"],
        ), response.text

    @FUZZ
    @given(event=EVENTS)
    def test_a_signed_body_never_answers_5xx(self, world: World, event: dict[str, Any]) -> None:
        """A correctly signed body that is not a usable event answers 400, never 5xx (Stripe
        would retry it forever); one that is answers 200."""
        payload = json.dumps(event).encode()
        stamp = int(time.time())
        response = post_webhook(world, payload, signature_header(payload, WEBHOOK_SECRET, stamp))
        assert response.status_code in (200, 400), response.text
        world.after_webhook()


def test_workspace_b_is_unchanged_after_the_run(world: World) -> None:
    """After both runs, B's row, members, invites, subscription and audit chain are intact."""
    assert world.b_before == world.portal.call(world.snapshot_b)
