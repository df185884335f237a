"""Writing audit events: one helper so every use case records the same fields."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from saascore.models import Actor, AuditEvent
from saascore.ports import Clock, Ids, UnitOfWork


async def record(
    uow: UnitOfWork,
    clock: Clock,
    ids: Ids,
    actor: Actor,
    action: str,
    *,
    workspace_id: str | None,
    target: str | None = None,
    data: Mapping[str, Any] | None = None,
) -> AuditEvent:
    """Append an audit event to ``uow``'s transaction, so it commits with the change."""
    event = AuditEvent(
        id=ids.new(),
        workspace_id=workspace_id,
        actor_id=actor.user_id,
        action=action,
        target=target,
        data=data or {},
        ip=actor.ip,
        user_agent=actor.user_agent,
        request_id=actor.request_id,
        created_at=clock.now(),
    )
    await uow.audit.append(event)
    return event
