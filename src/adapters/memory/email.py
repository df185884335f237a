"""An in-memory email sender: keeps what it is given, and fails when told to.

For unit tests and users' own tests: read ``sent`` to see what went out, and set ``failing``
or call ``fail_next`` to play a down SMTP server.
"""

from __future__ import annotations

from saascore.errors import DeliveryFailed
from saascore.models import EmailMessage


class InMemoryEmailSender:
    """Implements ``saascore.ports.EmailSender`` with a list.

    While ``failing`` is true, or for the next ``n`` sends after ``fail_next(n)``, ``send``
    raises ``DeliveryFailed`` and keeps nothing — as a refused or unreachable server would.
    """

    def __init__(self) -> None:
        self.sent: list[EmailMessage] = []
        self.failing = False
        self._failures_left = 0

    def fail_next(self, count: int = 1) -> None:
        """Make the next ``count`` sends (and checks) fail, then work again."""
        self._failures_left = count

    async def send(self, message: EmailMessage) -> None:
        """Keep ``message``, or raise ``DeliveryFailed`` when told to fail."""
        self._maybe_fail()
        self.sent.append(message)

    async def check(self) -> None:
        """Raise ``DeliveryFailed`` when told to fail, like an unreachable server."""
        self._maybe_fail()

    def sent_to(self, address: str) -> list[EmailMessage]:
        """The messages sent to ``address``, oldest first."""
        return [message for message in self.sent if message.to == address]

    def _maybe_fail(self) -> None:
        if self._failures_left > 0:
            self._failures_left -= 1
            raise DeliveryFailed("the in-memory email sender was told to fail")
        if self.failing:
            raise DeliveryFailed("the in-memory email sender is set to fail")
