"""Flash messages: a signed, short-lived cookie holding only the text shown next."""

from __future__ import annotations

from typing import Any

from litestar import Request

from entrypoints.settings import Settings
from entrypoints.web.flash import FLASH_COOKIE, Flash, flash_cookie, read_flash

SETTINGS = Settings(environment="test")


def request_with(value: str) -> Request[Any, Any, Any]:
    header = f"{FLASH_COOKIE}={value}".encode()
    scope: Any = {"type": "http", "headers": [(b"cookie", header)], "method": "GET"}
    return Request(scope)


class TestFlash:
    def test_a_flash_reads_back_as_written(self) -> None:
        """The cookie carries the text and kind to the next page."""
        cookie = flash_cookie(SETTINGS, Flash("Invitation sent to a@example.com.", "success"))

        shown = read_flash(request_with(str(cookie.value)), SETTINGS)

        assert Flash("Invitation sent to a@example.com.", "success") == shown
        assert (60, True, "lax") == (cookie.max_age, cookie.httponly, cookie.samesite)

    def test_a_forged_flash_is_ignored(self) -> None:
        """Nobody can plant words on our pages through a cookie they wrote."""
        cookie = str(flash_cookie(SETTINGS, Flash("Hello")).value)
        payload, _, signature = cookie.partition(".")
        other = Settings(environment="test", secret_key="another-secret-key-" + "x" * 32)

        assert read_flash(request_with(f"{payload}.forged"), SETTINGS) is None
        assert read_flash(request_with(cookie), other) is None
        assert read_flash(request_with("garbage"), SETTINGS) is None
        assert signature

    def test_an_unknown_kind_shows_as_info(self) -> None:
        cookie = flash_cookie(SETTINGS, Flash("Note", "shouting"))

        assert "info" == read_flash(request_with(str(cookie.value)), SETTINGS).kind  # type: ignore[union-attr]
