"""The SQL outbox. Claims use ``FOR UPDATE SKIP LOCKED`` on Postgres, so several
dispatchers (processes or machines) never take the same message; SQLite serialises
writers anyway (``BEGIN IMMEDIATE``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, or_, select, update

from adapters.sql.base import SqlRepository
from adapters.sql.tables import outbox
from saascore.models import EmailMessage, OutboxMessage, OutboxStats, OutboxStatus


def _message(row: Any) -> OutboxMessage:
    return OutboxMessage(
        id=row.id,
        message=EmailMessage(
            to=row.recipient, subject=row.subject, text=row.text_body, html=row.html_body
        ),
        created_at=row.created_at,
        next_attempt_at=row.next_attempt_at,
        status=OutboxStatus(row.status),
        attempts=row.attempts,
        last_error=row.last_error,
        sent_at=row.sent_at,
        request_id=row.request_id,
        claimed_until=row.claimed_until,
    )


class SqlOutbox(SqlRepository):
    async def add(self, message: OutboxMessage) -> None:
        await self._run(
            insert(outbox).values(
                id=message.id,
                recipient=message.message.to,
                subject=message.message.subject,
                text_body=message.message.text,
                html_body=message.message.html,
                created_at=message.created_at,
                next_attempt_at=message.next_attempt_at,
                status=str(message.status),
                attempts=message.attempts,
                last_error=message.last_error,
                sent_at=message.sent_at,
                request_id=message.request_id,
                claimed_until=message.claimed_until,
            )
        )

    async def claim_due(
        self, now: datetime, *, limit: int, lease_until: datetime
    ) -> Sequence[OutboxMessage]:
        due = (
            select(outbox.c.id)
            .where(
                outbox.c.status == "pending",
                outbox.c.next_attempt_at <= now,
                or_(outbox.c.claimed_until.is_(None), outbox.c.claimed_until <= now),
            )
            .order_by(outbox.c.next_attempt_at, outbox.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        ids = list((await self._run(due)).scalars())
        if not ids:
            return []
        claimed = await self._run(
            update(outbox)
            .where(outbox.c.id.in_(ids))
            .values(attempts=outbox.c.attempts + 1, claimed_until=lease_until)
            .returning(*outbox.c)
        )
        messages = [_message(row) for row in claimed]
        order = {message_id: n for n, message_id in enumerate(ids)}
        return sorted(messages, key=lambda m: order[m.id])

    async def expedite(self, now: datetime) -> int:
        result = await self._run(
            update(outbox)
            .where(outbox.c.status == "pending", outbox.c.next_attempt_at > now)
            .values(next_attempt_at=now)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def mark_sent(self, message_id: str, at: datetime) -> None:
        await self._run(
            update(outbox)
            .where(outbox.c.id == message_id)
            # Delivered: the body (sealed as it was) is no longer kept at all.
            .values(
                status="sent",
                sent_at=at,
                last_error=None,
                claimed_until=None,
                text_body="",
                html_body=None,
            )
        )

    async def mark_failed(self, message_id: str, error: str, *, retry_at: datetime | None) -> None:
        values: dict[str, Any] = {"last_error": error, "claimed_until": None}
        if retry_at is None:
            values["status"] = "failed"
        else:
            values["next_attempt_at"] = retry_at
        await self._run(update(outbox).where(outbox.c.id == message_id).values(**values))

    async def delete_sent_before(self, cutoff: datetime) -> int:
        result = await self._run(
            delete(outbox).where(outbox.c.status == "sent", outbox.c.sent_at < cutoff)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def get(self, message_id: str) -> OutboxMessage | None:
        row = (await self._run(select(outbox).where(outbox.c.id == message_id))).first()
        return _message(row) if row else None

    async def stats(self) -> OutboxStats:
        by_status = select(outbox.c.status, func.count().label("n")).group_by(outbox.c.status)
        counts: dict[str, int] = {row.status: row.n for row in await self._run(by_status)}
        oldest = (
            await self._run(
                select(func.min(outbox.c.created_at)).where(outbox.c.status == "pending")
            )
        ).scalar_one()
        return OutboxStats(
            pending=counts.get("pending", 0),
            sent=counts.get("sent", 0),
            failed=counts.get("failed", 0),
            oldest_pending_at=oldest,
        )

    async def list(self, *, limit: int = 50) -> Sequence[OutboxMessage]:
        query = select(outbox).order_by(outbox.c.created_at.desc(), outbox.c.id.desc()).limit(limit)
        return [_message(row) for row in await self._run(query)]
