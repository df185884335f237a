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


MAX_JSON_DEPTH = 64  # no request body of ours nests deeper than a few levels


def json_depth(body: bytes) -> int:
    """How deeply ``body``'s arrays and objects nest (brackets inside strings not counted)."""
    if body.count(b"[") + body.count(b"{") <= MAX_JSON_DEPTH:
        return 0  # cannot nest too deep: skip the scan for every ordinary body
    depth = deepest = 0
    in_string = escaped = False
    for byte in body:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            deepest = max(deepest, depth)
        elif byte in (0x5D, 0x7D):  # ] }
            depth -= 1
    return deepest


def _is_json(scope: Scope) -> bool:
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            media = value.split(b";", 1)[0].strip().lower()
            return media == b"application/json" or media.endswith(b"+json")
    return False


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
        if _is_json(scope) and json_depth(body) > MAX_JSON_DEPTH:
            # The decoder would recurse until Python stops it: a 500, from a 2 KB body.
            raise ClientException(f"the JSON body nests deeper than {MAX_JSON_DEPTH} levels")
        delivered = False

        async def replay() -> ReceiveMessage:
            nonlocal delivered
            if delivered:
                return await receive()  # only http.disconnect is left to come
            delivered = True
            message: HTTPReceiveMessage = {"type": "http.request", "body": body, "more_body": False}
            return message

        await next_app(scope, replay, send)
