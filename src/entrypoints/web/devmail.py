"""The dev mailbox: in development with the stub email backend, the email "sent" so far,
with clickable links. Never mounted in production or with a real email backend."""

from __future__ import annotations

import re
from typing import Any

from attrs import frozen
from litestar import get
from litestar.di import NamedDependency
from litestar.response import Template

from adapters.email.stub import SentEmail
from entrypoints.bootstrap import Services

_URL = re.compile(r"(https?://[^\s<>\"]+)")


@frozen
class Part:
    text: str
    link: bool


@frozen
class Shown:
    message: Any
    sent_at: Any
    parts: list[Part]


def _parts(text: str) -> list[Part]:
    # Split on URLs so the template can link them while escaping everything else.
    return [Part(piece, bool(_URL.fullmatch(piece))) for piece in _URL.split(text) if piece]


def _shown(sent: SentEmail) -> Shown:
    return Shown(sent.message, sent.sent_at, _parts(sent.message.text))


@get("/dev/mailbox", include_in_schema=False)
async def dev_mailbox(services: NamedDependency[Services]) -> Template:
    messages = services.mailbox.recent() if services.mailbox is not None else []
    return Template(
        "dev_mailbox.html",
        context={"messages": [_shown(m) for m in messages]},
        headers={"Cache-Control": "no-store"},
    )
