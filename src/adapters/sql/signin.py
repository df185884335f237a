"""SQL repositories for sign-in links and sessions."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import delete, insert, or_, select, update

from adapters.sql.base import Executor, SqlRepository
from adapters.sql.tables import login_links, sessions, users
from saascore.models import LoginLink, Session, User

# Prefixed, as sessions and users share column names (id, created_at).
_USER = [column.label(f"u_{column.name}") for column in users.c]


class ReadAhead(Protocol):
    def read_ahead(self, user: User) -> None:
        """Keep ``user``, read in this transaction, for the next lookup of that user."""


def _link(row: Any) -> LoginLink:
    return LoginLink(
        id=row.id,
        email=row.email,
        token_hash=row.token_hash,
        next_path=row.next_path,
        created_at=row.created_at,
        expires_at=row.expires_at,
        used_at=row.used_at,
        cancelled_at=row.cancelled_at,
    )


def _session(row: Any) -> Session:
    return Session(
        id=row.id,
        user_id=row.user_id,
        token_hash=row.token_hash,
        created_at=row.created_at,
        last_seen_at=row.last_seen_at,
        expires_at=row.expires_at,
        ip=row.ip,
        user_agent=row.user_agent,
    )


class SqlLoginLinkRepository(SqlRepository):
    async def add(self, link: LoginLink) -> None:
        await self._run(
            insert(login_links).values(
                id=link.id,
                email=link.email,
                token_hash=link.token_hash,
                next_path=link.next_path,
                created_at=link.created_at,
                expires_at=link.expires_at,
                used_at=link.used_at,
                cancelled_at=link.cancelled_at,
            )
        )

    async def cancel_pending(self, email: str, at: datetime) -> int:
        result = await self._run(
            update(login_links)
            .where(
                login_links.c.email == email,
                login_links.c.used_at.is_(None),
                login_links.c.cancelled_at.is_(None),
            )
            .values(cancelled_at=at)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def get_by_hash(self, token_hash: str) -> LoginLink | None:
        query = select(login_links).where(login_links.c.token_hash == token_hash)
        row = (await self._run(query)).first()
        return _link(row) if row else None

    async def delete_created_before(self, cutoff: datetime) -> int:
        result = await self._run(delete(login_links).where(login_links.c.created_at < cutoff))
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def consume(self, link_id: str, at: datetime) -> bool:
        # One conditional UPDATE: the row lock makes concurrent confirmations queue, and
        # only the first still finds used_at empty.
        result = await self._run(
            update(login_links)
            .where(
                login_links.c.id == link_id,
                login_links.c.used_at.is_(None),
                login_links.c.cancelled_at.is_(None),
            )
            .values(used_at=at)
        )
        return int(result.rowcount) == 1  # type: ignore[attr-defined]


class SqlSessionRepository(SqlRepository):
    def __init__(self, executor: Executor, users: ReadAhead) -> None:
        super().__init__(executor)
        self._users = users

    async def add(self, session: Session) -> None:
        await self._run(
            insert(sessions).values(
                id=session.id,
                user_id=session.user_id,
                token_hash=session.token_hash,
                created_at=session.created_at,
                last_seen_at=session.last_seen_at,
                expires_at=session.expires_at,
                ip=session.ip,
                user_agent=session.user_agent,
            )
        )

    async def get_by_hash(self, token_hash: str) -> Session | None:
        # A session is looked up to find its user next (saascore.auth.authenticate): one
        # join reads both, and the user repository answers that next lookup from this row,
        # read in the same statement of the same transaction -- never from an earlier one.
        query = (
            select(sessions, *_USER)
            .outerjoin(users, users.c.id == sessions.c.user_id)
            .where(sessions.c.token_hash == token_hash)
        )
        row = (await self._run(query)).first()
        if row is None:
            return None
        if row.u_id is not None:
            self._users.read_ahead(
                User(
                    id=row.u_id,
                    email=row.u_email,
                    name=row.u_name,
                    created_at=row.u_created_at,
                    last_login_at=row.u_last_login_at,
                    disabled_at=row.u_disabled_at,
                )
            )
        return _session(row)

    async def touch(self, session_id: str, at: datetime) -> None:
        await self._run(update(sessions).where(sessions.c.id == session_id).values(last_seen_at=at))

    async def delete(self, session_id: str) -> None:
        await self._run(delete(sessions).where(sessions.c.id == session_id))

    async def delete_for_user(self, user_id: str) -> int:
        result = await self._run(delete(sessions).where(sessions.c.user_id == user_id))
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def delete_ended(self, now: datetime, idle_ttl: timedelta) -> int:
        result = await self._run(
            delete(sessions).where(
                or_(sessions.c.expires_at <= now, sessions.c.last_seen_at <= now - idle_ttl)
            )
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def list_for_user(self, user_id: str) -> Sequence[Session]:
        query = (
            select(sessions)
            .where(sessions.c.user_id == user_id)
            .order_by(sessions.c.last_seen_at.desc(), sessions.c.id.desc())
        )
        return [_session(row) for row in await self._run(query)]
