"""The operators' commands (`saascore workspaces|invites|users|audit`) on seeded SQLite files
and Postgres databases, through click's runner (and one real process for `--follow`)."""

from __future__ import annotations

import asyncio
import csv
import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import Executable, delete, update

from adapters.sql import make_engine
from adapters.sql.tables import audit_events
from entrypoints.bootstrap import Services, bootstrap
from entrypoints.cli.audit import FIELDS
from entrypoints.cli.main import cli
from entrypoints.settings import Settings
from saascore.auth import confirm_login_link, request_login_link
from saascore.models import Actor, OutboxMessage, Session
from tests.support.context import unsealed
from tests.support.databases import PostgresDatabases, SqliteDatabases

T = TypeVar("T")
TOKEN_LIKE = re.compile(r"[A-Za-z0-9_-]{40,}")
LINK_TOKEN = re.compile(r"token=([A-Za-z0-9_-]+)")
SESSION_FIELDS = {"id", "created_at", "last_seen_at", "expires_at", "ip", "user_agent"}


def run(url: str, *args: str, input: str | None = None, **env: str) -> Result:
    return CliRunner().invoke(
        cli,
        list(args),
        input=input,
        env={"DATABASE_URL": url, "LOG_LEVEL": "WARNING", **env},
        catch_exceptions=False,
    )


def ok(url: str, *args: str) -> str:
    """Run a command that must succeed; return what it printed."""
    result = run(url, *args)
    assert 0 == result.exit_code, result.output
    return result.stdout


def json_of(url: str, *args: str) -> Any:
    return json.loads(ok(url, *args, "--json"))


def json_lines(url: str, *args: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in ok(url, *args, "--json").splitlines()]


def fails(url: str, exit_code: int, *args: str) -> str:
    """Run a command that must fail with ``exit_code`` and one line, never a traceback."""
    result = run(url, *args)
    lines = result.output.strip().splitlines()
    assert (exit_code, 1) == (result.exit_code, len(lines)), result.output
    assert "Traceback" not in result.output
    return lines[0]


def seed(url: str) -> str:
    ok(url, "db", "upgrade")
    ok(url, "db", "seed")
    return url


@pytest.fixture(params=["sqlite", "postgres"])
def url(request: pytest.FixtureRequest, tmp_cwd: Path) -> str:
    """A seeded database of each SQL kind (`db upgrade`, then `db seed`)."""
    if request.param == "sqlite":
        sqlite: SqliteDatabases = request.getfixturevalue("sqlite_databases")
        return seed(sqlite.new())
    postgres: PostgresDatabases = request.getfixturevalue("postgres_databases")
    return seed(postgres.new())


@pytest.fixture
def sqlite_seeded(sqlite_url: str, tmp_cwd: Path) -> str:
    """A seeded SQLite file."""
    return seed(sqlite_url)


def on_services(url: str, work: Callable[[Services], Awaitable[T]]) -> T:
    async def go() -> T:
        services = bootstrap(Settings(database_url=url, environment="test"))
        try:
            return await work(services)
        finally:
            await services.aclose()

    return asyncio.run(go())


def outbox_to(url: str, email: str) -> list[OutboxMessage]:
    """The queued emails to ``email``, newest first."""

    async def work(services: Services) -> list[OutboxMessage]:
        async with services.uow() as uow:
            rows = [m for m in await uow.outbox.list(limit=500) if m.message.to == email]
        return [await unsealed(services, m) for m in rows]

    return on_services(url, work)


def sign_in(url: str, email: str, *, ip: str, user_agent: str) -> None:
    """Sign in as a browser would: ask for a link, take it from the outbox, confirm it."""
    actor = Actor(None, ip=ip, user_agent=user_agent)

    async def work(services: Services) -> None:
        async with services.transaction(actor) as tx:
            await request_login_link(tx, email=email)
        async with services.transaction(actor) as tx:
            messages = await tx.uow.outbox.list(limit=500)
            newest = await unsealed(services, next(m for m in messages if m.message.to == email))
            token = LINK_TOKEN.findall(newest.message.text)[0]
            await confirm_login_link(tx, token=token)

    on_services(url, work)


def sessions_of(url: str, email: str) -> list[Session]:
    async def work(services: Services) -> list[Session]:
        async with services.uow() as uow:
            user = await uow.users.get_by_email(email)
            assert user is not None
            return list(await uow.sessions.list_for_user(user.id))

    return on_services(url, work)


def execute(url: str, statement: Executable) -> None:
    """Change the database behind the application's back, as an intruder would."""

    async def go() -> None:
        engine = make_engine(url)
        try:
            async with engine.begin() as conn:
                await conn.execute(statement)
        finally:
            await engine.dispose()

    asyncio.run(go())


def emails_of(rows: list[dict[str, Any]]) -> set[str]:
    return {row["email"] for row in rows}


class TestWorkspaces:
    def test_create_prints_the_slug_and_id_and_the_owner_is_a_member(self, url: str) -> None:
        """A second "Acme Inc" gets the next free slug; its owner is the only member."""
        created = ok(url, "workspaces", "create", "Acme Inc", "--owner", "ada@example.com")
        workspace_id = created.split("id ")[-1].strip()

        members = json_of(url, "workspaces", "members", "acme-inc-2")
        table = ok(url, "workspaces", "members", workspace_id)

        assert created.startswith("created workspace Acme Inc: slug acme-inc-2, id ")
        assert [("ada@example.com", "Ada Admin", "owner")] == [
            (m["email"], m["name"], m["role"]) for m in members
        ]
        assert ["EMAIL", "NAME", "ROLE", "JOINED", "USER", "ID"] == table.splitlines()[0].split()
        assert ["ada@example.com", "Ada", "Admin", "owner"] == table.splitlines()[1].split()[:4]

    def test_members_are_added_promoted_and_removed(self, url: str) -> None:
        """add-member, set-role and remove-member change what members lists."""
        ok(url, "workspaces", "add-member", "demo-studio", "max@example.com", "--role", "admin")
        after_add = json_of(url, "workspaces", "members", "demo-studio")
        ok(url, "workspaces", "set-role", "demo-studio", "max@example.com", "member")
        after_role = json_of(url, "workspaces", "members", "demo-studio")
        removed = ok(url, "workspaces", "remove-member", "demo-studio", "max@example.com")
        after_remove = json_of(url, "workspaces", "members", "demo-studio")

        assert ("max@example.com", "admin") in {(m["email"], m["role"]) for m in after_add}
        assert ("max@example.com", "member") in {(m["email"], m["role"]) for m in after_role}
        assert "removed max@example.com from demo-studio\n" == removed
        assert {"founder@example.com", "dana@example.com"} == emails_of(after_remove)

    def test_rename_keeps_the_slug(self, url: str) -> None:
        """Links keep working after a rename."""
        renamed = ok(url, "workspaces", "rename", "acme-inc", "Acme Corporation")

        shown = json_of(url, "workspaces", "show", "acme-inc")

        assert "renamed workspace acme-inc to Acme Corporation\n" == renamed
        assert ("Acme Corporation", "acme-inc") == (shown["name"], shown["slug"])

    def test_delete_wants_the_slug_typed_or_yes(self, url: str) -> None:
        """Anything but the slug refuses (exit 1); the slug or --yes deletes."""
        refused = run(url, "workspaces", "delete", "acme-inc", input="acme\n")
        still_there = run(url, "workspaces", "show", "acme-inc")
        typed = run(url, "workspaces", "delete", "acme-inc", input="acme-inc\n")
        with_yes = run(url, "workspaces", "delete", "demo-studio", "--yes")
        run(url, "workspaces", "delete", "initech", "--yes")

        assert (1, 0) == (refused.exit_code, still_there.exit_code)
        assert "nothing deleted" in refused.stderr
        assert (0, 0) == (typed.exit_code, with_yes.exit_code)
        assert "deleted workspace Acme Inc" in typed.stdout
        assert "" == ok(url, "workspaces", "list", "--json").strip("[]\n")
        assert "'acme-inc'" in fails(url, 4, "workspaces", "show", "acme-inc")

    def test_unknown_workspaces_and_users_are_exit_4(self, url: str) -> None:
        """Not found is one line naming what was asked for."""
        assert "'nope'" in fails(url, 4, "workspaces", "members", "nope")
        assert "'who@example.com'" in fails(
            url, 4, "workspaces", "add-member", "acme-inc", "who@example.com", "--role", "member"
        )
        assert "'nobody'" in fails(url, 4, "workspaces", "create", "X", "--owner", "nobody")

    def test_conflicts_are_exit_6_and_bad_input_exit_7(self, url: str) -> None:
        """The last owner stays; a member is not added twice; a name must not be empty."""
        last_owner = ("demo-studio", "founder@example.com")
        assert "owner" in fails(url, 6, "workspaces", "remove-member", *last_owner)
        assert "owner" in fails(url, 6, "workspaces", "set-role", *last_owner, "admin")
        assert "already" in fails(
            url, 6, "workspaces", "add-member", "acme-inc", "max@example.com", "--role", "member"
        )
        assert "name" in fails(url, 7, "workspaces", "rename", "acme-inc", "   ")


class TestInvites:
    def test_create_queues_the_email_and_prints_no_token(self, url: str) -> None:
        """The id and expiry are printed; the token only travels in the queued email."""
        result = run(url, "invites", "create", "acme-inc", "Zoe@Example.com", "--role", "admin")

        queued = outbox_to(url, "zoe@example.com")
        token = LINK_TOKEN.findall(queued[0].message.text)[0]
        listed = json_of(url, "invites", "list", "acme-inc")
        invite = next(i for i in listed if i["email"] == "zoe@example.com")
        assert 0 == result.exit_code, result.output
        assert f"invite {invite['id']}, expires {invite['expires_at']}" in result.stdout
        assert token not in result.output
        assert [] == TOKEN_LIKE.findall(result.output)
        assert 1 == len(queued)
        assert ("admin", None, False) == (invite["role"], invite["inviter"], invite["expired"])

    def test_the_token_stays_out_of_debug_logs(self, url: str) -> None:
        """Even at LOG_LEVEL=DEBUG nothing prints the token."""
        result = run(url, "invites", "create", "acme-inc", "yan@example.com", LOG_LEVEL="DEBUG")

        token = LINK_TOKEN.findall(outbox_to(url, "yan@example.com")[0].message.text)[0]
        assert 0 == result.exit_code
        assert token not in result.output

    def test_list_shows_the_pending_invites_as_table_and_json(self, url: str) -> None:
        """Email, role, inviter, expiry and whether it expired; the seeded one has."""
        table = ok(url, "invites", "list", "demo-studio")
        listed = json_of(url, "invites", "list", "demo-studio")

        assert [
            {
                "email": "late@example.com",
                "role": "admin",
                "inviter": "founder@example.com",
                "expired": True,
            }
        ] == [{k: i[k] for k in ("email", "role", "inviter", "expired")} for i in listed]
        assert ["EMAIL", "ROLE", "INVITER", "EXPIRES", "EXPIRED", "ID"] == (
            table.splitlines()[0].split()
        )
        row = table.splitlines()[1].split()
        assert (row[0], row[1], row[2], row[4], row[5]) == (
            "late@example.com",
            "admin",
            "founder@example.com",
            "yes",
            listed[0]["id"],
        )

    def test_revoke_then_revoking_again_is_gone(self, url: str) -> None:
        """A revoked invite leaves the list; touching it again is exit 13."""
        invite_id = json_of(url, "invites", "list", "acme-inc")[0]["id"]

        revoked = ok(url, "invites", "revoke", "acme-inc", invite_id)
        listed = json_of(url, "invites", "list", "acme-inc")

        assert f"revoked invite {invite_id}\n" == revoked
        assert [] == listed
        assert "revoked" in fails(url, 13, "invites", "revoke", "acme-inc", invite_id)
        assert "not found" in fails(url, 4, "invites", "revoke", "acme-inc", str(uuid.uuid4()))
        assert "not found" in fails(url, 4, "invites", "revoke", "demo-studio", invite_id)

    def test_resend_gives_a_new_id_and_replaces_the_old_invite(self, url: str) -> None:
        """The expired seeded invite comes back pending with a new id, expiry and email."""
        old = json_of(url, "invites", "list", "demo-studio")[0]

        resent = run(url, "invites", "resend", "demo-studio", old["id"])
        listed = json_of(url, "invites", "list", "demo-studio")
        token = LINK_TOKEN.findall(outbox_to(url, "late@example.com")[0].message.text)[0]

        assert 0 == resent.exit_code, resent.output
        assert [old["email"]] == [i["email"] for i in listed]
        new = listed[0]
        assert new["id"] != old["id"]
        assert (False, True) == (new["expired"], new["expires_at"] > old["expires_at"])
        assert f"invite {new['id']}" in resent.stdout
        assert f"replaces {old['id']}" in resent.stdout
        assert token not in resent.output
        assert "replaced" in fails(url, 13, "invites", "resend", "demo-studio", old["id"])

    def test_conflicts_and_bad_addresses(self, url: str) -> None:
        """A second pending invite or a member's address is exit 6; a non-address is 7."""
        assert "pending" in fails(url, 6, "invites", "create", "acme-inc", "guest@example.com")
        assert "member" in fails(url, 6, "invites", "create", "acme-inc", "ada@example.com")
        assert "email" in fails(url, 7, "invites", "create", "acme-inc", "not-an-address")
        assert "'nope'" in fails(url, 4, "invites", "list", "nope")


class TestUsers:
    def test_create_then_again_is_a_conflict(self, url: str) -> None:
        """A new user is listed; the same address again is exit 6, a bad one exit 7."""
        created = ok(url, "users", "create", "New@Example.com", "--name", "Nia New")

        listed = json_of(url, "users", "list")

        assert created.startswith("created user new@example.com (Nia New), id ")
        assert ("new@example.com", "Nia New") in {(u["email"], u["name"]) for u in listed}
        assert "exists" in fails(url, 6, "users", "create", "new@example.com")
        assert "email" in fails(url, 7, "users", "create", "nobody")

    def test_disable_ends_every_session_and_says_how_many(self, url: str) -> None:
        """Sessions are listed without secrets; disabling ends all of them at once."""
        sign_in(url, "max@example.com", ip="203.0.113.7", user_agent="Firefox/130")
        sign_in(url, "max@example.com", ip="198.51.100.9", user_agent="curl/8")

        listed = run(url, "users", "sessions", "max@example.com", "--json")
        table = ok(url, "users", "sessions", "max@example.com")
        disabled = ok(url, "users", "disable", "max@example.com")
        again = ok(url, "users", "disable", "max@example.com")

        sessions = json.loads(listed.stdout)
        assert [SESSION_FIELDS, SESSION_FIELDS] == [set(s) for s in sessions]
        assert {("203.0.113.7", "Firefox/130"), ("198.51.100.9", "curl/8")} == {
            (s["ip"], s["user_agent"]) for s in sessions
        }
        assert ["ID", "CREATED", "LAST", "SEEN", "IP", "USER", "AGENT"] == (
            table.splitlines()[0].split()
        )
        assert "Firefox/130" in table
        assert "hash" not in listed.output + table
        assert [] == TOKEN_LIKE.findall(listed.output + table)
        assert "disabled max@example.com; ended 2 sessions\n" == disabled
        assert "max@example.com was already disabled\n" == again
        assert [] == sessions_of(url, "max@example.com")
        assert [] == json_of(url, "users", "sessions", "max@example.com")

    def test_enable_lets_them_sign_in_again(self, url: str) -> None:
        """A re-enabled user signs in and has a session."""
        users = json_of(url, "users", "list")
        user_id = next(u["id"] for u in users if u["email"] == "max@example.com")
        ok(url, "users", "disable", user_id)

        enabled = ok(url, "users", "enable", user_id)
        sign_in(url, "max@example.com", ip="203.0.113.7", user_agent="Firefox/130")

        assert "enabled max@example.com\n" == enabled
        assert "max@example.com was not disabled\n" == ok(url, "users", "enable", user_id)
        assert 1 == len(sessions_of(url, "max@example.com"))

    def test_revoke_sessions_logs_out_everywhere(self, url: str) -> None:
        """Every session ends; the user is not disabled."""
        sign_in(url, "ada@example.com", ip="203.0.113.7", user_agent="Firefox/130")

        revoked = ok(url, "users", "revoke-sessions", "ADA@example.com")
        sign_in(url, "ada@example.com", ip="203.0.113.7", user_agent="Firefox/130")

        assert "ended 1 sessions of ada@example.com\n" == revoked
        assert 1 == len(sessions_of(url, "ada@example.com"))

    def test_unknown_users_are_exit_4(self, url: str) -> None:
        """By email or by id, a missing user is one line and exit 4."""
        assert "'who@example.com'" in fails(url, 4, "users", "disable", "who@example.com")
        assert "'no-such-id'" in fails(url, 4, "users", "sessions", "no-such-id")
        assert "'bad@x'" in fails(url, 4, "users", "revoke-sessions", "bad@x")


def make_changes(url: str) -> None:
    """Some operators' work after seeding, in workspace chains and the global one."""
    ok(url, "workspaces", "create", "Third Space", "--owner", "dana@example.com")
    ok(url, "invites", "create", "acme-inc", "zoe@example.com")
    ok(url, "workspaces", "set-role", "acme-inc", "max@example.com", "admin")
    ok(url, "users", "create", "ops@example.com")


class TestAuditVerify:
    def test_untouched_chains_verify(self, url: str) -> None:
        """Seeded data plus CLI changes: every chain verifies, the global one included."""
        make_changes(url)

        result = run(url, "audit", "verify")
        one = run(url, "audit", "verify", "--workspace", "acme-inc")

        assert (0, "ok: 5 chains verified\n") == (result.exit_code, result.output)
        assert (0, "ok: 1 chains verified\n") == (one.exit_code, one.output)

    def test_a_changed_row_is_named_by_workspace_and_seq(self, url: str) -> None:
        """Editing one column of one row breaks its chain at that row: exit 14."""
        make_changes(url)
        events = json_lines(url, "audit", "tail", "--workspace", "acme-inc")
        seq = events[1]["seq"]

        execute(url, update(audit_events).where(audit_events.c.seq == seq).values(ip="6.6.6.6"))
        result = run(url, "audit", "verify")

        assert 14 == result.exit_code
        assert f"acme-inc: event #{seq}: this event was changed\n" == result.stdout
        assert "1 of 5 chains broken" in result.stderr
        assert "Traceback" not in result.output
        assert 14 == run(url, "audit", "verify", "--workspace", "acme-inc").exit_code
        assert 0 == run(url, "audit", "verify", "--workspace", "demo-studio").exit_code

    def test_deleting_the_newest_row_is_detected(self, url: str) -> None:
        """Removing the last event of the global chain shows against the recorded head."""
        make_changes(url)
        newest = json_lines(url, "audit", "tail", "--limit", "1")[0]["seq"]

        execute(url, delete(audit_events).where(audit_events.c.seq == newest))
        result = run(url, "audit", "verify")

        assert 14 == result.exit_code
        assert result.stdout.startswith("global: events after #")
        assert f"the chain ends at #{newest}" in result.stdout

    def test_a_deleted_workspace_is_named_by_its_id(self, url: str) -> None:
        """Its chain stays after the workspace is gone, and is still verified."""
        workspace_id = json_of(url, "workspaces", "show", "demo-studio")["id"]
        ok(url, "workspaces", "delete", "demo-studio", "--yes")
        first = json_lines(url, "audit", "tail", "--workspace", workspace_id)[0]["seq"]

        execute(url, update(audit_events).where(audit_events.c.seq == first).values(ip="6.6.6.6"))
        result = run(url, "audit", "verify")

        assert 14 == result.exit_code
        assert result.stdout.startswith(f"{workspace_id}: event #{first}: ")

    def test_an_unknown_workspace_is_exit_4(self, url: str) -> None:
        """Verifying a chain that does not exist is not a success."""
        assert "'nope'" in fails(url, 4, "audit", "verify", "--workspace", "nope")


class TestAuditTail:
    def test_json_lines_are_the_newest_events_oldest_first(self, url: str) -> None:
        """Each line is a JSON object with every field; --limit keeps the newest."""
        make_changes(url)

        everything = json_lines(url, "audit", "tail", "--workspace", "acme-inc")
        newest_two = json_lines(url, "audit", "tail", "--workspace", "acme-inc", "--limit", "2")

        seqs = [e["seq"] for e in everything]
        assert seqs == sorted(seqs)
        assert list(FIELDS) == list(everything[0])
        assert [
            "workspace.created",
            "member.added",
            "member.added",
            "member.invited",
            "member.invited",
            "member.role_changed",
        ] == [e["action"] for e in everything]
        assert everything[-2:] == newest_two
        assert {"from": "member", "to": "admin"} == everything[-1]["data"]

    def test_without_a_workspace_it_shows_the_global_chain(self, url: str) -> None:
        """User events belong to no workspace; the table has a header and one row each."""
        make_changes(url)

        table = ok(url, "audit", "tail")
        events = json_lines(url, "audit", "tail", "--action", "user.created")

        assert ["SEQ", "TIME", "ACTION", "ACTOR", "TARGET", "IP", "DATA"] == (
            table.splitlines()[0].split()
        )
        assert 5 == len(table.splitlines()) - 1
        assert {None} == {e["workspace_id"] for e in events}
        assert 5 == len(events)

    def test_since_filters_by_time(self, url: str) -> None:
        """--since takes an ISO time; a bad one is a usage error."""
        assert 4 <= len(json_lines(url, "audit", "tail", "--since", "2000-01-01"))
        assert [] == json_lines(url, "audit", "tail", "--since", "2999-01-01T00:00+02:00")
        assert 2 == run(url, "audit", "tail", "--since", "last tuesday").exit_code
        assert "'nope'" in fails(url, 4, "audit", "tail", "--workspace", "nope")


class TestAuditExport:
    def test_csv_and_jsonl_hold_every_event_of_the_chain(self, url: str, tmp_cwd: Path) -> None:
        """CSV (with a header row, data as JSON) and JSON Lines round-trip the chain."""
        make_changes(url)
        expected = json_lines(url, "audit", "tail", "--workspace", "acme-inc", "--limit", "1000")

        csv_args = ("--workspace", "acme-inc", "--format", "csv", "--output", "audit.csv")
        to_file = run(url, "audit", "export", *csv_args)
        jsonl = ok(url, "audit", "export", "--workspace", "acme-inc")

        with (tmp_cwd / "audit.csv").open(newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        assert 0 == to_file.exit_code, to_file.output
        assert f"exported {len(expected)} events to audit.csv\n" == to_file.stderr
        assert list(FIELDS) == list(rows[0])
        assert [(e["seq"], e["data"]) for e in expected] == [
            (int(r["seq"]), json.loads(r["data"])) for r in rows
        ]
        assert expected == [json.loads(line) for line in jsonl.splitlines()]

    def test_the_global_chain_is_the_default(self, url: str) -> None:
        """Without --workspace the export is of user and sign-in events."""
        lines = ok(url, "audit", "export", "--format", "csv").splitlines()

        assert ",".join(FIELDS) == lines[0]
        assert 4 == len(lines) - 1


class LineReader:
    """Collects a process's output lines on a thread, so reads can time out."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.lines: queue.Queue[str] = queue.Queue()
        assert process.stdout is not None
        self.stream = process.stdout
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.stream:
            self.lines.put(line)

    def next(self, timeout: float = 10) -> dict[str, Any]:
        return dict(json.loads(self.lines.get(timeout=timeout)))


class TestAuditFollow:
    def test_follow_prints_new_events_until_ctrl_c(self, sqlite_seeded: str) -> None:
        """A running `tail --follow` shows an event appended by another process; Ctrl-C
        ends it with exit 0."""
        url = sqlite_seeded
        shown = json_lines(url, "audit", "tail")
        env = {**os.environ, "DATABASE_URL": url, "LOG_LEVEL": "WARNING", "PYTHONUNBUFFERED": "1"}
        command = [sys.executable, "-m", "entrypoints.cli", "audit", "tail", "--follow", "--json"]
        process = subprocess.Popen(
            command,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            # A suite started in the background by a non-interactive shell (`nox ... &`)
            # passes SIGINT down as ignored; Ctrl-C must reach the command as it does in a
            # terminal.
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # noqa: PLW1509
        )
        try:
            reader = LineReader(process)
            before = [reader.next() for _ in shown]
            ok(url, "users", "create", "follower@example.com")
            appended = reader.next()
            process.send_signal(signal.SIGINT)
            process.wait(timeout=10)
        finally:
            process.kill()
        assert process.stderr is not None
        errors = process.stderr.read()

        assert shown == before
        assert ("user.created", True) == (appended["action"], appended["seq"] > shown[-1]["seq"])
        assert 0 == process.returncode, errors
        assert "Traceback" not in errors
