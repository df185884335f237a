"""`saascore dev` as a user runs it: a real server process on a free loopback port."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.databases import sqlite_url


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_up(base: str, process: subprocess.Popen[str], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited early:\n{process.stdout.read()}")  # type: ignore[union-attr]
        try:
            httpx.get(f"{base}/healthz", timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError("server did not come up")


@pytest.fixture
def dev_server(
    tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[tuple[str, subprocess.Popen[str], Path]]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "ENVIRONMENT")}
    env.update(getattr(request, "param", {}))
    process = subprocess.Popen(
        [sys.executable, "-m", "entrypoints.cli", "dev", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(base, process)
        yield base, process, tmp_path
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()


class TestDevServer:
    def test_dev_serves_a_migrated_seeded_sqlite_app(
        self, dev_server: tuple[str, subprocess.Popen[str], Path]
    ) -> None:
        """From an empty folder: migrations applied, demo data in saascore.db, ready."""
        base, _, folder = dev_server

        ready = httpx.get(f"{base}/readyz", timeout=5)
        index = httpx.get(f"{base}/", timeout=5)

        assert (200, "ready") == (ready.status_code, ready.json()["status"])
        assert ready.headers["x-request-id"]
        assert "saascore" == index.json()["name"]
        assert (folder / "saascore.db").is_file()
        listed = subprocess.run(
            [sys.executable, "-m", "entrypoints.cli", "workspaces", "list"],
            cwd=folder,
            env={**os.environ, "DATABASE_URL": sqlite_url(folder / "saascore.db")},
            capture_output=True,
            text=True,
            check=True,
        )
        assert ["Acme Inc", "Demo Studio", "Initech"] == [
            line.split("  ")[0] for line in listed.stdout.splitlines()[1:]
        ]

    @pytest.mark.parametrize("dev_server", [{"DATABASE_URL": "memory://"}], indirect=True)
    def test_dev_on_memory_serves_the_demo_data_it_loaded(
        self, dev_server: tuple[str, subprocess.Popen[str], Path]
    ) -> None:
        """With DATABASE_URL=memory:// the demo data is loaded into the database the server
        uses (not into one thrown away before it starts): the founder signs in and sees
        the demo workspaces."""
        base, _, folder = dev_server
        with httpx.Client(base_url=base, timeout=10) as client:
            asked = client.post("/api/auth/login-link", json={"email": "founder@example.com"})
            mailbox = client.get("/dev/mailbox")
            [token] = re.findall(r"/auth/confirm\?token=([\w-]+)", mailbox.text)[:1]
            confirmed = client.post("/api/auth/confirm", json={"token": token})
            mine = client.get("/api/workspaces")

        assert 202 == asked.status_code
        assert (200, False) == (confirmed.status_code, confirmed.json()["new_user"])
        assert {"Acme Inc", "Demo Studio", "Initech"} <= {w["name"] for w in mine.json()}
        assert not (folder / "saascore.db").exists()

    def test_dev_stops_cleanly_on_interrupt(
        self, dev_server: tuple[str, subprocess.Popen[str], Path]
    ) -> None:
        """Ctrl-C shuts the server down with exit code 0 and no traceback."""
        _, process, _ = dev_server

        process.send_signal(signal.SIGINT)
        code = process.wait(timeout=15)
        output = process.stdout.read()  # type: ignore[union-attr]

        assert 0 == code, output
        assert "Traceback" not in output
        assert "founder@example.com" in output
