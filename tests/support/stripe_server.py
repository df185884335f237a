"""A local Stripe for tests: localstripe plus our extension, in a subprocess on 127.0.0.1.

``LocalStripe`` starts ``tests/support/localstripe_ext.py`` on a free port with its store in
a folder of the test's, waits until it answers, and stops it (kill, wait) on exit. Its
helpers create plans with price-like ids, register signed webhooks and pay checkouts.
``running_localstripe`` is the same for fixtures: it skips when localstripe cannot start,
and fails instead in CI, where a missing service is a failure.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any, Self
from urllib.parse import urlencode

import httpx
import pytest

from tests.support.databases import in_ci
from tests.support.smtp import HOST, free_port

WRAPPER = Path(__file__).with_name("localstripe_ext.py")
API_KEY = "sk_test_localstripe"
START_TIMEOUT = 15.0


class LocalStripeUnavailable(RuntimeError):
    """localstripe is not installed, or did not start."""


class LocalStripe:
    """localstripe (extended) on ``HOST``:``port``; use as a context manager."""

    host = HOST

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.pickle_path = directory / "localstripe.pickle"
        self.log_path = directory / "localstripe.log"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def api_base(self) -> str:
        """What the Stripe SDK takes as its ``api`` base address."""
        return f"http://{self.host}:{self.port}"

    def start(self) -> Self:
        if importlib.util.find_spec("localstripe") is None:
            raise LocalStripeUnavailable("localstripe is not installed")
        if self._process is not None:
            return self
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                [sys.executable, str(WRAPPER), str(self.port), str(self.pickle_path)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.directory,
            )
        try:
            self._wait_until_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            assert self._process is not None
            if self._process.poll() is not None:
                raise LocalStripeUnavailable(
                    f"localstripe exited with {self._process.returncode}: {self.log_tail()}"
                )
            try:
                # Any authenticated API answer will do: the server is up and serving.
                httpx.get(f"{self.api_base}/v1/customers", headers=self._auth, timeout=1)
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise LocalStripeUnavailable(
                        f"localstripe did not answer within {START_TIMEOUT} s: {self.log_tail()}"
                    ) from None
                time.sleep(0.05)
            else:
                return

    def stop(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.wait(timeout=10)
            self._process = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    @property
    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {API_KEY}"}

    # -------------------------------------------------------------- helpers

    def create_plan(
        self,
        price_id: str,
        *,
        amount: int = 1500,
        currency: str = "eur",
        interval: str = "month",
        product_name: str = "saascore test plan",
    ) -> dict[str, Any]:
        """A plan whose id looks like a price's, so code can keep speaking of prices."""
        response = httpx.post(
            f"{self.api_base}/v1/plans",
            headers=self._auth,
            data={
                "id": price_id,
                "amount": str(amount),
                "currency": currency,
                "interval": interval,
                "product[name]": product_name,
            },
        )
        response.raise_for_status()
        plan: dict[str, Any] = response.json()
        return plan

    async def register_webhook(
        self, name: str, url: str, secret: str, events: Iterable[str] | None = None
    ) -> None:
        """Deliver events to ``url``, signed with ``secret`` (all events, or ``events``)."""
        fields = [("url", url), ("secret", secret)]
        fields += [("events[]", event) for event in events or ()]
        async with httpx.AsyncClient() as client:
            response = await client.post(
                f"{self.api_base}/_config/webhooks/{name}",
                content=urlencode(fields),  # a repeated key: httpx's data= takes a dict only
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            )
        response.raise_for_status()

    async def complete_checkout(self, session_id: str) -> dict[str, Any]:
        """Pay the checkout session with a test card; return the completed session."""
        async with httpx.AsyncClient() as client:
            response = await client.post(f"{self.api_base}/_config/checkout/{session_id}/complete")
        response.raise_for_status()
        session: dict[str, Any] = response.json()
        return session


@contextmanager
def running_localstripe(directory: Path) -> Iterator[LocalStripe]:
    """A started ``LocalStripe``; skips the test when it cannot start (fails in CI)."""
    server = LocalStripe(directory)
    try:
        server.start()
    except (LocalStripeUnavailable, OSError) as exc:
        if in_ci():
            pytest.fail(f"localstripe must run in CI: {exc}")
        pytest.skip(f"localstripe is not available: {exc}")
    with server:
        yield server
