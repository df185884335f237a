"""No sign-in or invite token is stored in a form that can be replayed: not in the
database, its WAL, a backup, or a Postgres dump read as plain SQL — while the email that
carries it waits in the outbox, and after it was sent (issue 14, item 1)."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from adapters.sql.backup import create_backup
from entrypoints.bootstrap import Services, bootstrap
from entrypoints.settings import Settings
from saascore import Actor, create_invite, create_workspace, register_user, request_login_link
from saascore.models import Role
from saascore.outbox import flush
from tests.support.context import unsealed

LINK_TOKEN = re.compile(r"token=([\w-]+)")


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest) -> str:
    url: str = request.getfixturevalue(f"{request.param}_url")
    return url


@pytest.fixture
async def services(database_url: str) -> AsyncIterator[Services]:
    built = bootstrap(Settings(database_url=database_url, environment="test"))
    yield built
    await built.aclose()


async def issue_tokens(services: Services) -> list[str]:
    """A sign-in link that leads back to an invite, and the invite itself: both tokens."""
    system = Actor.system()
    async with services.transaction(system) as tx:
        owner = await register_user(tx, email="owner@example.com")
        workspace = await create_workspace(tx.as_actor(Actor(owner.id)), name="Acme")
        issued = await create_invite(
            tx.as_actor(Actor(owner.id)), workspace.id, email="new@example.com", role=Role.ADMIN
        )
        await request_login_link(
            tx, email="new@example.com", next_path=f"/invites/accept?token={issued.token}"
        )
    async with services.reader() as uow:
        rows = await uow.outbox.list(limit=10)
    texts = [(await unsealed(services, row)).message.text for row in rows]
    tokens = {t for text in texts for t in LINK_TOKEN.findall(text)} | {issued.token}
    assert len(tokens) == 2, texts
    return sorted(tokens)


def tool(name: str) -> str:
    found = shutil.which(name)
    assert found is not None, f"{name} is needed (the PostgreSQL client tools)"
    return found


def stored_bytes(database_url: str, folder: Path) -> bytes:
    """Every byte the database keeps: the SQLite file and its WAL, or a plain SQL dump."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        path = Path(url.database or "")
        return b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists())
    dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
    dump = subprocess.run(
        [tool("pg_dump"), "--format=plain", "--data-only", dsn],
        capture_output=True,
        check=True,
        timeout=60,
    )
    return dump.stdout


def plain_backup(data_file: Path, database_url: str, folder: Path) -> bytes:
    if make_url(database_url).get_backend_name() == "sqlite":
        return data_file.read_bytes()
    # The custom format compresses: read it back as plain SQL to look inside.
    restored = subprocess.run(
        [tool("pg_restore"), "--file=-", str(data_file)],
        capture_output=True,
        check=True,
        timeout=60,
    )
    return restored.stdout


async def test_no_token_is_stored_where_it_can_be_replayed(
    services: Services, database_url: str, tmp_path: Path
) -> None:
    tokens = await issue_tokens(services)
    backup = await create_backup(
        database_url, tmp_path / "backups", now=datetime.now(UTC), app_version="test"
    )

    queued = stored_bytes(database_url, tmp_path)
    backed_up = plain_backup(backup.data_path, database_url, tmp_path)
    await flush(services.deps)
    sent = stored_bytes(database_url, tmp_path)

    for token in tokens:
        assert token.encode() not in queued
        assert token.encode() not in backed_up
        assert token.encode() not in sent
    assert b"owner@example.com" in queued + backed_up  # the bytes were really looked at
