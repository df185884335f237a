"""Real app processes for fault and several-process tests, and the peers they talk to.

``AppProcess`` runs ``python -m entrypoints.cli serve`` on a free 127.0.0.1 port with only
the settings a test gives it (none of the developer's or CI's own), collects its output,
and stops it (terminate, then kill). ``FakeStripe`` is a tiny HTTP server on 127.0.0.1 that
plays a Stripe API answering 500 or never answering. ``signed_event`` signs a webhook
payload with the SDK's own helper; ``sign_in`` goes through the real login-link flow,
reading the link from a ``SmtpServer``.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal, TypeVar

import attrs
import httpx
import stripe

from entrypoints.settings import Settings, variable
from tests.support.smtp import HOST, SmtpServer, free_port

SETTINGS_VARIABLES = frozenset(variable(f.name) for f in attrs.fields(Settings))
START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
SECRET_KEY = "fault-and-process-tests-secret-key-0123456789"
WEBHOOK_SECRET = "whsec_fault_tests"
LINK = re.compile(r"/auth/confirm\?token=([\w-]+)")
FIXTURES = Path(__file__).parent.parent / "fixtures" / "stripe"
T = TypeVar("T")


def base_env(**settings: str) -> dict[str, str]:
    """The process environment: ours without any saascore setting, plus ``settings``."""
    env = {k: v for k, v in os.environ.items() if k not in SETTINGS_VARIABLES}
    env.update(
        ENVIRONMENT="test",
        SECRET_KEY=SECRET_KEY,
        LOG_FORMAT="json",
        LOG_LEVEL="INFO",
        PYTHONUNBUFFERED="1",
        OUTBOX_POLL_SECONDS="1",
    )
    env.update(settings)
    return env


class AppProcess:
    """``saascore serve`` (or ``command``, e.g. ``dev``) in a subprocess on ``HOST``:``port``;
    output collected as it comes."""

    def __init__(
        self, folder: Path, env: Mapping[str, str], *, name: str = "app", command: str = "serve"
    ) -> None:
        self.folder = folder
        self.name = name
        self.command = command
        self.port = free_port()
        self.base = f"http://{HOST}:{self.port}"
        self.env = {**env, "BASE_URL": self.base}
        self._lines: list[str] = []
        self._lock = threading.Lock()
        self._process: subprocess.Popen[str] | None = None
        self._reader: threading.Thread | None = None

    def launch(self) -> None:
        """Start the process; ``wait_until_up`` waits for it (so several start at once)."""
        self._process = subprocess.Popen(
            [sys.executable, "-m", "entrypoints.cli", self.command, "--port", str(self.port)],
            cwd=self.folder,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
        )
        # A thread drains the pipe, so a chatty server never blocks on a full one.
        self._reader = threading.Thread(target=self._read, args=(self._process,), daemon=True)
        self._reader.start()

    def _read(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            with self._lock:
                self._lines.append(line)

    def wait_until_up(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            assert self._process is not None, "launch() first"
            if self._process.poll() is not None:
                self._join_reader()
                raise AssertionError(
                    f"{self.name} exited with {self._process.returncode}:\n{self.output()}"
                )
            try:
                httpx.get(f"{self.base}/healthz", timeout=1)
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise AssertionError(
                        f"{self.name} did not answer within {START_TIMEOUT} s:\n{self.output()}"
                    ) from None
                time.sleep(0.05)
            else:
                return

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=STOP_TIMEOUT)
        self._join_reader()
        if process.stdout is not None:
            process.stdout.close()

    def _join_reader(self) -> None:
        if self._reader is not None:
            self._reader.join(timeout=5)

    def output(self) -> str:
        with self._lock:
            return "".join(self._lines)

    def log_records(self) -> list[dict[str, Any]]:
        """The JSON log lines printed so far."""
        records = []
        for line in self.output().splitlines():
            if line.startswith("{"):
                try:
                    records.append(json.loads(line))
                except ValueError:
                    continue
        return records

    def report(self) -> str:
        return f"\n--- {self.name} output (tail) ---\n" + "\n".join(
            self.output().splitlines()[-40:]
        )


@contextmanager
def running(*apps: AppProcess) -> Iterator[tuple[AppProcess, ...]]:
    """Start ``apps`` together, wait until each answers, stop them all on exit."""
    try:
        for app in apps:
            app.launch()
        for app in apps:
            app.wait_until_up()
        yield apps
    finally:
        for app in apps:
            app.stop()


# ------------------------------------------------------------------------- a failing Stripe

StripeMode = Literal["error", "hang"]


class FakeStripe:
    """An HTTP server on ``HOST`` that answers every Stripe API call with a 500 (``error``)
    or never answers at all (``hang``, until the server stops). ``requests`` counts calls."""

    def __init__(self, mode: StripeMode) -> None:
        self.mode = mode
        self.requests = 0
        self._release = threading.Event()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                fake.requests += 1
                if fake.mode == "hang":
                    fake._release.wait(timeout=60)
                    return
                body = json.dumps(
                    {"error": {"type": "api_error", "message": "An unknown error occurred"}}
                ).encode()
                self.send_response(500)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_DELETE = _answer

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer((HOST, 0), Handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def api_base(self) -> str:
        return f"http://{HOST}:{self.port}"

    def __enter__(self) -> FakeStripe:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._release.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def stripe_env(api_base: str) -> dict[str, str]:
    return {
        "BILLING_BACKEND": "stripe",
        "STRIPE_SECRET_KEY": "sk_test_faults",
        "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "STRIPE_API_BASE": api_base,
        "STRIPE_TIMEOUT_SECONDS": "1",
        "BILLING_PLANS": "free::3,pro:price_pro_monthly:25",
    }


def smtp_env(smtp_port: int) -> dict[str, str]:
    return {
        "EMAIL_BACKEND": "smtp",
        "SMTP_HOST": HOST,
        "SMTP_PORT": str(smtp_port),
        "SMTP_TLS": "none",
        "SMTP_TIMEOUT_SECONDS": "1",
        "SMTP_FROM": "saascore <no-reply@saascore.test>",
    }


def subscription_event(workspace_id: str, event_id: str, status: str = "active") -> bytes:
    """A ``customer.subscription.updated`` event for the workspace, created now, with a
    customer and subscription of its own (the app finds workspaces by those ids too)."""
    text = (FIXTURES / "subscription_event_current.json").read_text()
    text = text.replace("WORKSPACE_ID", workspace_id)
    text = text.replace("QcurrentShape", "Q" + workspace_id.replace("-", ""))
    event: dict[str, Any] = json.loads(text)
    event["id"] = event_id
    event["created"] = int(time.time())
    event["data"]["object"]["status"] = status
    return json.dumps(event).encode()


def signed_headers(payload: bytes, secret: str = WEBHOOK_SECRET) -> dict[str, str]:
    header = stripe.WebhookSignature.generate_signature_header(
        payload.decode(), secret, timestamp=int(time.time())
    )
    return {"Stripe-Signature": header, "Content-Type": "application/json"}


# ------------------------------------------------------------------------------ waiting


async def eventually(
    check: Callable[[], Awaitable[T]],
    what: str,
    *,
    within: float = 10.0,
    every: float = 0.05,
    report: Callable[[], str] = str,
) -> T:
    """Poll ``check`` until it returns something truthy; fail saying ``what`` did not happen
    (and what ``report`` says then, e.g. a server's output)."""
    deadline = time.monotonic() + within
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} within {within} s; last seen: {result!r}{report()}")
        await asyncio.sleep(every)


def tokens_for(smtp: SmtpServer, address: str) -> list[str]:
    found = []
    for message in smtp.messages:
        if message["To"] == address:
            body = message.get_body(("plain",))
            assert body is not None
            match = LINK.search(body.get_content())
            if match:
                found.append(match.group(1))
    return found


async def sign_in(
    client: httpx.AsyncClient, smtp: SmtpServer, address: str, *, confirm_on: str | None = None
) -> str:
    """Ask ``client``'s server for a link, read it at ``smtp``, confirm it (on ``confirm_on``,
    another server, if given). The client keeps the cookie; the CSRF token is returned."""
    asked = await client.post("/api/auth/login-link", json={"email": address})
    assert 202 == asked.status_code, asked.text

    async def link() -> list[str]:
        return tokens_for(smtp, address)

    [token] = await eventually(link, f"sign-in email for {address}")
    url = f"{confirm_on}/api/auth/confirm" if confirm_on else "/api/auth/confirm"
    confirmed = await client.post(url, json={"token": token})
    assert 200 == confirmed.status_code, confirmed.text
    csrf: str = confirmed.json()["csrf_token"]
    return csrf


async def create_workspace(client: httpx.AsyncClient, csrf: str, name: str) -> str:
    created = await client.post(
        "/api/workspaces", json={"name": name}, headers={"X-CSRF-Token": csrf}
    )
    assert 201 == created.status_code, created.text
    workspace_id: str = created.json()["id"]
    return workspace_id
