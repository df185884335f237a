"""The SMTP email sender, on aiosmtplib: plain, STARTTLS or implicit TLS, with optional login.

One connection per message: transactional mail is rare enough that a pool buys nothing, and
a fresh connection never trips over a server that dropped an idle one.

Every failure leaves this module as ``DeliveryFailed`` with a short reason naming the server
and what went wrong, never the password or the message body; the original exception is kept
as ``__cause__`` for tracebacks.
"""

from __future__ import annotations

import logging
import os
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import EmailMessage as MimeMessage
from email.utils import format_datetime, make_msgid, parseaddr
from typing import Any, Final, Literal, get_args

import aiosmtplib
from attrs import field, frozen, validators

from adapters.clock import SystemClock
from saascore.errors import DeliveryFailed
from saascore.models import EmailMessage
from saascore.ports import Clock

log = logging.getLogger(__name__)

TlsMode = Literal["none", "starttls", "tls"]
"""``none``: plain text, never upgraded; ``starttls``: upgrade required; ``tls``: implicit TLS."""

TLS_MODES: Final[tuple[str, ...]] = get_args(TlsMode)
DEFAULT_PORTS: Final[dict[str, int]] = {"none": 25, "starttls": 587, "tls": 465}


def _positive(_: object, attribute: Any, value: float) -> None:
    if value <= 0:
        raise ValueError(f"{attribute.name} must be positive, got {value!r}")


def _email_address(_: object, attribute: Any, value: str) -> None:
    if "@" not in parseaddr(value)[1]:
        raise ValueError(f"{attribute.name} must be an email address, got {value!r}")


def _none_if_empty(value: str | None) -> str | None:
    return value or None  # an empty SMTP_USERNAME in the environment means "no login"


@frozen(kw_only=True)
class SmtpConfig:
    """Where and how to reach the SMTP server; ``port`` defaults to 25/587/465 by ``tls``.

    Log in only when ``username`` and ``password`` are both given (empty counts as not given).

    ``tls_context`` replaces the system's certificate verification (tests use it to trust a
    self-signed certificate). ``timeout`` bounds each network step, in seconds.
    """

    host: str = field(validator=validators.min_len(1))
    port: int | None = None
    username: str | None = field(default=None, converter=_none_if_empty)
    password: str | None = field(default=None, converter=_none_if_empty, repr=False)
    from_address: str = field(validator=_email_address)
    tls: TlsMode = field(default="starttls", validator=validators.in_(TLS_MODES))
    timeout: float = field(default=10.0, validator=_positive)
    tls_context: ssl.SSLContext | None = field(default=None, repr=False)

    def __attrs_post_init__(self) -> None:
        if (self.username is None) != (self.password is None):
            raise ValueError("username and password must be given together")

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port or DEFAULT_PORTS[self.tls]}"


def build_mime(message: EmailMessage, *, from_address: str, clock: Clock) -> MimeMessage:
    """The MIME message for ``message``: a text part, plus an HTML alternative when given."""
    mime = MimeMessage()
    mime["From"] = from_address
    mime["To"] = message.to
    # Subjects carry user-chosen names; a line break would end the header early.
    mime["Subject"] = " ".join(message.subject.split())
    mime["Date"] = format_datetime(clock.now())
    # An explicit domain: without one, make_msgid asks DNS for this host's name.
    mime["Message-ID"] = make_msgid(domain=parseaddr(from_address)[1].rpartition("@")[2])
    mime.set_content(message.text)
    if message.html is not None:
        mime.add_alternative(message.html, subtype="html")
    return mime


class SmtpEmailSender:
    """Delivers email through one SMTP server; implements ``saascore.ports.EmailSender``."""

    def __init__(self, config: SmtpConfig, *, clock: Clock | None = None) -> None:
        self._config = config
        self._clock = clock or SystemClock()

    @property
    def config(self) -> SmtpConfig:
        return self._config

    async def send(self, message: EmailMessage) -> None:
        """Hand ``message`` to the server, or raise ``DeliveryFailed`` if it is not accepted."""
        try:
            mime = build_mime(message, from_address=self._config.from_address, clock=self._clock)
        except ValueError as exc:  # a line break in the recipient, say
            raise DeliveryFailed("the message has an invalid recipient or header") from exc
        with self._translated_errors():
            async with self._client() as smtp:
                refused, _ = await smtp.send_message(mime)
        if refused:
            raise DeliveryFailed(f"the SMTP server at {self._config.address} refused the recipient")
        log.info("email accepted by %s, message id %s", self._config.address, mime["Message-ID"])

    async def check(self) -> None:
        """Connect, upgrade to TLS and log in as configured, then quit; raise on any failure."""
        with self._translated_errors():
            async with self._client() as smtp:
                await smtp.noop()  # a plain connection has only read the greeting so far

    def _client(self) -> aiosmtplib.SMTP:
        config = self._config
        return aiosmtplib.SMTP(
            hostname=config.host,
            port=config.port or DEFAULT_PORTS[config.tls],
            username=config.username,
            password=config.password,
            timeout=config.timeout,
            use_tls=config.tls == "tls",
            # False, not None: None would upgrade whenever offered, and "none" means never.
            start_tls=config.tls == "starttls",
            tls_context=config.tls_context,
        )

    @contextmanager
    def _translated_errors(self) -> Iterator[None]:
        try:
            yield
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            # Not logged here: the caller knows whether this is final or will be retried.
            raise DeliveryFailed(_reason(exc, self._config)) from exc


def _reason(exc: BaseException, config: SmtpConfig) -> str:
    """A short, secret-free description of ``exc``."""
    where = f"SMTP server at {config.address}"
    # aiosmtplib wraps the OSError that says why (refused, unknown host, bad certificate).
    cause = exc.__cause__ if isinstance(exc.__cause__, OSError) else exc
    if isinstance(exc, TimeoutError) or isinstance(cause, TimeoutError):
        return f"the {where} did not answer within {config.timeout:g}s"
    if isinstance(exc, aiosmtplib.SMTPResponseException | aiosmtplib.SMTPRecipientsRefused):
        return f"the {where} {_refusal(exc)}"
    return _failure(cause, where)


def _refusal(exc: aiosmtplib.SMTPResponseException | aiosmtplib.SMTPRecipientsRefused) -> str:
    # Replies say why (relay denied, mailbox unknown) and are quoted, except for
    # authentication: the code is all an operator needs there.
    if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
        return f"rejected the username or password ({exc.code})"
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        return "refused the recipient"
    return f"answered {exc.code} {_short(exc.message)}"


def _failure(cause: BaseException, where: str) -> str:
    if isinstance(cause, ssl.SSLError):
        detail = getattr(cause, "verify_message", None) or cause.reason or str(cause)
        return f"TLS with the {where} failed: {_short(detail)}"
    if isinstance(cause, aiosmtplib.SMTPServerDisconnected):
        return f"the {where} closed the connection"
    if isinstance(cause, OSError):
        # os.strerror says "Connection refused" where asyncio says "Connect call failed (...)".
        code = cause.errno
        detail = os.strerror(code) if code is not None and code > 0 else cause.strerror
        return f"cannot connect to the {where}: {_short(detail or str(cause))}"
    return f"the {where} failed: {_short(str(cause))}"


def _short(text: str, limit: int = 120) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
