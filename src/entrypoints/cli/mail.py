"""``saascore outbox`` and ``saascore email``: see and push the email queue, test SMTP."""

from __future__ import annotations

import click

from entrypoints.bootstrap import Services
from entrypoints.cli.common import print_json, print_table, settings, with_services
from saascore.emails import render
from saascore.models import OutboxMessage, OutboxStats
from saascore.outbox import DeliveryReport, flush
from saascore.users import normalise_email


@click.group()
def outbox() -> None:
    """See and deliver queued email."""


@outbox.command("status")
@click.option(
    "--limit",
    default=10,
    show_default=True,
    type=click.IntRange(1, 1000),
    help="How many recent messages to list.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def outbox_status(limit: int, as_json: bool) -> None:
    """Count queued, sent and failed email, and list the newest messages."""

    async def work(services: Services) -> tuple[OutboxStats, list[OutboxMessage]]:
        async with services.reader() as uow:
            return await uow.outbox.stats(), list(await uow.outbox.list(limit=limit))

    stats, recent = with_services(work)
    rows = [
        {
            "id": m.id,
            "to": m.message.to,
            "subject": m.message.subject,
            "status": str(m.status),
            "attempts": m.attempts,
            "created_at": m.created_at.isoformat(),
            "last_error": m.last_error,
        }
        for m in recent
    ]
    if as_json:
        print_json(
            {
                "pending": stats.pending,
                "sent": stats.sent,
                "failed": stats.failed,
                "oldest_pending_at": stats.oldest_pending_at,
                "recent": rows,
            }
        )
        return
    oldest = stats.oldest_pending_at
    click.echo(
        f"pending {stats.pending}, sent {stats.sent}, failed {stats.failed}"
        + (f"; oldest pending since {oldest.isoformat()}" if oldest else "")
    )
    print_table(
        ("CREATED", "TO", "SUBJECT", "STATUS", "TRIES", "LAST ERROR"),
        (
            (
                f"{m.created_at:%Y-%m-%d %H:%M:%S}",
                m.message.to,
                m.message.subject,
                m.status,
                m.attempts,
                m.last_error or "",
            )
            for m in recent
        ),
    )


@outbox.command("flush")
def outbox_flush() -> None:
    """Deliver every message that is due now, and say what happened."""

    async def work(services: Services) -> DeliveryReport:
        return await flush(services.deps)

    report = with_services(work)
    click.echo(f"sent {report.sent}, will retry {report.retrying}, gave up {report.failed}")
    if report.retrying or report.failed:
        raise click.exceptions.Exit(10)


@click.group()
def email() -> None:
    """Check email delivery."""


@email.command("test")
@click.argument("address")
def email_test(address: str) -> None:
    """Send a test email to ADDRESS now, straight through EMAIL_BACKEND (not the outbox)."""
    to = normalise_email(address)
    backend = settings().email_backend

    async def work(services: Services) -> None:
        message = render(to, "saascore test email", "test_email", backend=backend)
        await services.email.send(message)

    with_services(work)
    click.echo(f"sent a test email to {to} through the {backend} backend")
