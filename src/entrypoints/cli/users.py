"""``saascore users``: list, create, disable and enable users; see and end their sessions."""

from __future__ import annotations

import click

from entrypoints.cli.admin import (
    JSON_OPTION,
    change,
    find_user,
    read,
    session_json,
    user_json,
    when,
)
from entrypoints.cli.common import print_json, print_table
from saascore.auth import list_sessions, sign_out_everywhere
from saascore.context import Tx
from saascore.models import Session, User
from saascore.users import disable_user, enable_user, list_users, register_user


@click.group()
def users() -> None:
    """Look at and manage users (USER is an email or an id)."""


@users.command("list")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 10_000))
@click.option("--offset", default=0, type=click.IntRange(0))
@JSON_OPTION
def users_list(limit: int, offset: int, as_json: bool) -> None:
    """List users by email."""

    async def work(tx: Tx) -> list[User]:
        return list(await list_users(tx, limit=limit, offset=offset))

    found = read(work)
    if as_json:
        print_json([user_json(u) for u in found])
        return
    print_table(
        ("EMAIL", "NAME", "LAST LOGIN", "ID"),
        ((u.email, u.name, u.last_login_at or "never", u.id) for u in found),
    )


@users.command("create")
@click.argument("email")
@click.option("--name", default="", help="Display name (default: the email's local part).")
def users_create(email: str, name: str) -> None:
    """Create a user with EMAIL; they sign in with a link sent to it."""

    async def work(tx: Tx) -> User:
        return await register_user(tx, email=email, name=name)

    user = change(work)
    click.echo(f"created user {user.email} ({user.name}), id {user.id}")


@users.command("disable")
@click.argument("user")
def users_disable(user: str) -> None:
    """Stop USER from signing in and end all their sessions at once."""

    async def work(tx: Tx) -> tuple[User, int | None]:
        found = await find_user(tx.uow, user)
        if found.disabled_at is not None:
            return found, None
        # disable_user ends the sessions but does not say how many: count them first.
        ended = len(await list_sessions(tx, found))
        await disable_user(tx, found.id)
        return found, ended

    found, ended = change(work)
    if ended is None:
        click.echo(f"{found.email} was already disabled")
    else:
        click.echo(f"disabled {found.email}; ended {ended} sessions")


@users.command("enable")
@click.argument("user")
def users_enable(user: str) -> None:
    """Let a disabled USER sign in again."""

    async def work(tx: Tx) -> tuple[User, bool]:
        found = await find_user(tx.uow, user)
        was_disabled = found.disabled_at is not None
        await enable_user(tx, found.id)
        return found, was_disabled

    found, was_disabled = change(work)
    click.echo(f"enabled {found.email}" if was_disabled else f"{found.email} was not disabled")


@users.command("sessions")
@click.argument("user")
@JSON_OPTION
def users_sessions(user: str, as_json: bool) -> None:
    """List USER's sessions, most recently used first."""

    async def work(tx: Tx) -> list[Session]:
        return list(await list_sessions(tx, await find_user(tx.uow, user)))

    found = read(work)
    if as_json:
        print_json([session_json(s) for s in found])
        return
    print_table(
        ("ID", "CREATED", "LAST SEEN", "IP", "USER AGENT"),
        (
            (s.id, when(s.created_at), when(s.last_seen_at), s.ip or "", s.user_agent or "")
            for s in found
        ),
    )


@users.command("revoke-sessions")
@click.argument("user")
def users_revoke_sessions(user: str) -> None:
    """End every session of USER ("log out everywhere"); they can sign in again."""

    async def work(tx: Tx) -> tuple[User, int]:
        found = await find_user(tx.uow, user)
        ended = await sign_out_everywhere(tx, found)
        return found, ended

    found, ended = change(work)
    click.echo(f"ended {ended} sessions of {found.email}")


# --- workspaces ----------------------------------------------------------------------------
