"""The default install runs the embedded default: without the optional drivers (the
``postgres`` and ``redis`` extras) saascore serves SQLite with in-process rate limits, and
settings that need a missing driver name the extra to install."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

BLOCK_DRIVERS = """
import importlib.abc, importlib.util, sys
class NoDrivers(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("asyncpg", "redis"):
            raise ModuleNotFoundError(f"No module named {name!r}")
        return None
sys.meta_path.insert(0, NoDrivers())
_find_spec = importlib.util.find_spec
def find_spec(name, package=None):
    return None if name.split(".")[0] in ("asyncpg", "redis") else _find_spec(name, package)
importlib.util.find_spec = find_spec
"""


def run(code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", BLOCK_DRIVERS + textwrap.dedent(code)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_sqlite_and_memory_limits_need_neither_driver(tmp_path: Path) -> None:
    """Migrate a SQLite file, then sign-in requests through the app, with asyncpg and
    redis unimportable."""
    result = run(
        """
        import asyncio
        from litestar.testing import AsyncTestClient
        from adapters.sql import migrate
        from entrypoints.settings import Settings
        from entrypoints.web import create_app

        url = "sqlite+aiosqlite:///extras.db"
        migrate.upgrade(url)

        async def main():
            app = create_app(Settings(database_url=url, environment="test"))
            async with AsyncTestClient(app) as client:
                ready = await client.get("/readyz")
                asked = await client.post("/api/auth/login-link", json={"email": "a@example.com"})
                print(ready.status_code, asked.status_code)

        asyncio.run(main())
        """,
        tmp_path,
    )
    assert "200 202" in result.stdout, result.stderr


def test_a_setting_that_needs_a_missing_driver_names_the_extra(tmp_path: Path) -> None:
    result = run(
        """
        from entrypoints.settings import SettingsError, load_settings
        try:
            load_settings({
                "DATABASE_URL": "postgresql://db.example/app",
                "RATE_LIMIT_STORAGE_URL": "redis://127.0.0.1:6379/0",
            })
        except SettingsError as exc:
            print("\\n".join(exc.problems))
        """,
        tmp_path,
    )
    assert "saascore[postgres]" in result.stdout, result.stderr
    assert "saascore[redis]" in result.stdout, result.stderr
