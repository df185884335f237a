"""Use cases for users.

Rules:
- an email is stored normalised (trimmed, lower-case) and is unique;
- a name is optional, at most 100 characters, and defaults to the email's local part.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from saascore.audit import record
from saascore.errors import Conflict, InvalidInput, NotFound
from saascore.models import Actor, User
from saascore.ports import Clock, Ids, UnitOfWork

MAX_EMAIL_LENGTH = 254
MAX_NAME_LENGTH = 100
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def normalise_email(raw: str) -> str:
    """Return ``raw`` trimmed and lower-cased; raise ``InvalidInput`` if it is not an email."""
    email = raw.strip().lower()
    if len(email) > MAX_EMAIL_LENGTH or not _EMAIL.match(email):
        raise InvalidInput({"email": "must be an email address like name@example.com"})
    return email


def clean_name(raw: str, *, field: str = "name", required: bool = True) -> str:
    """Return ``raw`` with surrounding and repeated whitespace removed, checked for length."""
    name = " ".join(raw.split())
    if required and not name:
        raise InvalidInput({field: "must not be empty"})
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidInput({field: f"must be at most {MAX_NAME_LENGTH} characters"})
    return name


async def register_user(
    uow: UnitOfWork, clock: Clock, ids: Ids, actor: Actor, *, email: str, name: str = ""
) -> User:
    """Create a user. Raises ``InvalidInput`` for a bad email and ``Conflict`` if it is taken."""
    email = normalise_email(email)
    name = clean_name(name, required=False) or email.split("@", 1)[0]
    if await uow.users.get_by_email(email) is not None:
        raise Conflict("a user with that email already exists")
    user = User(id=ids.new(), email=email, name=name, created_at=clock.now())
    await uow.users.add(user)
    await record(uow, clock, ids, actor, "user.created", workspace_id=None, target=user.id)
    return user


async def get_user(uow: UnitOfWork, user_id: str) -> User:
    """Return the user or raise ``NotFound``."""
    user = await uow.users.get(user_id)
    if user is None:
        raise NotFound("no such user")
    return user


async def find_user(uow: UnitOfWork, email: str) -> User:
    """Return the user with this email or raise ``NotFound``."""
    user = await uow.users.get_by_email(normalise_email(email))
    if user is None:
        raise NotFound("no user with that email")
    return user


async def list_users(uow: UnitOfWork, *, limit: int = 100, offset: int = 0) -> Sequence[User]:
    """Return users ordered by email."""
    return await uow.users.list(limit=limit, offset=offset)


async def rename_user(
    uow: UnitOfWork, clock: Clock, ids: Ids, actor: Actor, user: User, *, name: str
) -> User:
    """Change a user's display name (1 to 100 characters)."""
    name = clean_name(name)
    if name == user.name:
        return user
    old, user.name = user.name, name
    await uow.users.update(user)
    await record(
        uow,
        clock,
        ids,
        actor,
        "user.renamed",
        workspace_id=None,
        target=user.id,
        data={"from": old, "to": name},
    )
    return user


async def disable_user(uow: UnitOfWork, clock: Clock, ids: Ids, actor: Actor, user_id: str) -> User:
    """Stop a user from signing in, ending every session at once."""
    user = await get_user(uow, user_id)
    if user.disabled_at is not None:
        return user
    user.disabled_at = clock.now()
    await uow.users.update(user)
    ended = await uow.sessions.delete_for_user(user.id)
    await record(
        uow,
        clock,
        ids,
        actor,
        "user.disabled",
        workspace_id=None,
        target=user.id,
        data={"sessions_ended": ended},
    )
    return user


async def enable_user(uow: UnitOfWork, clock: Clock, ids: Ids, actor: Actor, user_id: str) -> User:
    """Let a disabled user sign in again."""
    user = await get_user(uow, user_id)
    if user.disabled_at is None:
        return user
    user.disabled_at = None
    await uow.users.update(user)
    await record(uow, clock, ids, actor, "user.enabled", workspace_id=None, target=user.id)
    return user
