"""The SQL audit log: append-only and hash-chained per workspace.

An append locks its chain's head row (``FOR UPDATE`` on Postgres; SQLite's write lock is
taken by ``BEGIN IMMEDIATE``), so concurrent appends to one chain queue instead of forking
it, while different workspaces' chains do not wait for each other.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from adapters.sql.base import SqlRepository
from adapters.sql.tables import audit_chain_heads, audit_events
from saascore.audit import GENESIS, chain_hash
from saascore.models import AuditEvent, AuditQuery, ChainHead

GLOBAL_CHAIN = ""  # the key of the chain of events outside any workspace


def _key(workspace_id: str | None) -> str:
    return workspace_id or GLOBAL_CHAIN


def _event(row: Any) -> AuditEvent:
    return AuditEvent(
        id=row.id,
        workspace_id=row.workspace_id,
        actor_id=row.actor_id,
        action=row.action,
        target=row.target,
        data=row.data,
        ip=row.ip,
        user_agent=row.user_agent,
        request_id=row.request_id,
        created_at=row.created_at,
        seq=row.seq,
        prev_hash=row.prev_hash,
        hash=row.hash,
    )


class SqlAuditLog(SqlRepository):
    async def _lock_head(self, key: str) -> ChainHead | None:
        query = (
            select(audit_chain_heads.c.last_seq, audit_chain_heads.c.last_hash)
            .where(audit_chain_heads.c.chain_key == key)
            .with_for_update()
        )
        row = (await self._run(query)).first()
        return ChainHead(row.last_seq, row.last_hash) if row else None

    async def _create_head(self, key: str) -> None:
        dialect = self._executor.dialect_name
        ins = postgresql.insert if dialect == "postgresql" else sqlite.insert
        await self._run(
            ins(audit_chain_heads)
            .values(chain_key=key, last_seq=0, last_hash=GENESIS)
            .on_conflict_do_nothing(index_elements=["chain_key"])
        )

    async def append(self, event: AuditEvent) -> AuditEvent:
        key = _key(event.workspace_id)
        head = await self._lock_head(key)
        if head is None:
            await self._create_head(key)  # the first event of this chain
            head = await self._lock_head(key)
        prev = head.last_hash if head else GENESIS
        digest = chain_hash(prev, event)
        seq = (
            await self._run(
                insert(audit_events)
                .values(
                    id=event.id,
                    workspace_id=event.workspace_id,
                    actor_id=event.actor_id,
                    action=event.action,
                    target=event.target,
                    data=dict(event.data),
                    ip=event.ip,
                    user_agent=event.user_agent,
                    request_id=event.request_id,
                    created_at=event.created_at,
                    prev_hash=prev,
                    hash=digest,
                )
                .returning(audit_events.c.seq)
            )
        ).scalar_one()
        await self._run(
            update(audit_chain_heads)
            .where(audit_chain_heads.c.chain_key == key)
            .values(last_seq=seq, last_hash=digest)
        )
        return AuditEvent(
            id=event.id,
            workspace_id=event.workspace_id,
            actor_id=event.actor_id,
            action=event.action,
            target=event.target,
            data=event.data,
            ip=event.ip,
            user_agent=event.user_agent,
            request_id=event.request_id,
            created_at=event.created_at,
            seq=seq,
            prev_hash=prev,
            hash=digest,
        )

    async def list(
        self, *, workspace_id: str | None = None, limit: int = 100
    ) -> Sequence[AuditEvent]:
        query = select(audit_events).order_by(audit_events.c.seq.desc()).limit(limit)
        if workspace_id is not None:
            query = query.where(audit_events.c.workspace_id == workspace_id)
        return [_event(row) for row in await self._run(query)]

    async def query(self, query: AuditQuery) -> Sequence[AuditEvent]:
        c = audit_events.c
        order = [c.seq.desc()]
        where: list[ColumnElement[bool]]
        if query.workspace_id is None:
            where = [c.workspace_id.is_(None)]
        elif self._executor.dialect_name == "postgresql":
            # Asked for `workspace_id = $1 ORDER BY seq DESC LIMIT n`, Postgres's generic plan
            # (prepared statements switch to it) walks the primary key backwards and filters:
            # for a quiet workspace among busy ones that reads most of the table, 200k rows
            # for one page in bench/. As a range ordered by (workspace_id, seq), only the
            # (workspace_id, ...) indexes give the order, and the page reads ~n index entries.
            where = [c.workspace_id >= query.workspace_id, c.workspace_id <= query.workspace_id]
            order = [c.workspace_id.desc(), c.seq.desc()]
        else:
            where = [c.workspace_id == query.workspace_id]
        if query.action is not None:
            where.append(c.action == query.action)
        if query.actor_id is not None:
            where.append(c.actor_id == query.actor_id)
        if query.since is not None:
            where.append(c.created_at >= query.since)
        if query.until is not None:
            where.append(c.created_at < query.until)
        if query.before_seq is not None:
            where.append(c.seq < query.before_seq)
        statement = select(audit_events).where(*where).order_by(*order).limit(query.limit)
        return [_event(row) for row in await self._run(statement)]

    async def chain(
        self, workspace_id: str | None, *, after_seq: int = 0, limit: int = 1000
    ) -> Sequence[AuditEvent]:
        c = audit_events.c
        owner = (
            c.workspace_id == workspace_id
            if workspace_id is not None
            else (c.workspace_id.is_(None))
        )
        statement = (
            select(audit_events).where(owner, c.seq > after_seq).order_by(c.seq).limit(limit)
        )
        return [_event(row) for row in await self._run(statement)]

    async def head(self, workspace_id: str | None) -> ChainHead | None:
        query = select(audit_chain_heads).where(audit_chain_heads.c.chain_key == _key(workspace_id))
        row = (await self._run(query)).first()
        return ChainHead(row.last_seq, row.last_hash) if row else None

    async def chains(self) -> Sequence[str | None]:
        with_events = (await self._run(select(audit_events.c.workspace_id).distinct())).scalars()
        with_heads = (await self._run(select(audit_chain_heads.c.chain_key))).scalars()
        found = {key or None for key in with_heads} | set(with_events)
        return sorted(found, key=lambda key: key or "")
