"""SQL invites. "One pending invite per address and workspace" is a partial unique index,
so even racing requests cannot create two."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update

from adapters.sql.base import SqlRepository
from adapters.sql.tables import invites
from saascore.models import Invite, InviteStatus, Role


def _invite(row: Any) -> Invite:
    return Invite(
        id=row.id,
        workspace_id=row.workspace_id,
        email=row.email,
        role=Role(row.role),
        inviter_id=row.inviter_id,
        token_hash=row.token_hash,
        created_at=row.created_at,
        expires_at=row.expires_at,
        status=InviteStatus(row.status),
        responded_at=row.responded_at,
    )


class SqlInviteRepository(SqlRepository):
    async def add(self, invite: Invite) -> None:
        await self._run(
            insert(invites).values(
                id=invite.id,
                workspace_id=invite.workspace_id,
                email=invite.email,
                role=str(invite.role),
                inviter_id=invite.inviter_id,
                token_hash=invite.token_hash,
                created_at=invite.created_at,
                expires_at=invite.expires_at,
                status=str(invite.status),
                responded_at=invite.responded_at,
            )
        )

    async def get(self, invite_id: str) -> Invite | None:
        row = (await self._run(select(invites).where(invites.c.id == invite_id))).first()
        return _invite(row) if row else None

    async def get_by_hash(self, token_hash: str) -> Invite | None:
        query = select(invites).where(invites.c.token_hash == token_hash)
        row = (await self._run(query)).first()
        return _invite(row) if row else None

    async def pending_for(self, workspace_id: str, email: str) -> Invite | None:
        query = select(invites).where(
            invites.c.workspace_id == workspace_id,
            invites.c.email == email,
            invites.c.status == "pending",
        )
        row = (await self._run(query)).first()
        return _invite(row) if row else None

    async def list_pending(self, workspace_id: str) -> Sequence[Invite]:
        query = (
            select(invites)
            .where(invites.c.workspace_id == workspace_id, invites.c.status == "pending")
            .order_by(invites.c.created_at.desc(), invites.c.id.desc())
        )
        return [_invite(row) for row in await self._run(query)]

    async def respond(self, invite_id: str, status: InviteStatus, at: datetime) -> bool:
        # A conditional UPDATE: concurrent accepts queue on the row lock, and only the first
        # still finds the invite pending.
        result = await self._run(
            update(invites)
            .where(invites.c.id == invite_id, invites.c.status == "pending")
            .values(status=str(status), responded_at=at)
        )
        return int(result.rowcount) == 1  # type: ignore[attr-defined]
