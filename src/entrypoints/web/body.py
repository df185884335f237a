"""Request bodies are read, whole and bounded, before the app sees the request.

A handler, or the CSRF check reading a form's ``_csrf`` field, may open a unit of work
before it touches the body. Were the body read then, a client sending it slowly would hold
a transaction (on SQLite, the process's one write turn) for as long as it cared to trickle.
This middleware therefore reads every body first, with nothing open: a body that does not
arrive within ``BODY_READ_TIMEOUT_SECONDS`` answers 408, one larger than the app takes
answers 413, and the app then reads the buffered copy without waiting on the network.
"""

from __future__ import annotations

import asyncio

from litestar.exceptions import ClientException, HTTPException
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, HTTPReceiveMessage, Receive, ReceiveMessage, Scope, Send

from entrypoints.bootstrap import Services


class RequestTimeout(ClientException):
    status_code = 408


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                raise ClientException("the Content-Length header is not a number") from None
    return None


def _has_body(scope: Scope) -> bool:
    return any(
        name in (b"content-length", b"transfer-encoding") for name, _ in scope.get("headers", ())
    )


async def read_body(receive: Receive, limit: int, seconds: float) -> bytes | None:
    """The whole body, or ``None`` when the client went away; raises 413 past ``limit``
    bytes and 408 when the body is not all there within ``seconds``."""
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(seconds):
            while True:
                message = await receive()
                if message["type"] != "http.request":
                    return None  # http.disconnect: the client went away
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > limit:
                    raise HTTPException(
                        status_code=413, detail=f"the request body is larger than {limit} bytes"
                    )
                chunks.append(chunk)
                if not message.get("more_body", False):
                    return b"".join(chunks)
    except TimeoutError:
        raise RequestTimeout(
            f"the request body did not arrive within {seconds:g} seconds"
        ) from None


class BufferedBodyMiddleware(ASGIMiddleware):
    """Read the body of every request that has one before the app handles it."""

    scopes = ("http",)  # type: ignore[assignment]

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        if not _has_body(scope):
            await next_app(scope, receive, send)
            return
        declared = _declared_length(scope)
        if declared is not None and declared > self.max_bytes:
            raise HTTPException(
                status_code=413, detail=f"the request body is larger than {self.max_bytes} bytes"
            )
        services: Services = scope["litestar_app"].state.services
        body = await read_body(receive, self.max_bytes, services.settings.body_read_timeout_seconds)
        if body is None:
            return  # the client left; there is no one to answer
        delivered = False

        async def replay() -> ReceiveMessage:
            nonlocal delivered
            if delivered:
                return await receive()  # only http.disconnect is left to come
            delivered = True
            message: HTTPReceiveMessage = {"type": "http.request", "body": body, "more_body": False}
            return message

        await next_app(scope, replay, send)
