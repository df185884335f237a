"""The stub email sender, for development: prints each message and keeps the latest ones.

Nothing leaves the machine. The printed block includes the text body on purpose: it holds the
sign-in or invite link a developer needs to click. That is also why production refuses to
start with this backend.
"""

from __future__ import annotations

import sys
import uuid
from collections import deque
from datetime import datetime
from typing import TextIO

from attrs import frozen

from adapters.clock import SystemClock
from saascore.models import EmailMessage
from saascore.ports import Clock

RULE = "-" * 72


@frozen
class SentEmail:
    """A message the stub accepted, with when and under which id."""

    message: EmailMessage
    sent_at: datetime
    id: str


class StubEmailSender:
    """Accepts every message: prints it to ``stream`` and keeps the ``keep`` most recent.

    ``stream`` defaults to whatever ``sys.stderr`` is at send time, so test runners and
    log redirection that replace it are honoured.
    """

    def __init__(
        self, *, stream: TextIO | None = None, clock: Clock | None = None, keep: int = 50
    ) -> None:
        if keep < 1:
            raise ValueError(f"keep must be at least 1, got {keep}")
        self._stream = stream
        self._clock = clock or SystemClock()
        self._recent: deque[SentEmail] = deque(maxlen=keep)

    async def send(self, message: EmailMessage) -> None:
        """Keep ``message`` and print it; never fails."""
        sent = SentEmail(message=message, sent_at=self._clock.now(), id=str(uuid.uuid4()))
        self._recent.appendleft(sent)  # the oldest falls off the far end
        stream = self._stream or sys.stderr
        stream.write(render(sent))
        stream.flush()

    async def check(self) -> None:
        """Nothing to reach: always ready."""

    def recent(self) -> list[SentEmail]:
        """The kept messages, newest first."""
        return list(self._recent)

    def get(self, email_id: str) -> SentEmail | None:
        """The kept message with this id, or ``None`` (unknown, or pushed out by newer ones)."""
        return next((sent for sent in self._recent if sent.id == email_id), None)


def render(sent: SentEmail) -> str:
    """The block printed for one message."""
    message = sent.message
    lines = [
        " email (stub backend: not sent) ".center(len(RULE), "-"),
        f"To:      {message.to}",
        f"Subject: {message.subject}",
        f"Date:    {sent.sent_at.isoformat(timespec='seconds')}",
        f"Id:      {sent.id}",
        "",
        message.text.rstrip("\n"),
    ]
    if message.html is not None:
        lines += ["", "(an HTML version was sent too)"]
    lines.append(RULE)
    return "\n".join(lines) + "\n"
