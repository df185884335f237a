"""The OpenAPI schema tells the truth about errors: every JSON API route declares the
statuses it can answer with, each as the problem body the app really sends.

Found by the API fuzzer (tests/integration/test_fuzz.py): the schema declared only the
success status and Litestar's default 400 body (``status_code``/``detail``/``extra`` as
``application/json``), while the app answers ``application/problem+json`` problem bodies with
401, 402, 403, 404, 409, 410, 413, 415, 429 and 503 as well.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from entrypoints.settings import Settings
from entrypoints.web import create_app

PROBLEM = {"$ref": "#/components/schemas/ProblemOut"}
METHODS = ("get", "post", "patch", "put", "delete")


@pytest.fixture(scope="module")
def openapi() -> dict[str, Any]:
    settings = Settings(database_url="memory://", environment="test", email_backend="memory")
    schema: dict[str, Any] = create_app(settings).openapi_schema.to_schema()
    return schema


def api_operations(openapi: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    return {
        f"{method.upper()} {path}": operation
        for path, item in openapi["paths"].items()
        if path.startswith("/api/")
        for method, operation in item.items()
        if method in METHODS
    }


def declared(openapi: Mapping[str, Any], label: str) -> set[int]:
    return {int(status) for status in api_operations(openapi)[label]["responses"]}


class TestErrorResponses:
    def test_every_error_is_a_problem_body(self, openapi: dict[str, Any]) -> None:
        """Each declared error response of each API route is application/problem+json with
        the ProblemOut schema, never Litestar's default validation body."""
        wrong = {
            f"{label} {status}": response.get("content")
            for label, operation in api_operations(openapi).items()
            for status, response in operation["responses"].items()
            if int(status) >= 400
            and response.get("content") != {"application/problem+json": {"schema": PROBLEM}}
        }
        assert {} == wrong

    def test_problem_schema_names_the_fields_the_app_sends(self, openapi: dict[str, Any]) -> None:
        """ProblemOut requires the RFC 9457 fields, the code and the request id."""
        schema = openapi["components"]["schemas"]["ProblemOut"]
        assert {"type", "title", "status", "detail", "code", "request_id"} == set(
            schema["required"]
        )
        assert "errors" in schema["properties"]

    def test_every_route_declares_rate_limits_and_signed_in_routes_401(
        self, openapi: dict[str, Any]
    ) -> None:
        """Every API route may answer 429; every route that needs a session may answer 401."""
        public = {
            "POST /api/auth/login-link",
            "POST /api/auth/confirm",
            "POST /api/invites/view",
            "POST /api/invites/decline",
            "GET /api/billing/plans",
            "POST /api/billing/webhook",
        }
        missing = {
            label: sorted(
                ({429} | ({401} if label not in public else set())) - declared(openapi, label)
            )
            for label in api_operations(openapi)
        }
        assert {} == {label: gap for label, gap in missing.items() if gap}

    @pytest.mark.parametrize(
        ("label", "statuses"),
        [
            ("GET /api/workspaces/{workspace_id}", {200, 400, 401, 404, 429, 503}),
            ("POST /api/workspaces/{workspace_id}/invites", {201, 402, 403, 409, 413, 415}),
            ("PATCH /api/workspaces/{workspace_id}/members/{user_id}", {200, 403, 404, 409}),
            ("POST /api/workspaces/{workspace_id}/leave", {204, 404, 409}),
            ("DELETE /api/workspaces/{workspace_id}/invites/{invite_id}", {204, 404, 410}),
            ("POST /api/invites/accept", {200, 401, 402, 404, 409, 410}),
            ("POST /api/invites/view", {200, 400, 404, 410}),
            ("POST /api/workspaces/{workspace_id}/billing/checkout", {200, 403, 501, 503}),
            ("POST /api/billing/webhook", {200, 400, 429}),
        ],
    )
    def test_route_declares_the_statuses_it_answers(
        self, openapi: dict[str, Any], label: str, statuses: set[int]
    ) -> None:
        """The statuses of DESIGN §4a that a route can answer are in its responses."""
        assert statuses <= declared(openapi, label)
