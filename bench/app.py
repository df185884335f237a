"""The app under load: the real ``create_app()`` plus what only the bench needs.

- ``GET /bench/ceiling``: a bare JSON handler on the same app and server (same middleware,
  no rate limit, no database), the ceiling every endpoint is compared with;
- ``BENCH_COUNT_SQL=1``: every SQL statement the request runs (through the cursor, so
  SQLite's ``BEGIN IMMEDIATE`` counts; commits do not) is counted and answered in the
  ``X-Bench-SQL-Statements`` header. It lives here, never in production code.

Run it as ``uvicorn --factory bench.app:make_app`` with the settings in the environment.
"""

from __future__ import annotations

import contextvars
import os
from typing import Any

from litestar import get
from sqlalchemy import event
from sqlalchemy.engine import Engine

from entrypoints.web import create_app
from entrypoints.web.ratelimits import EXEMPT_OPT

SQL_HEADER = b"x-bench-sql-statements"
_statements: contextvars.ContextVar[list[int] | None] = contextvars.ContextVar(
    "bench_statements", default=None
)


@get("/bench/ceiling", opt={EXEMPT_OPT: True}, include_in_schema=False, sync_to_thread=False)
def ceiling() -> dict[str, str]:
    return {"status": "ok"}


def _count_statement(*_: Any) -> None:
    counter = _statements.get()
    if counter is not None:
        counter[0] += 1


class CountStatements:
    """ASGI wrapper: count the request's statements (SQLAlchemy runs them in greenlets that
    share the request task's context) and add the count to the response headers."""

    def __init__(self, app: Any) -> None:
        self.app = app
        event.listen(Engine, "before_cursor_execute", _count_statement)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        counter = [0]
        token = _statements.set(counter)

        async def counted_send(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((SQL_HEADER, str(counter[0]).encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, counted_send)
        finally:
            _statements.reset(token)


def make_app() -> Any:
    app = create_app(extra_route_handlers=[ceiling])
    if os.environ.get("BENCH_COUNT_SQL") == "1":
        return CountStatements(app)
    return app
