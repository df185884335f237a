"""Passwordless sign-in with one-time links, and server-side sessions.

Rules:
- a token (link or session) is 32 random bytes from ``secrets``; only its SHA-256 is stored,
  and it is handed out once: in the email for a link, in the cookie for a session;
- asking for a link answers the same whether or not the email is known: with sign-up on,
  an unknown address gets a link too (the account is made when it is used); with sign-up
  off, it gets an email saying there is no account, so the work done is the same;
- a link lives ``login_link_ttl`` (10 minutes by default), works once, and a newer link
  cancels the older ones; of several parallel confirmations exactly one signs in;
- ``next`` is a same-site relative path or nothing;
- a session ends ``session_absolute_ttl`` after sign-in, or ``session_idle_ttl`` after its
  last use, whichever is first; every sign-in makes a new session with a new token;
- a disabled user gets no link (an email saying the account is disabled instead), cannot
  use a link sent earlier, and has no session;
- sign-in and sign-out are audited.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from attrs import frozen

from saascore.context import Deps, Tx
from saascore.emails import account_disabled_email, login_link_email, no_account_email
from saascore.errors import (
    InvalidInput,
    NotAuthenticated,
    NotFound,
    TokenExpired,
    TokenInvalid,
)
from saascore.models import Actor, LoginLink, Session, User
from saascore.policies import AuthPolicy
from saascore.users import normalise_email

TOKEN_BYTES = 32
MAX_NEXT_LENGTH = 512
# Recording every request's activity would make each request a write; once a minute is
# precise enough for idle expiry and "last active" -- unless the idle lifetime itself is
# short (operators and tests turn it down to seconds), then a tenth of it.
TOUCH_EVERY = timedelta(minutes=1)


@frozen
class SignedIn:
    """The outcome of a confirmed link. ``token`` goes to the client once, then only its
    hash exists."""

    user: User
    session: Session
    token: str
    next_path: str | None
    new_user: bool


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def safe_next_path(raw: str | None) -> str | None:
    """Return ``raw`` if it is a path on this site (``/workspaces?tab=1``), else raise."""
    if raw is None or raw == "":
        return None
    parts = urlsplit(raw)
    if (
        len(raw) > MAX_NEXT_LENGTH
        or parts.scheme
        or parts.netloc
        or not raw.startswith("/")
        or raw.startswith(("//", "/\\"))
        or any(ord(c) < 32 or c == "\\" for c in raw)
    ):
        raise InvalidInput({"next": "must be a path on this site, like /workspaces"})
    return raw


async def request_login_link(
    tx: Tx,
    *,
    email: str,
    next_path: str | None = None,
) -> None:
    """Email a sign-in link to ``email`` (or, with sign-up off and no account, say so)."""
    email = normalise_email(email)
    next_path = safe_next_path(next_path)
    now = tx.now()
    user = await tx.uow.users.get_by_email(email)
    refusal = None
    if user is None and not tx.deps.auth.signup_enabled:
        refusal = no_account_email(email, tx.deps.auth.base_url)
    elif user is not None and user.disabled_at is not None:
        refusal = account_disabled_email(email, tx.deps.auth.base_url)
    if refusal is not None:  # the same answer and the same work, but no link
        await tx.enqueue(refusal)
        return
    await tx.uow.login_links.cancel_pending(email, now)
    token = new_token()
    await tx.uow.login_links.add(
        LoginLink(
            id=tx.new_id(),
            email=email,
            token_hash=hash_token(token),
            # It may lead back to an invite, token and all: kept sealed.
            next_path=await tx.deps.sealer.seal(next_path) if next_path else None,
            created_at=now,
            expires_at=now + tx.deps.auth.login_link_ttl,
        )
    )
    link = f"{tx.deps.auth.base_url}/auth/confirm?token={token}"
    await tx.enqueue(login_link_email(email, link, tx.deps.auth.login_link_ttl))


async def check_login_link(tx: Tx, token: str) -> LoginLink:
    """Return the link if it can still be used; consumes nothing (the GET confirm page)."""
    link = await tx.uow.login_links.get_by_hash(hash_token(token))
    if (
        link is None
        or not hmac.compare_digest(link.token_hash, hash_token(token))
        or link.used_at is not None
        or link.cancelled_at is not None
    ):
        raise TokenInvalid("this sign-in link is not valid any more: ask for a new one")
    if tx.now() >= link.expires_at:
        raise TokenExpired("this sign-in link has expired: ask for a new one")
    return link


async def confirm_login_link(tx: Tx, *, token: str, replacing: str | None = None) -> SignedIn:
    """Use a link once and start a session; make the account on first sign-in. The
    session of ``replacing`` (the token the browser held until now) ends: a browser holds
    one session, and the one it replaces would otherwise live on, unseen."""
    link = await check_login_link(tx, token)
    now = tx.now()
    if not await tx.uow.login_links.consume(link.id, now):
        raise TokenInvalid("this sign-in link is not valid any more: ask for a new one")
    user = await tx.uow.users.get_by_email(link.email)
    if user is not None and user.disabled_at is not None:
        raise TokenInvalid("this account is disabled")
    new_user = user is None
    if user is None:
        if not tx.deps.auth.signup_enabled:
            raise TokenInvalid("sign-up is closed: this address has no account")
        user = User(
            id=tx.new_id(), email=link.email, name=link.email.split("@", 1)[0], created_at=now
        )
        await tx.uow.users.add(user)
        await tx.record("user.created", workspace_id=None, target=user.id)
    user.last_login_at = now
    await tx.uow.users.update(user)
    session, session_token = await _start_session(tx, user, now)
    signed_in = Actor(user.id, tx.actor.ip, tx.actor.user_agent, tx.actor.request_id)
    await tx.as_actor(signed_in).record(
        "auth.login",
        workspace_id=None,
        target=user.id,
        data={"session": session.id, "new_user": new_user},
    )
    if replacing:
        await _end_replaced(tx, replacing, session)
    next_path = await tx.deps.sealer.open(link.next_path) if link.next_path else None
    return SignedIn(user, session, session_token, next_path, new_user)


async def _end_replaced(tx: Tx, token: str, by: Session) -> None:
    old = await tx.uow.sessions.get_by_hash(hash_token(token))
    if old is None or old.id == by.id:
        return
    await tx.uow.sessions.delete(old.id)
    owner = Actor(old.user_id, tx.actor.ip, tx.actor.user_agent, tx.actor.request_id)
    await tx.as_actor(owner).record(
        "auth.logout", workspace_id=None, target=old.user_id, data={"session": old.id}
    )


async def _start_session(tx: Tx, user: User, now: datetime) -> tuple[Session, str]:
    token = new_token()
    session = Session(
        id=tx.new_id(),
        user_id=user.id,
        token_hash=hash_token(token),
        created_at=now,
        last_seen_at=now,
        expires_at=now + tx.deps.auth.session_absolute_ttl,
        ip=tx.actor.ip,
        user_agent=tx.actor.user_agent,
    )
    await tx.uow.sessions.add(session)
    return session, token


async def authenticate(tx: Tx, token: str | None) -> tuple[User, Session]:
    """Return the user and session a token belongs to, or raise ``NotAuthenticated``.

    Tokens the server never issued, ended sessions and expired ones are all rejected.
    """
    if not token:
        raise NotAuthenticated("sign in first")
    session = await tx.uow.sessions.get_by_hash(hash_token(token))
    if session is None:
        raise NotAuthenticated("sign in first")
    now = tx.now()
    if now >= session.expires_at or now >= session.last_seen_at + tx.deps.auth.session_idle_ttl:
        raise NotAuthenticated("your session has ended: sign in again")
    user = await tx.uow.users.get(session.user_id)
    if user is None or user.disabled_at is not None:
        raise NotAuthenticated("sign in first")
    if touch_due(session, now, tx.deps.auth):
        if tx.uow.read_only:  # written once this read ends, in a short write of its own
            tx.after_commit(lambda: _touch(tx.deps, session.id, now))
        else:
            await tx.uow.sessions.touch(session.id, now)
        session.last_seen_at = now
    return user, session


async def _touch(deps: Deps, session_id: str, now: datetime) -> None:
    async with deps.writer() as uow:
        await uow.sessions.touch(session_id, now)
        await uow.commit()


def touch_due(session: Session, now: datetime, policy: AuthPolicy) -> bool:
    """Whether the session's last use is stale enough to be written again (not on every
    request: once a minute, or a tenth of the idle timeout when that is shorter)."""
    return now - session.last_seen_at >= min(TOUCH_EVERY, policy.session_idle_ttl / 10)


async def sign_out(tx: Tx, session: Session) -> None:
    """End this session."""
    await tx.uow.sessions.delete(session.id)
    await tx.record(
        "auth.logout", workspace_id=None, target=session.user_id, data={"session": session.id}
    )


async def sign_out_everywhere(tx: Tx, user: User) -> int:
    """End every session of ``user``, this one included; return how many ended."""
    ended = await tx.uow.sessions.delete_for_user(user.id)
    await tx.record(
        "auth.logout_everywhere", workspace_id=None, target=user.id, data={"sessions": ended}
    )
    return ended


async def list_sessions(tx: Tx, user: User) -> Sequence[Session]:
    """The user's sessions, most recently used first."""
    return await tx.uow.sessions.list_for_user(user.id)


async def revoke_session(tx: Tx, user: User, session_id: str) -> None:
    """End one of the user's own sessions; someone else's is ``NotFound``."""
    owned = {s.id for s in await tx.uow.sessions.list_for_user(user.id)}
    if session_id not in owned:
        raise NotFound("no such session")
    await tx.uow.sessions.delete(session_id)
    await tx.record(
        "auth.session_revoked", workspace_id=None, target=user.id, data={"session": session_id}
    )
