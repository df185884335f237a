"""Flash messages: one line of feedback shown on the page after a form's redirect.

The message travels in a short-lived cookie signed with the secret key (so nobody can plant
words on our pages through a link), set by the redirect and cleared by the page that shows
it. It holds only the text a person reads next, never a token or a secret.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

from attrs import frozen
from litestar import Request
from litestar.datastructures import Cookie

from entrypoints.settings import Settings

FLASH_COOKIE = "saascore_flash"
FLASH_SECONDS = 60
KINDS = frozenset({"success", "error", "info"})


@frozen
class Flash:
    text: str
    kind: str = "success"


def _signature(settings: Settings, payload: str) -> str:
    digest = hmac.new(
        settings.secret_key.encode(), f"flash:{payload}".encode(), hashlib.sha256
    ).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _cookie(settings: Settings, value: str, max_age: int) -> Cookie:
    return Cookie(
        key=FLASH_COOKIE,
        value=value,
        path="/",
        httponly=True,
        samesite="lax",
        secure=settings.uses_https,
        max_age=max_age,
    )


def flash_cookie(settings: Settings, flash: Flash) -> Cookie:
    """The cookie that carries ``flash`` to the next page."""
    raw = json.dumps({"text": flash.text, "kind": flash.kind}).encode()
    payload = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
    return _cookie(settings, f"{payload}.{_signature(settings, payload)}", FLASH_SECONDS)


def cleared_flash(settings: Settings) -> Cookie:
    return _cookie(settings, "", 0)


def read_flash(request: Request[Any, Any, Any], settings: Settings) -> Flash | None:
    """The flash the previous response left, if it is ours and readable."""
    payload, _, signature = request.cookies.get(FLASH_COOKIE, "").partition(".")
    if not payload or not hmac.compare_digest(
        _signature(settings, payload).encode(), signature.encode()
    ):
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        text, kind = str(data["text"]), str(data["kind"])
    except (ValueError, KeyError, TypeError):
        return None
    return Flash(text, kind if kind in KINDS else "info")
