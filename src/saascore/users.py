"""Use cases for users.

Rules:
- an email is stored normalised (trimmed, lower-case) and is unique;
- a name is optional, at most 100 characters, and defaults to the email's local part.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

from saascore.context import Tx
from saascore.errors import Conflict, InvalidInput, NotFound
from saascore.models import User

MAX_EMAIL_LENGTH = 254
MAX_NAME_LENGTH = 100
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


# Characters that rewrite what a terminal or a page shows (escape sequences, bell, NUL,
# bidirectional overrides): refused in every name and address people or operators read.
_INVISIBLE = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def has_control_characters(text: str) -> bool:
    return any(unicodedata.category(c) == "Cc" or c in _INVISIBLE for c in text)


def normalise_email(raw: str) -> str:
    """Return ``raw`` trimmed and lower-cased; raise ``InvalidInput`` if it is not an email."""
    email = raw.strip().lower()
    if len(email) > MAX_EMAIL_LENGTH or not _EMAIL.match(email) or has_control_characters(email):
        raise InvalidInput({"email": "must be an email address like name@example.com"})
    return email


def clean_name(raw: str, *, field: str = "name", required: bool = True) -> str:
    """Return ``raw`` with surrounding and repeated whitespace removed, checked for length."""
    name = " ".join(raw.split())
    if has_control_characters(name):
        raise InvalidInput({field: "must not contain control characters"})
    if required and not name:
        raise InvalidInput({field: "must not be empty"})
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidInput({field: f"must be at most {MAX_NAME_LENGTH} characters"})
    return name


async def register_user(tx: Tx, *, email: str, name: str = "") -> User:
    """Create a user. Raises ``InvalidInput`` for a bad email and ``Conflict`` if it is taken."""
    email = normalise_email(email)
    name = clean_name(name, required=False) or email.split("@", 1)[0]
    if await tx.uow.users.get_by_email(email) is not None:
        raise Conflict("a user with that email already exists")
    user = User(id=tx.new_id(), email=email, name=name, created_at=tx.now())
    await tx.uow.users.add(user)
    await tx.record("user.created", workspace_id=None, target=user.id)
    return user


async def get_user(tx: Tx, user_id: str) -> User:
    """Return the user or raise ``NotFound``."""
    user = await tx.uow.users.get(user_id)
    if user is None:
        raise NotFound("no such user")
    return user


async def find_user(tx: Tx, email: str) -> User:
    """Return the user with this email or raise ``NotFound``."""
    user = await tx.uow.users.get_by_email(normalise_email(email))
    if user is None:
        raise NotFound("no user with that email")
    return user


async def list_users(tx: Tx, *, limit: int = 100, offset: int = 0) -> Sequence[User]:
    """Return users ordered by email."""
    return await tx.uow.users.list(limit=limit, offset=offset)


async def rename_user(tx: Tx, user: User, *, name: str) -> User:
    """Change a user's display name (1 to 100 characters)."""
    name = clean_name(name)
    if name == user.name:
        return user
    old, user.name = user.name, name
    await tx.uow.users.update(user)
    await tx.record(
        "user.renamed", workspace_id=None, target=user.id, data={"from": old, "to": name}
    )
    return user


async def disable_user(tx: Tx, user_id: str) -> User:
    """Stop a user from signing in, ending every session at once."""
    user = await get_user(tx, user_id)
    if user.disabled_at is not None:
        return user
    user.disabled_at = tx.now()
    await tx.uow.users.update(user)
    ended = await tx.uow.sessions.delete_for_user(user.id)
    await tx.record(
        "user.disabled", workspace_id=None, target=user.id, data={"sessions_ended": ended}
    )
    return user


async def enable_user(tx: Tx, user_id: str) -> User:
    """Let a disabled user sign in again."""
    user = await get_user(tx, user_id)
    if user.disabled_at is None:
        return user
    user.disabled_at = None
    await tx.uow.users.update(user)
    await tx.record("user.enabled", workspace_id=None, target=user.id)
    return user
