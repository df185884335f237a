"""The browser suite: headless Debian Chromium, driven by Playwright's async API, against a
real ``saascore dev`` process on a free loopback port with a fresh SQLite database.

Skips: ``PLAYWRIGHT_SKIP_BROWSER=1`` skips the suite; without Chromium (``/usr/bin/chromium``,
or ``CHROMIUM_PATH``) it skips with the reason, except in CI (``CI=true``), where that fails.
Playwright never downloads a browser here: it launches the system one by path.
When a test fails, every page it opened is saved to ``test-artifacts/<test>-<n>.png``.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import async_playwright

from tests.integration.test_dev_server import free_port, wait_until_up

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
LAUNCH_ARGS = ["--disable-gpu", "--disable-dev-shm-usage"]


def chromium_path() -> str:
    """The Chromium to launch, or a skip (a failure in CI) saying why there is none."""
    if os.environ.get("PLAYWRIGHT_SKIP_BROWSER") == "1":
        pytest.skip("PLAYWRIGHT_SKIP_BROWSER=1: browser tests skipped")
    path = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
    if Path(path).is_file():
        return path
    reason = f"no Chromium at {path}: apt-get install -y chromium, or set CHROMIUM_PATH"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI runs the browser tests)")
    pytest.skip(reason)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.when == "call":
        item.stash[FAILED] = report.failed
    return report


FAILED = pytest.StashKey[bool]()


class DevServer:
    """``saascore dev`` in its own folder; its output goes to ``server.log`` there."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = folder / "server.log"
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("DATABASE_URL", "ENVIRONMENT", "BASE_URL")
            and not k.startswith(("SMTP_", "STRIPE_", "EMAIL_", "BILLING_"))
        }
        with self.log.open("w") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "entrypoints.cli", "dev", "--port", str(self.port)],
                cwd=folder,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                text=True,
            )

    def output(self) -> str:
        return self.log.read_text()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevServer]:
    chromium_path()  # skip before starting a server no browser will use
    running = DevServer(tmp_path_factory.mktemp("browser-app"))
    try:
        wait_until_up(running.base, running.process)
        yield running
    finally:
        running.stop()


OpenPage = Callable[[], Awaitable[Any]]


@pytest.fixture
async def open_page(request: pytest.FixtureRequest, server: DevServer) -> AsyncIterator[OpenPage]:
    """Opens a page in a fresh browser context (a separate person: own cookies) on the app."""
    pages: list[Any] = []
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=chromium_path(), headless=True, args=LAUNCH_ARGS
        )

        async def new_page() -> Any:
            context = await browser.new_context(base_url=server.base)
            context.set_default_timeout(10_000)
            page = await context.new_page()
            pages.append(page)
            return page

        try:
            yield new_page
        finally:
            if request.node.stash.get(FAILED, False):
                ARTIFACTS.mkdir(exist_ok=True)
                name = re.sub(r"[^\w.-]+", "_", request.node.name)
                for n, page in enumerate(pages, 1):
                    with contextlib.suppress(Exception):  # a closed page has nothing to show
                        await page.screenshot(
                            path=str(ARTIFACTS / f"{name}-{n}.png"), full_page=True
                        )
                (ARTIFACTS / f"{name}-server.log").write_text(server.output())
            await browser.close()
