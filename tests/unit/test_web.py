"""The web skeleton on in-memory services: health, problem bodies, request ids, and the
per-request unit of work."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import attrs
import pytest
from litestar import get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody
from litestar.testing import AsyncTestClient

from adapters.clock import FrozenClock, SequentialIds
from entrypoints.bootstrap import Services, memory_services
from entrypoints.web import create_app
from saascore import errors
from saascore.context import Tx
from saascore.models import Actor
from saascore.users import register_user

ERRORS: list[tuple[errors.SaasCoreError, int, str]] = [
    (errors.NotFound(), 404, "not_found"),
    (errors.PermissionDenied(), 403, "permission_denied"),
    (errors.Conflict(), 409, "conflict"),
    (errors.LastOwner(), 409, "last_owner"),
    (errors.InvalidInput({"email": "bad", "name": "empty"}), 400, "invalid_input"),
    (errors.RateLimited(30), 429, "rate_limited"),
    (errors.SeatLimit(), 402, "plan_limit_reached"),
    (errors.TokenInvalid(), 400, "invalid_or_expired_token"),
    (errors.TokenExpired(), 400, "invalid_or_expired_token"),
    (errors.DatabaseUnavailable(), 503, "database_unavailable"),
    (errors.DeliveryFailed(), 503, "delivery_failed"),
    (errors.BillingUnavailable(), 503, "billing_unavailable"),
]


@get("/test/raise/{index:int}")
async def raise_error(index: FromPath[int]) -> None:
    raise ERRORS[index][0]


@get("/test/crash")
async def crash() -> None:
    secret = "sk_live_should_never_leak"
    raise RuntimeError(secret)


@attrs.frozen
class NewUser:
    email: str
    name: str


@post("/test/users")
async def make_user(
    data: JSONBody[NewUser],
    request_tx: NamedDependency[Tx],
) -> dict[str, str]:
    user = await register_user(
        request_tx.as_actor(Actor.system()), email=data.email, name=data.name
    )
    if data.name == "fail after writing":
        raise errors.Conflict("the handler failed after its writes")
    return {"id": user.id}


@pytest.fixture
def services() -> Services:
    return memory_services(clock=FrozenClock(), ids=SequentialIds("web"))


@pytest.fixture
async def client(services: Services) -> AsyncIterator[AsyncTestClient[Any]]:
    app = create_app(services, extra_route_handlers=[raise_error, crash, make_user])
    async with AsyncTestClient(app) as test_client:
        yield test_client


class TestHealth:
    async def test_healthz_says_the_process_is_up(self, client: AsyncTestClient[Any]) -> None:
        """/healthz answers 200 without touching dependencies."""
        response = await client.get("/healthz")

        assert (response.status_code, response.json()) == (200, {"status": "ok"})

    async def test_readyz_on_memory_is_ready(self, client: AsyncTestClient[Any]) -> None:
        """The memory adapter has nothing to migrate or reach."""
        response = await client.get("/readyz")

        assert (response.status_code, response.json()["status"]) == (200, "ready")

    async def test_openapi_is_served(self, client: AsyncTestClient[Any]) -> None:
        """The schema documents the operations endpoints."""
        schema = (await client.get("/schema/openapi.json")).json()

        assert {"/healthz", "/readyz"} <= set(schema["paths"])


class TestProblems:
    @pytest.mark.parametrize(
        ("index", "status", "code"), [(i, s, c) for i, (_, s, c) in enumerate(ERRORS)]
    )
    async def test_domain_errors_become_problem_bodies(
        self, client: AsyncTestClient[Any], index: int, status: int, code: str
    ) -> None:
        """Each saascore error maps to its status with an RFC 9457 body and a stable code."""
        response = await client.get(f"/test/raise/{index}")

        body = response.json()
        assert (status, "application/problem+json") == (
            response.status_code,
            response.headers["content-type"],
        )
        assert {"type", "title", "status", "detail", "code", "request_id"} <= set(body)
        assert (status, code, response.headers["x-request-id"]) == (
            body["status"],
            body["code"],
            body["request_id"],
        )

    async def test_bad_input_lists_every_field(self, client: AsyncTestClient[Any]) -> None:
        """InvalidInput names each bad field."""
        index = next(i for i, (e, _, _) in enumerate(ERRORS) if isinstance(e, errors.InvalidInput))

        body = (await client.get(f"/test/raise/{index}")).json()

        assert (body["errors"]) == [
            {"field": "email", "message": "bad"},
            {"field": "name", "message": "empty"},
        ]

    async def test_rate_limits_say_when_to_retry(self, client: AsyncTestClient[Any]) -> None:
        """429 carries Retry-After."""
        index = next(i for i, (e, _, _) in enumerate(ERRORS) if isinstance(e, errors.RateLimited))

        response = await client.get(f"/test/raise/{index}")

        assert response.headers["retry-after"] == "30"

    async def test_malformed_bodies_list_every_bad_field(
        self, client: AsyncTestClient[Any]
    ) -> None:
        """A body that does not decode is a 400 problem naming each bad or missing field."""
        response = await client.post("/test/users", json={"email": 3})

        body = response.json()
        assert (400, "invalid_input") == (response.status_code, body["code"])
        assert {"email": "must be a string", "name": "is required"} == {
            e["field"]: e["message"] for e in body["errors"]
        }

    async def test_a_body_in_the_wrong_media_type_is_415(
        self, client: AsyncTestClient[Any]
    ) -> None:
        """A JSON route sent a form or plain text answers 415, naming what it takes."""
        response = await client.post(
            "/test/users",
            content=b"email=a",
            headers={"content-type": "application/x-www-form-urlencoded"},
        )

        assert (415, "unsupported_media_type") == (response.status_code, response.json()["code"])
        assert "application/json" in response.json()["detail"]

    async def test_a_body_over_a_megabyte_is_413(self, client: AsyncTestClient[Any]) -> None:
        """Oversized bodies are refused before anything reads them."""
        response = await client.post(
            "/test/users",
            content=b"x" * (1024 * 1024 + 1),
            headers={"content-type": "application/json"},
        )

        assert (413, "payload_too_large") == (response.status_code, response.json()["code"])

    async def test_unknown_routes_are_problems_too(self, client: AsyncTestClient[Any]) -> None:
        """Even Litestar's own 404 and 405 speak problem+json."""
        missing = await client.get("/no/such/route")
        wrong_method = await client.delete("/healthz")

        assert (missing.json()["code"], wrong_method.json()["code"]) == (
            "not_found",
            "method_not_allowed",
        )

    async def test_crashes_leak_nothing(self, client: AsyncTestClient[Any]) -> None:
        """An unexpected error is a bare 500 problem: no trace, no message, no secret."""
        response = await client.get("/test/crash")

        assert (response.status_code, response.json()["code"]) == (500, "internal_error")
        assert "sk_live" not in response.text
        assert "Traceback" not in response.text


class TestRequestIds:
    async def test_a_sane_incoming_id_is_kept(self, client: AsyncTestClient[Any]) -> None:
        """A caller's X-Request-ID is echoed so logs can be joined across services."""
        response = await client.get("/healthz", headers={"X-Request-ID": "edge-42.a:b"})

        assert response.headers["x-request-id"] == "edge-42.a:b"

    @pytest.mark.parametrize("incoming", ["", "x" * 65, "has space", "new\\nline", "<script>"])
    async def test_an_insane_incoming_id_is_replaced(
        self, client: AsyncTestClient[Any], incoming: str
    ) -> None:
        """Unsafe or oversized ids never reach logs or responses."""
        response = await client.get("/healthz", headers={"X-Request-ID": incoming})

        made = response.headers["x-request-id"]
        assert made != incoming
        assert len(made) == 32

    async def test_every_response_gets_a_fresh_id(self, client: AsyncTestClient[Any]) -> None:
        """Without an incoming id, each request gets its own."""
        first = (await client.get("/healthz")).headers["x-request-id"]
        second = (await client.get("/no/such/route")).headers["x-request-id"]

        assert first != second


class TestUnitOfWorkPerRequest:
    async def test_a_successful_handler_commits(
        self, client: AsyncTestClient[Any], services: Services
    ) -> None:
        """Writes made by a handler that returns are kept."""
        response = await client.post("/test/users", json={"email": "a@example.com", "name": "A"})

        assert response.status_code == 201
        async with services.uow() as uow:
            assert await uow.users.get_by_email("a@example.com") is not None

    async def test_a_failing_handler_rolls_back(
        self, client: AsyncTestClient[Any], services: Services
    ) -> None:
        """Writes made by a handler that raises are discarded, audit rows included."""
        response = await client.post(
            "/test/users", json={"email": "b@example.com", "name": "fail after writing"}
        )

        assert response.status_code == 409
        async with services.uow() as uow:
            assert await uow.users.get_by_email("b@example.com") is None
            assert list(await uow.audit.list()) == []


class TestPrivateAnswers:
    async def test_signed_in_and_sign_in_answers_are_never_cached(
        self, client: AsyncTestClient[Any]
    ) -> None:
        """An answer to a request with a session cookie, or one that sets it, carries
        ``Cache-Control: no-store, private``; an anonymous one need not; static files stay
        cacheable whoever asks."""
        client.cookies.set("saascore_session", "not-a-real-token")
        signed_in = await client.get("/api/me")  # 401, but for a browser holding a session
        static = await client.get("/static/site.css")
        client.cookies.clear()
        anonymous = await client.get("/healthz")

        assert "no-store, private" == signed_in.headers["cache-control"]
        assert 200 == static.status_code
        assert "no-store" not in static.headers.get("cache-control", "")
        assert "private" not in anonymous.headers.get("cache-control", "")

    async def test_the_home_page_varies_on_accept_and_no_plugins_run(
        self, client: AsyncTestClient[Any]
    ) -> None:
        home = await client.get("/", headers={"Accept": "application/json"})

        assert "Accept" in home.headers["vary"]
        assert "object-src 'none'" in home.headers["content-security-policy"]
