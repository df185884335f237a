"""The SQL unit of work: one connection and one transaction per unit of work.

Driver errors never leave this module raw: an ``IntegrityError`` on a named constraint
becomes the matching domain ``Conflict``, and a lost or refused connection becomes
``DatabaseUnavailable`` (HTTP 503), so callers see only saascore errors.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any, NoReturn, Self

from sqlalchemy import Executable, Result, delete, func, insert, or_, select, update
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.pool import StaticPool

from adapters.sql.audit import SqlAuditLog
from adapters.sql.base import SqlRepository
from adapters.sql.billing import SqlBillingLedger, SqlSubscriptionRepository
from adapters.sql.engine import READ_ONLY_OPTIONS
from adapters.sql.invites import SqlInviteRepository
from adapters.sql.outbox import SqlOutbox
from adapters.sql.signin import SqlLoginLinkRepository, SqlSessionRepository
from adapters.sql.tables import memberships, users, workspaces
from saascore.errors import Conflict, DatabaseUnavailable, InvalidInput
from saascore.models import (
    Membership,
    MemberView,
    Role,
    User,
    Workspace,
    WorkspaceSummary,
)

# Constraint name -> (the column SQLite names instead, the message users see).
_CONFLICTS: Mapping[str, tuple[str, str]] = {
    "uq_users_email": ("users.email", "a user with that email already exists"),
    "uq_workspaces_slug": ("workspaces.slug", "a workspace with that slug already exists"),
    "pk_memberships": ("memberships.workspace_id", "already a member of this workspace"),
    "uq_login_links_token_hash": ("login_links.token_hash", "that token is already in use"),
    "uq_sessions_token_hash": ("sessions.token_hash", "that token is already in use"),
    "uq_invites_pending_email": (
        "invites.email",
        "that address already has a pending invite to this workspace",
    ),
}


def _raise_conflict(exc: IntegrityError) -> NoReturn:
    text = str(exc.orig)
    for name, (column, message) in _CONFLICTS.items():
        if name in text or column in text:
            raise Conflict(message) from exc
    raise Conflict("that change conflicts with existing data") from exc


# SQLite admits one writer at a time, and every unit of work takes the write lock up front
# (BEGIN IMMEDIATE, see engine.py). Waiting inside SQLite means polling with sleeps of up to
# 100 ms, so a busy process idles while requests time out in its queue. The units of work of
# one process and event loop therefore take turns here, first come first served, and wake as
# soon as the previous one ends; other processes still meet SQLite's busy_timeout.
WRITE_TURN_TIMEOUT_SECONDS = 10  # as PRAGMA busy_timeout
_Turns = weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock]
_WRITE_TURNS: weakref.WeakKeyDictionary[Any, _Turns] = weakref.WeakKeyDictionary()


def _write_turn(engine: AsyncEngine) -> asyncio.Lock:
    turns = _WRITE_TURNS.setdefault(engine.sync_engine, weakref.WeakKeyDictionary())
    return turns.setdefault(asyncio.get_running_loop(), asyncio.Lock())


def _is_bad_value(exc: DBAPIError) -> bool:
    """A value the database cannot take (SQLSTATE class 22, "data exception"), or one the
    driver refused to send (an integer past int64)."""
    if isinstance(exc, DataError):
        return True
    cause: BaseException | None = exc.orig
    while cause is not None:
        code = getattr(cause, "sqlstate", None) or getattr(cause, "pgcode", None)
        if isinstance(cause, OverflowError) or (isinstance(code, str) and code.startswith("22")):
            return True
        if type(cause).__name__ == "DataError":  # asyncpg's, for a bad query argument
            return True
        cause = cause.__cause__
    return False


def _is_unmigrated(exc: DBAPIError) -> bool:
    """A table the code needs is missing: the schema is older than the code."""
    code = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    return code == "42P01" or "no such table" in str(exc.orig)


VALUE_REFUSED = "a value cannot be stored: out of range, or a character like NUL"
NOT_MIGRATED = "the database is not migrated to this version: run `saascore db upgrade`"


def _is_disconnect(exc: DBAPIError) -> bool:
    return exc.connection_invalidated or isinstance(exc, (OperationalError, InterfaceError))


def _user(row: Any) -> User:
    return User(
        id=row.id,
        email=row.email,
        name=row.name,
        created_at=row.created_at,
        last_login_at=row.last_login_at,
        disabled_at=row.disabled_at,
    )


def _workspace(row: Any) -> Workspace:
    return Workspace(id=row.id, name=row.name, slug=row.slug, created_at=row.created_at)


def _membership(row: Any) -> Membership:
    return Membership(
        workspace_id=row.workspace_id,
        user_id=row.user_id,
        role=Role(row.role),
        created_at=row.created_at,
    )


class SqlUserRepository(SqlRepository):
    def __init__(self, executor: Any) -> None:
        super().__init__(executor)
        # Users read by an earlier statement of this transaction, for the next get() of
        # each; see SqlSessionRepository.get_by_hash. Never outlives the transaction.
        self._read_ahead: dict[str, User] = {}

    def read_ahead(self, user: User) -> None:
        self._read_ahead[user.id] = user

    def forget_read_ahead(self) -> None:
        self._read_ahead.clear()

    async def add(self, user: User) -> None:
        await self._run(
            insert(users).values(
                id=user.id,
                email=user.email,
                name=user.name,
                created_at=user.created_at,
                last_login_at=user.last_login_at,
                disabled_at=user.disabled_at,
            )
        )

    async def get(self, user_id: str) -> User | None:
        if (known := self._read_ahead.pop(user_id, None)) is not None:
            return known
        row = (await self._run(select(users).where(users.c.id == user_id))).first()
        return _user(row) if row else None

    async def get_by_email(self, email: str) -> User | None:
        row = (await self._run(select(users).where(users.c.email == email))).first()
        return _user(row) if row else None

    async def update(self, user: User) -> None:
        self._read_ahead.pop(user.id, None)
        await self._run(
            update(users)
            .where(users.c.id == user.id)
            .values(
                email=user.email,
                name=user.name,
                last_login_at=user.last_login_at,
                disabled_at=user.disabled_at,
            )
        )

    async def list(self, *, limit: int = 100, offset: int = 0) -> Sequence[User]:
        query = select(users).order_by(users.c.email).limit(limit).offset(offset)
        return [_user(row) for row in await self._run(query)]


class SqlWorkspaceRepository(SqlRepository):
    async def add(self, workspace: Workspace) -> None:
        await self._run(
            insert(workspaces).values(
                id=workspace.id,
                name=workspace.name,
                slug=workspace.slug,
                created_at=workspace.created_at,
            )
        )

    async def get(self, workspace_id: str) -> Workspace | None:
        row = (await self._run(select(workspaces).where(workspaces.c.id == workspace_id))).first()
        return _workspace(row) if row else None

    async def get_by_slug(self, slug: str) -> Workspace | None:
        row = (await self._run(select(workspaces).where(workspaces.c.slug == slug))).first()
        return _workspace(row) if row else None

    async def slugs_like(self, base: str) -> set[str]:
        # base never holds LIKE wildcards: slugs are [a-z0-9-] only.
        query = select(workspaces.c.slug).where(
            or_(workspaces.c.slug == base, workspaces.c.slug.like(f"{base}-%"))
        )
        return set((await self._run(query)).scalars())

    async def update(self, workspace: Workspace) -> None:
        await self._run(
            update(workspaces)
            .where(workspaces.c.id == workspace.id)
            .values(
                name=workspace.name,
                slug=workspace.slug,
            )
        )

    async def lock(self, workspace_id: str) -> None:
        # FOR UPDATE on Postgres; SQLite's BEGIN IMMEDIATE already serialises writers.
        await self._run(
            select(workspaces.c.id).where(workspaces.c.id == workspace_id).with_for_update()
        )

    async def delete(self, workspace_id: str) -> None:
        # Memberships go by ON DELETE CASCADE; said explicitly too, so the outcome does not
        # hang on the foreign-keys pragma of whoever opened the SQLite file.
        await self._run(delete(memberships).where(memberships.c.workspace_id == workspace_id))
        await self._run(delete(workspaces).where(workspaces.c.id == workspace_id))

    async def list_for_user(self, user_id: str) -> Sequence[WorkspaceSummary]:
        query = (
            select(workspaces, memberships.c.role)
            .join(memberships, memberships.c.workspace_id == workspaces.c.id)
            .where(memberships.c.user_id == user_id)
            .order_by(workspaces.c.name, workspaces.c.id)
        )
        return [WorkspaceSummary(_workspace(row), Role(row.role)) for row in await self._run(query)]

    async def list(self, *, limit: int = 100, offset: int = 0) -> Sequence[Workspace]:
        query = (
            select(workspaces)
            .order_by(workspaces.c.name, workspaces.c.id)
            .limit(limit)
            .offset(offset)
        )
        return [_workspace(row) for row in await self._run(query)]


class SqlMembershipRepository(SqlRepository):
    def _key(self, workspace_id: str, user_id: str) -> Any:
        return (memberships.c.workspace_id == workspace_id) & (memberships.c.user_id == user_id)

    async def add(self, membership: Membership) -> None:
        await self._run(
            insert(memberships).values(
                workspace_id=membership.workspace_id,
                user_id=membership.user_id,
                role=str(membership.role),
                created_at=membership.created_at,
            )
        )

    async def get(self, workspace_id: str, user_id: str) -> Membership | None:
        query = select(memberships).where(self._key(workspace_id, user_id))
        row = (await self._run(query)).first()
        return _membership(row) if row else None

    async def set_role(self, workspace_id: str, user_id: str, role: Role) -> None:
        await self._run(
            update(memberships).where(self._key(workspace_id, user_id)).values(role=str(role))
        )

    async def remove(self, workspace_id: str, user_id: str) -> None:
        await self._run(delete(memberships).where(self._key(workspace_id, user_id)))

    async def count_owners(self, workspace_id: str) -> int:
        query = (
            select(func.count())
            .select_from(memberships)
            .where((memberships.c.workspace_id == workspace_id) & (memberships.c.role == "owner"))
        )
        return int((await self._run(query)).scalar_one())

    async def list_members(self, workspace_id: str) -> Sequence[MemberView]:
        query = (
            select(
                memberships.c.user_id,
                memberships.c.role,
                memberships.c.created_at,
                users.c.email,
                users.c.name,
                users.c.last_login_at,
                users.c.disabled_at,
                users.c.created_at.label("user_created_at"),
            )
            .join(users, users.c.id == memberships.c.user_id)
            .where(memberships.c.workspace_id == workspace_id)
            .order_by(users.c.email)
        )
        result = await self._run(query)
        return [
            MemberView(
                Membership(workspace_id, row.user_id, Role(row.role), row.created_at),
                User(
                    id=row.user_id,
                    email=row.email,
                    name=row.name,
                    created_at=row.user_created_at,
                    last_login_at=row.last_login_at,
                    disabled_at=row.disabled_at,
                ),
            )
            for row in result
        ]


class SqlUnitOfWork:
    """A unit of work on one connection from ``engine``; see the module docstring."""

    def __init__(self, engine: AsyncEngine, *, read_only: bool = False) -> None:
        self._engine = engine
        self._conn: AsyncConnection | None = None
        self.read_only = read_only
        # Readers of a SQLite file take no turn: WAL lets them read beside the writer, each
        # on its own connection. An in-memory SQLite has one connection for everyone.
        self._takes_turns = engine.dialect.name == "sqlite" and (
            not read_only or isinstance(engine.pool, StaticPool)
        )
        self._turn: asyncio.Lock | None = None  # held from the first statement to the end
        self.users = SqlUserRepository(self)
        self.workspaces = SqlWorkspaceRepository(self)
        self.memberships = SqlMembershipRepository(self)
        self.audit = SqlAuditLog(self)
        self.login_links = SqlLoginLinkRepository(self)
        self.sessions = SqlSessionRepository(self, self.users)
        self.outbox = SqlOutbox(self)
        self.invites = SqlInviteRepository(self)
        self.subscriptions = SqlSubscriptionRepository(self)
        self.billing_ledger = SqlBillingLedger(self)

    @property
    def dialect_name(self) -> str:
        return self._engine.dialect.name

    async def __aenter__(self) -> Self:
        try:
            # The transaction begins with the first statement (SQLAlchemy's autobegin), so
            # a SQLite write lock is held only from the first statement to the commit.
            self._conn = await self._engine.connect()
            if self.read_only:
                await self._conn.execution_options(**READ_ONLY_OPTIONS[self.dialect_name])
        except PoolTimeout as exc:
            raise DatabaseUnavailable(
                "the database is busy: no connection is free, try again"
            ) from exc
        except (DBAPIError, OSError) as exc:
            await self._close()
            raise DatabaseUnavailable("the database could not be reached") from exc
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._close()

    async def _close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            await conn.close()  # rolls back whatever was not committed
        except (DBAPIError, OSError):
            await conn.invalidate()
        finally:
            self._end_transaction()

    async def _take_turn(self) -> None:
        turn = _write_turn(self._engine)
        try:
            async with asyncio.timeout(WRITE_TURN_TIMEOUT_SECONDS):
                await turn.acquire()
        except TimeoutError:
            raise DatabaseUnavailable("the database is busy: try again") from None
        self._turn = turn

    def _end_transaction(self) -> None:
        self.users.forget_read_ahead()
        turn, self._turn = self._turn, None
        if turn is not None:
            turn.release()

    async def execute(self, statement: Executable) -> Result[Any]:
        """Run ``statement`` in this unit of work, translating driver errors."""
        if self._conn is None:
            raise RuntimeError("use the unit of work inside `async with`")
        if self.read_only and getattr(statement, "is_dml", False):
            raise RuntimeError("a read unit of work cannot write: use a write one")
        if self._takes_turns and self._turn is None:
            await self._take_turn()  # this statement begins the transaction
        try:
            return await self._conn.execute(statement)
        except IntegrityError as exc:
            _raise_conflict(exc)
        except OverflowError as exc:  # SQLite's driver: an integer past int64
            raise InvalidInput({"request": VALUE_REFUSED}) from exc
        except DBAPIError as exc:
            if _is_bad_value(exc):  # a NUL in a string on Postgres, an integer past int64...
                raise InvalidInput({"request": VALUE_REFUSED}) from exc
            if _is_unmigrated(exc):
                raise DatabaseUnavailable(NOT_MIGRATED) from exc
            if _is_disconnect(exc):
                raise DatabaseUnavailable("the database connection was lost") from exc
            raise
        except OSError as exc:
            raise DatabaseUnavailable("the database connection was lost") from exc

    async def commit(self) -> None:
        if self._conn is None:
            raise RuntimeError("use the unit of work inside `async with`")
        if self.read_only:
            raise RuntimeError("a read unit of work has nothing to commit")
        try:
            await self._conn.commit()
        except IntegrityError as exc:
            _raise_conflict(exc)
        except (DBAPIError, OSError) as exc:
            raise DatabaseUnavailable("the database did not confirm the commit") from exc
        finally:
            self._end_transaction()

    async def rollback(self) -> None:
        if self._conn is None:
            return
        try:
            await self._conn.rollback()
        finally:
            self._end_transaction()
