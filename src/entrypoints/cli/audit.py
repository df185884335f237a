"""``saascore audit``: read, export and verify the hash-chained audit trail.

Each workspace has a chain of its own; events outside any workspace (sign-in, users) form
the global chain. ``audit verify`` exits 14 when a chain does not verify.
"""

from __future__ import annotations

import asyncio
import csv
import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import IO, Any

import click

from entrypoints.bootstrap import Services
from entrypoints.cli.admin import find_workspace
from entrypoints.cli.common import printable, with_services
from entrypoints.cli.errors import CliError
from saascore.audit import ChainBreak, verify_chain
from saascore.errors import NotFound
from saascore.models import AuditEvent, AuditQuery
from saascore.ports import UnitOfWork, UnitOfWorkFactory

EXIT_BROKEN_CHAIN = 14
POLL_SECONDS = 1.0
PAGE = 1000
FIELDS = (
    "seq", "id", "workspace_id", "actor_id", "action", "target", "data",
    "ip", "user_agent", "request_id", "created_at", "hash",
)  # fmt: skip
WORKSPACE_OPTION = click.option(
    "--workspace", help="A workspace's slug or id (an id also names a deleted workspace)."
)


def event_json(event: AuditEvent) -> dict[str, Any]:
    """The event as one JSON object, fields in ``FIELDS`` order."""
    values = {name: getattr(event, name) for name in FIELDS}
    return {**values, "data": dict(event.data), "created_at": event.created_at.isoformat()}


def _json_line(event: AuditEvent) -> str:
    return json.dumps(event_json(event), ensure_ascii=False, default=str)


HEADER = ("SEQ", "TIME", "ACTION", "ACTOR", "TARGET", "IP", "DATA")
WIDTHS = (6, 19, 28, 36, 36, 15)


def _columns(*cells: str) -> str:
    *fixed, last = cells
    return "  ".join(c.ljust(w) for c, w in zip(fixed, WIDTHS, strict=True)) + "  " + last


def _line(event: AuditEvent) -> str:
    return printable(
        _columns(
            str(event.seq),
            f"{event.created_at:%Y-%m-%d %H:%M:%S}",
            event.action,
            event.actor_id or "system",
            event.target or "-",
            event.ip or "-",
            json.dumps(dict(event.data), ensure_ascii=False, sort_keys=True),
        )
    )


async def chain_id(uow: UnitOfWork, ref: str | None) -> str | None:
    """The chain ``--workspace`` names: ``None`` (global) without one; a deleted workspace
    still has its chain, found by id."""
    if ref is None:
        return None
    try:
        return (await find_workspace(uow, ref)).id
    except NotFound:
        if ref in await uow.audit.chains():
            return ref
        raise


async def new_events(uow: UnitOfWorkFactory, chain: str | None, after_seq: int) -> list[AuditEvent]:
    """Up to a page of a chain's events after ``after_seq``, oldest first."""
    async with uow() as reading:
        return list(await reading.audit.chain(chain, after_seq=after_seq, limit=PAGE))


async def follow_chain(
    uow: UnitOfWorkFactory,
    chain: str | None,
    after_seq: int,
    action: str | None,
    emit: Callable[[AuditEvent], None],
    *,
    interval: float = POLL_SECONDS,
) -> None:
    """Every ``interval`` seconds, emit the chain's events after ``after_seq`` (of ``action``
    only, if given); forever."""
    while True:
        await asyncio.sleep(interval)
        for event in await new_events(uow, chain, after_seq):
            if action is None or event.action == action:
                emit(event)
            after_seq = max(after_seq, event.seq or 0)  # past filtered-out events too


def _since(ctx: click.Context, param: click.Parameter, value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise click.BadParameter("use an ISO date or time, like 2025-01-31T12:00") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@click.group()
def audit() -> None:
    """Read, export and verify the audit trail."""


@audit.command("tail")
@WORKSPACE_OPTION
@click.option("--action", help="Only this action, like member.invited.")
@click.option(
    "--since",
    callback=_since,
    help="Only events at or after this ISO time (UTC unless it has an offset).",
)
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 10_000))
@click.option("--follow", is_flag=True, help="Keep printing new events (every 1 s) until Ctrl-C.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per line.")
def audit_tail(
    workspace: str | None,
    action: str | None,
    since: datetime | None,
    limit: int,
    follow: bool,
    as_json: bool,
) -> None:
    """Print the newest events of one chain, oldest first. Without --workspace this is the
    global chain: sign-in and user events, which belong to no workspace."""

    def emit(event: AuditEvent) -> None:
        click.echo(_json_line(event) if as_json else _line(event))

    async def work(services: Services) -> None:
        async with services.reader() as uow:
            chain = await chain_id(uow, workspace)
            # The head is read before the page: an event appended in between is printed once.
            head = await uow.audit.head(chain)
            query = AuditQuery(chain, action=action, since=since, limit=limit)
            events = list(reversed(await uow.audit.query(query)))
        if not as_json:
            click.echo(_columns(*HEADER))
        for event in events:
            emit(event)
        if follow:
            after = max([head.last_seq if head else 0, *(e.seq or 0 for e in events)])
            await follow_chain(services.reader, chain, after, action, emit)

    try:
        with_services(work)
    except KeyboardInterrupt:
        return  # Ctrl-C is how --follow ends


async def _chain_events(uow: UnitOfWorkFactory, chain: str | None) -> AsyncIterator[AuditEvent]:
    """Every event of a chain, oldest first, a page per transaction (no long lock)."""
    after = 0
    while True:
        async with uow() as reading:
            batch = await reading.audit.chain(chain, after_seq=after, limit=PAGE)
        for event in batch:
            yield event
        if len(batch) < PAGE:
            return
        after = batch[-1].seq or after


def _csv_row(event: AuditEvent) -> dict[str, Any]:
    row = event_json(event)
    return {**row, "data": json.dumps(row["data"], ensure_ascii=False, sort_keys=True)}


async def _write(out: IO[str], fmt: str, events: AsyncIterator[AuditEvent]) -> int:
    writer = csv.DictWriter(out, FIELDS, lineterminator="\n") if fmt == "csv" else None
    if writer is not None:
        writer.writeheader()
    count = 0
    async for event in events:
        if writer is not None:
            writer.writerow(_csv_row(event))
        else:
            out.write(_json_line(event) + "\n")
        count += 1
    return count


@audit.command("export")
@WORKSPACE_OPTION
@click.option("--format", "fmt", type=click.Choice(["jsonl", "csv"]), default="jsonl")
@click.option("--output", default="-", help="A file to write (default: standard output).")
def audit_export(workspace: str | None, fmt: str, output: str) -> None:
    """Write a whole chain, oldest first, as JSON Lines or CSV (with a header row; data as
    JSON in one column). Without --workspace: the global chain."""

    async def work(services: Services) -> int:
        async with services.reader() as uow:
            chain = await chain_id(uow, workspace)
        with click.open_file(output, "w", encoding="utf-8") as out:
            return await _write(out, fmt, _chain_events(services.reader, chain))

    count = with_services(work)
    if output != "-":
        click.echo(f"exported {count} events to {output}", err=True)


async def _describe(uow: UnitOfWork, broken: ChainBreak) -> str:
    ws = await uow.workspaces.get(broken.workspace_id) if broken.workspace_id else None
    name = ws.slug if ws else broken.workspace_id or "global"
    where = f"event #{broken.seq}: " if broken.seq is not None else ""
    return f"{name}: {where}{broken.reason}"


@audit.command("verify")
@WORKSPACE_OPTION
def audit_verify(workspace: str | None) -> None:
    """Recompute the hash chains: one workspace's, or every chain (the global one too).
    Prints "ok: N chains verified", or the first broken event of each broken chain and
    exits 14."""

    async def work(services: Services) -> tuple[int, list[str]]:
        async with services.reader() as uow:
            chains = [await chain_id(uow, workspace)] if workspace else await uow.audit.chains()
        problems = []
        for chain in chains:
            async with services.reader() as uow:  # one consistent read per chain
                broken = await verify_chain(uow, chain)
                if broken is not None:
                    problems.append(await _describe(uow, broken))
        return len(chains), problems

    checked, problems = with_services(work)
    if problems:
        for problem in problems:
            click.echo(problem)
        raise CliError(f"{len(problems)} of {checked} chains broken", EXIT_BROKEN_CHAIN)
    click.echo(f"ok: {checked} chains verified")
