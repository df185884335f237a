"""Real SMTP servers for tests: aiosmtpd on a free 127.0.0.1 port, capturing what it accepts.

``SmtpServer`` runs plain, STARTTLS-required or implicit-TLS, with or without required AUTH,
and can be stopped and restarted on the same port (to play an outage). ``Certificate`` makes a
throw-away self-signed certificate for 127.0.0.1/localhost with ``cryptography``.
``silent_port`` is a port that accepts TCP connections but never says a word; ``settle`` lets
closed TLS connections finish before a test's event loop ends.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import socket
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage as MimeMessage
from ipaddress import IPv4Address
from pathlib import Path
from types import TracebackType
from typing import Any, Self, cast

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from attrs import evolve, frozen
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from adapters.email import SmtpConfig, TlsMode

HOST = "127.0.0.1"
FROM_ADDRESS = "Saascore <noreply@saascore.test>"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return cast(int, probe.getsockname()[1])


@contextmanager
def silent_port() -> Iterator[int]:
    """A port whose connections complete but never get an SMTP greeting.

    Listening without ever calling ``accept`` is enough: the kernel finishes the TCP handshake
    and queues the connection, so the client connects and then waits forever.
    """
    with socket.socket() as listener:
        listener.bind((HOST, 0))
        listener.listen(16)
        yield cast(int, listener.getsockname()[1])


async def settle() -> None:
    """Let TLS connections the test closed finish their shutdown before its event loop ends.

    Closing a TLS connection waits for the server's reply; if the loop closes first, the socket
    is left open and reported as a ResourceWarning in some later test. Await this in the
    teardown of fixtures that serve TLS.
    """
    await asyncio.sleep(0.05)


@frozen
class Certificate:
    """A self-signed certificate for 127.0.0.1 and localhost, and its key, as PEM files."""

    cert_path: Path
    key_path: Path

    @classmethod
    def create(cls, directory: Path) -> Certificate:
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "saascore test SMTP")])
        now = datetime.now(UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=1))
            .add_extension(
                x509.SubjectAlternativeName(
                    [x509.DNSName("localhost"), x509.IPAddress(IPv4Address(HOST))]
                ),
                critical=False,
            )
            # Its own CA, so verifiers accept it as a trust anchor.
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256())
        )
        cert_path, key_path = directory / "smtp-cert.pem", directory / "smtp-key.pem"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        return cls(cert_path, key_path)

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert_path, self.key_path)
        return context

    def client_context(self) -> ssl.SSLContext:
        """A client context that trusts this certificate, and nothing else."""
        return ssl.create_default_context(cafile=str(self.cert_path))


class CapturingHandler:
    """An aiosmtpd handler that accepts every message and keeps its envelope."""

    def __init__(self) -> None:
        self.envelopes: list[Envelope] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"

    @property
    def messages(self) -> list[MimeMessage]:
        """The accepted messages, parsed, oldest first."""
        return [parse(envelope) for envelope in self.envelopes]


def parse(envelope: Envelope) -> MimeMessage:
    content = envelope.content
    assert isinstance(content, bytes)
    return email.message_from_bytes(content, policy=email.policy.default)


class _Controller(Controller):
    """A controller that drops its open connections before stopping its loop.

    aiosmtpd stops the loop with connections still open or half-closed, and the garbage
    collector later reports them as ResourceWarnings in whichever test happens to run.
    """

    def __init__(self, handler: CapturingHandler, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self._sessions: list[SMTP] = []

    def factory(self) -> SMTP:
        session = SMTP(self.handler, **self.SMTP_kwargs)  # what Controller.factory makes
        self._sessions.append(session)
        return session

    def stop(self, no_assert: bool = False) -> None:
        asyncio.run_coroutine_threadsafe(self._drop_connections(), self.loop).result(timeout=5)
        super().stop(no_assert)

    async def _drop_connections(self) -> None:
        for session in self._sessions:
            if isinstance(session.transport, asyncio.Transport):
                session.transport.abort()  # not close(): a TLS close waits for the peer
        await asyncio.sleep(0.05)  # let connection_lost run for each of them


class SmtpServer:
    """An aiosmtpd server on ``HOST``:``port`` whose ``handler`` keeps what it accepts.

    ``tls`` is "none", "starttls" (required before MAIL) or "tls" (implicit); the TLS modes
    need a ``certificate``. With ``credentials`` the server requires AUTH with them. Use as a
    context manager, or ``start``/``stop``/``restart``: a restart keeps the port and handler.
    """

    host = HOST

    def __init__(
        self,
        *,
        tls: TlsMode = "none",
        certificate: Certificate | None = None,
        credentials: tuple[str, str] | None = None,
    ) -> None:
        if tls != "none" and certificate is None:
            raise ValueError(f"an SMTP server with tls={tls!r} needs a certificate")
        self.tls = tls
        self.certificate = certificate
        self.credentials = credentials
        self.port = free_port()
        self.handler = CapturingHandler()
        self._controller: Controller | None = None

    @property
    def envelopes(self) -> list[Envelope]:
        return self.handler.envelopes

    @property
    def messages(self) -> list[MimeMessage]:
        return self.handler.messages

    def start(self) -> Self:
        if self._controller is None:
            # A new controller each time: a stopped one has closed its event loop.
            self._controller = _Controller(
                self.handler, hostname=self.host, port=self.port, **self._options()
            )
            self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def config(self, **changes: Any) -> SmtpConfig:
        """A sender configuration for this server (trusting its certificate), with ``changes``."""
        username, password = self.credentials or (None, None)
        config = SmtpConfig(
            host=self.host,
            port=self.port,
            username=username,
            password=password,
            from_address=FROM_ADDRESS,
            tls=self.tls,
            timeout=5,
            tls_context=self.certificate.client_context() if self.certificate else None,
        )
        return evolve(config, **changes)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _options(self) -> dict[str, Any]:
        options: dict[str, Any] = {}
        if self.certificate is not None and self.tls == "starttls":
            options.update(tls_context=self.certificate.server_context(), require_starttls=True)
        if self.certificate is not None and self.tls == "tls":
            options.update(ssl_context=self.certificate.server_context())
        if self.credentials is not None:
            options.update(
                authenticator=self._authenticate,
                auth_required=True,
                # aiosmtpd counts only STARTTLS as encrypted, not an implicit-TLS connection.
                auth_require_tls=self.tls == "starttls",
            )
        return options

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        expected = tuple(part.encode() for part in self.credentials or ())
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == expected
        # handled=False makes aiosmtpd answer 535 on failure; True would leave the client hanging.
        return AuthResult(success=ok, handled=False)
