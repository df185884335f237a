"""The transactional outbox: emails are queued in the transaction that causes them and
delivered afterwards, with retries, so an SMTP outage loses nothing.

Rules:
- ``Tx.enqueue`` writes to the caller's transaction: no commit, no email;
- ``deliver_due`` claims due messages in a short transaction of its own, sends them outside
  any transaction, and records each outcome; a claim is a lease, so two dispatchers never
  send the same message at once; ``flush`` may make retries due early, but never touches
  a claimed message;
- a failed attempt is retried after an exponentially growing delay, up to ``max_attempts``,
  and the last error is kept; then the message is marked failed for an operator to see;
- delivery is at least once: a crash between the server accepting a message and the
  ``sent`` mark being committed means it is sent again after the lease. SMTP offers nothing
  stronger; the window is one round trip.
"""

from __future__ import annotations

from attrs import field, frozen

from saascore.context import Deps
from saascore.errors import DeliveryFailed
from saascore.models import EmailMessage

MAX_ERROR_LENGTH = 500


@frozen
class FailedAttempt:
    """One message that was not delivered, and why (never its body)."""

    message_id: str
    reason: str
    will_retry: bool


@frozen
class DeliveryReport:
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    # What went wrong with each attempt that failed, for the dispatcher to log.
    failures: tuple[FailedAttempt, ...] = field(default=(), eq=False)

    @property
    def attempted(self) -> int:
        return self.sent + self.retrying + self.failed


async def opened(deps: Deps, message: EmailMessage) -> EmailMessage:
    """The message as it is sent: its body unsealed. A body sealed with another key
    raises ``TokenInvalid``, and the message is failed (it can never be read)."""
    html = await deps.sealer.open(message.html) if message.html is not None else None
    return EmailMessage(message.to, message.subject, await deps.sealer.open(message.text), html)


async def deliver_due(deps: Deps) -> DeliveryReport:
    """Deliver one batch of due messages with ``deps.email``; return what happened to them."""
    uow, sender, clock, policy = deps.writer, deps.email, deps.clock, deps.delivery
    now = clock.now()
    async with uow() as claiming:
        claimed = await claiming.outbox.claim_due(
            now, limit=policy.batch, lease_until=now + policy.lease
        )
        await claiming.commit()
    sent = retrying = failed = 0
    failures: list[FailedAttempt] = []
    for message in claimed:
        try:
            await sender.send(await opened(deps, message.message))
        except Exception as exc:
            # DeliveryFailed is the sender saying "not now": retry. Anything else (an address
            # the server's library refuses, a bug) will fail the same way again: give up.
            transient = isinstance(exc, DeliveryFailed)
            reason = str(exc) if transient else f"{type(exc).__name__}: {exc}"
            gave_up = not transient or message.attempts >= policy.max_attempts
            retry_at = None if gave_up else clock.now() + policy.retry_delay(message.attempts)
            async with uow() as recording:
                await recording.outbox.mark_failed(
                    message.id, reason[:MAX_ERROR_LENGTH], retry_at=retry_at
                )
                await recording.commit()
            failures.append(FailedAttempt(message.id, reason[:MAX_ERROR_LENGTH], not gave_up))
            failed, retrying = failed + gave_up, retrying + (not gave_up)
        else:
            async with uow() as recording:
                await recording.outbox.mark_sent(message.id, clock.now())
                await recording.commit()
            sent += 1
    return DeliveryReport(sent=sent, retrying=retrying, failed=failed, failures=tuple(failures))


async def flush(deps: Deps, *, retry_now: bool = True, max_batches: int = 100) -> DeliveryReport:
    """Deliver batches until nothing is due (or ``max_batches`` ran).

    With ``retry_now`` (the default: an operator flushing after fixing SMTP wants the
    queue out), messages waiting for a retry are made due first.
    """
    if retry_now:
        async with deps.writer() as expediting:
            await expediting.outbox.expedite(deps.clock.now())
            await expediting.commit()
    total = DeliveryReport()
    for _ in range(max_batches):
        report = await deliver_due(deps)
        total = DeliveryReport(
            total.sent + report.sent,
            total.retrying + report.retrying,
            total.failed + report.failed,
            total.failures + report.failures,
        )
        if report.attempted < deps.delivery.batch:
            break
    return total
