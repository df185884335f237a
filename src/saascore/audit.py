"""The audit trail: the hash chain that makes edits and deletions detectable, and its
verification. Use cases append events with ``Tx.record``, so every event has the same
fields and commits with the change it describes.

Each workspace has its own chain (events outside workspaces — sign-in, users — form one
more). An event's hash covers its fields and the previous event's hash, so changing,
removing or reordering any event breaks every hash after it; the chain's recorded head
catches the removal of the newest events too.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator

from attrs import frozen

from saascore.models import AuditEvent
from saascore.ports import UnitOfWork

GENESIS = "0" * 64


def canonical(event: AuditEvent) -> str:
    """The event's recorded fields as canonical JSON: what its hash covers."""
    return json.dumps(
        {
            "id": event.id,
            "workspace_id": event.workspace_id,
            "actor_id": event.actor_id,
            "action": event.action,
            "target": event.target,
            "data": dict(event.data),
            "ip": event.ip,
            "user_agent": event.user_agent,
            "request_id": event.request_id,
            "created_at": event.created_at.isoformat(),
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )


def chain_hash(prev_hash: str, event: AuditEvent) -> str:
    return hashlib.sha256(f"{prev_hash}\n{canonical(event)}".encode()).hexdigest()


@frozen
class ChainBreak:
    """Where a chain stops being what was written."""

    workspace_id: str | None
    seq: int | None  # the first event that fails to verify; None: events at the end are gone
    reason: str


async def verify_chain(
    uow: UnitOfWork, workspace_id: str | None, *, page: int = 1000
) -> ChainBreak | None:
    """Recompute a chain from its first event; return the first break, or ``None``."""
    expected_prev, last_seq, seen = GENESIS, 0, False
    async for event in _events(uow, workspace_id, page):
        seen = True
        if event.prev_hash != expected_prev:
            return ChainBreak(workspace_id, event.seq, "an earlier event was changed or removed")
        if event.hash != chain_hash(expected_prev, event):
            return ChainBreak(workspace_id, event.seq, "this event was changed")
        expected_prev, last_seq = event.hash, event.seq or last_seq
    head = await uow.audit.head(workspace_id)
    if head is None and seen:
        return ChainBreak(workspace_id, None, "the record of where this chain ends was removed")
    if head is not None and (head.last_seq, head.last_hash) != (last_seq, expected_prev):
        return ChainBreak(
            workspace_id,
            None,
            f"events after #{last_seq} were removed (the chain ends at #{head.last_seq})",
        )
    return None


async def _events(
    uow: UnitOfWork, workspace_id: str | None, page: int
) -> AsyncIterator[AuditEvent]:
    after = 0
    while True:
        batch = await uow.audit.chain(workspace_id, after_seq=after, limit=page)
        for event in batch:
            yield event
        if len(batch) < page:
            return
        after = batch[-1].seq or after
