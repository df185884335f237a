"""The email sender contract, written once and run against the in-memory sender and the SMTP
sender talking to a real aiosmtpd server; then what only SMTP does (TLS, login, timeouts,
errors) and what the development stub does (print, keep the latest)."""

from __future__ import annotations

import io
import sys
import time
from collections.abc import AsyncIterator, Iterator
from email.message import EmailMessage as MimeMessage
from email.utils import parsedate_to_datetime
from typing import Protocol

import pytest
from attrs import frozen

from adapters.clock import FrozenClock
from adapters.email import SentEmail, SmtpConfig, SmtpEmailSender, StubEmailSender
from adapters.memory.email import InMemoryEmailSender
from saascore.errors import DeliveryFailed
from saascore.models import EmailMessage
from saascore.ports import EmailSender
from tests.support.smtp import Certificate, SmtpServer, free_port, settle, silent_port

LINK = "https://app.saascore.test/login/confirm?token=" + "x" * 120 + "&next=%2Fdashboard"
SIGN_IN = EmailMessage(
    to="ada@example.com",
    subject="Your sign-in link",
    text=f"Hello Ada,\n\nsign in here:\n{LINK}\n",
    html=f'<p>Hello Ada,</p><p><a href="{LINK}">Sign in</a></p>\n',
)
PASSWORD = "correct-horse-battery-staple"


@frozen
class Received:
    """What a recipient would see, whichever adapter carried it."""

    to: str
    subject: str
    text: str
    html: str | None

    @classmethod
    def of(cls, message: EmailMessage) -> Received:
        return cls(message.to, message.subject, message.text, message.html)

    @classmethod
    def parse(cls, mime: MimeMessage) -> Received:
        plain, html = mime.get_body(("plain",)), mime.get_body(("html",))
        assert plain is not None
        return cls(
            to=str(mime["To"]),
            subject=str(mime["Subject"]),
            text=_lines(plain.get_content()),
            html=_lines(html.get_content()) if html is not None else None,
        )


def _lines(content: str) -> str:
    return content.replace("\r\n", "\n")  # SMTP carries CRLF line ends


class Mailbox(Protocol):
    """A sender, what reached its far end, and a way to make that end unreachable."""

    @property
    def sender(self) -> EmailSender: ...

    def received(self) -> list[Received]: ...
    def take_down(self) -> None: ...
    def bring_back(self) -> None: ...


class MemoryMailbox:
    def __init__(self) -> None:
        self.memory = self.sender = InMemoryEmailSender()

    def received(self) -> list[Received]:
        return [Received.of(message) for message in self.memory.sent]

    def take_down(self) -> None:
        self.memory.failing = True

    def bring_back(self) -> None:
        self.memory.failing = False


class SmtpMailbox:
    def __init__(self, server: SmtpServer) -> None:
        self.server = server
        self.sender = SmtpEmailSender(server.config())

    def received(self) -> list[Received]:
        return [Received.parse(mime) for mime in self.server.messages]

    def take_down(self) -> None:
        self.server.stop()

    def bring_back(self) -> None:
        self.server.start()


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    return Certificate.create(tmp_path_factory.mktemp("smtp-tls"))


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """A plain SMTP server without login."""
    with SmtpServer() as server:
        yield server


@pytest.fixture
async def starttls_server(certificate: Certificate) -> AsyncIterator[SmtpServer]:
    """A server that requires STARTTLS and then a login."""
    credentials = ("mailer", PASSWORD)
    with SmtpServer(tls="starttls", certificate=certificate, credentials=credentials) as server:
        yield server
        await settle()


@pytest.fixture
async def tls_server(certificate: Certificate) -> AsyncIterator[SmtpServer]:
    """A server that speaks implicit TLS (SMTPS)."""
    with SmtpServer(tls="tls", certificate=certificate) as server:
        yield server
        await settle()


@pytest.fixture(params=["memory", "smtp"])
def mailbox(request: pytest.FixtureRequest) -> Iterator[Mailbox]:
    if request.param == "memory":
        yield MemoryMailbox()
        return
    with SmtpServer() as server:
        yield SmtpMailbox(server)


def closed_port_config(**changes: object) -> SmtpConfig:
    values: dict[str, object] = {
        "host": "127.0.0.1",
        "port": free_port(),
        "from_address": "noreply@saascore.test",
        "tls": "none",
        "timeout": 2,
    }
    return SmtpConfig(**(values | changes))  # type: ignore[arg-type]


class TestContract:
    async def test_a_sent_message_arrives_as_written(self, mailbox: Mailbox) -> None:
        """Recipient, subject, text (with a long link) and HTML arrive unchanged."""
        await mailbox.sender.send(SIGN_IN)

        assert [Received.of(SIGN_IN)] == mailbox.received()

    async def test_a_text_only_message_has_no_html(self, mailbox: Mailbox) -> None:
        """Without HTML, only the text is sent."""
        await mailbox.sender.send(EmailMessage("bo@example.com", "Hi", "Just text.\n"))

        assert [Received("bo@example.com", "Hi", "Just text.\n", None)] == mailbox.received()

    async def test_non_ascii_text_survives(self, mailbox: Mailbox) -> None:
        """Accents and symbols in subject and body arrive intact."""
        message = EmailMessage("zoë@example.com", "Einladung: Café Ünicode ✓", "Grüße, Zoë!\n")

        await mailbox.sender.send(message)

        assert [Received.of(message)] == mailbox.received()

    async def test_messages_arrive_separately_in_order(self, mailbox: Mailbox) -> None:
        """Each send delivers one message to its own recipient."""
        first = EmailMessage("a@example.com", "One", "1\n")
        second = EmailMessage("b@example.com", "Two", "2\n")

        await mailbox.sender.send(first)
        await mailbox.sender.send(second)

        assert [Received.of(first), Received.of(second)] == mailbox.received()

    async def test_a_down_server_raises_and_a_retry_delivers(self, mailbox: Mailbox) -> None:
        """While the far end is down, send raises DeliveryFailed; once back, a retry delivers."""
        mailbox.take_down()
        with pytest.raises(DeliveryFailed):
            await mailbox.sender.send(SIGN_IN)
        assert [] == mailbox.received()

        mailbox.bring_back()
        await mailbox.sender.send(SIGN_IN)

        assert [Received.of(SIGN_IN)] == mailbox.received()


class TestSmtpMessage:
    async def test_headers_and_envelope(self, smtp_server: SmtpServer) -> None:
        """From, Date and Message-ID are set; the envelope names the sender and recipient."""
        clock = FrozenClock()
        await SmtpEmailSender(smtp_server.config(), clock=clock).send(SIGN_IN)

        [envelope], [mime] = smtp_server.envelopes, smtp_server.messages
        assert "Saascore <noreply@saascore.test>" == str(mime["From"])
        assert clock.now() == parsedate_to_datetime(str(mime["Date"]))
        assert str(mime["Message-ID"]).endswith("@saascore.test>")
        assert ("noreply@saascore.test", ["ada@example.com"]) == (
            envelope.mail_from,
            envelope.rcpt_tos,
        )

    async def test_line_breaks_in_the_subject_cannot_add_headers(
        self, smtp_server: SmtpServer
    ) -> None:
        """A subject with a line break arrives on one line, with no injected header."""
        message = EmailMessage("ada@example.com", "Welcome to Acme\r\nBcc: eve@example.com", "Hi\n")

        await SmtpEmailSender(smtp_server.config()).send(message)

        [mime] = smtp_server.messages
        assert ("Welcome to Acme Bcc: eve@example.com", None) == (str(mime["Subject"]), mime["Bcc"])
        assert ["ada@example.com"] == smtp_server.envelopes[0].rcpt_tos

    async def test_a_recipient_with_a_line_break_is_refused(self, smtp_server: SmtpServer) -> None:
        """A recipient that would inject a header is not sent at all."""
        message = EmailMessage("ada@example.com\nBcc: eve@example.com", "Hi", "Hi\n")

        with pytest.raises(DeliveryFailed, match="invalid recipient"):
            await SmtpEmailSender(smtp_server.config()).send(message)
        assert [] == smtp_server.envelopes


class TestSmtpTls:
    async def test_starttls_with_login_delivers(self, starttls_server: SmtpServer) -> None:
        """The sender upgrades with STARTTLS, logs in, and the message is accepted."""
        await SmtpEmailSender(starttls_server.config()).send(SIGN_IN)

        assert [Received.of(SIGN_IN)] == [Received.parse(m) for m in starttls_server.messages]

    async def test_implicit_tls_delivers(self, tls_server: SmtpServer) -> None:
        """With tls="tls" the connection is encrypted from the first byte."""
        await SmtpEmailSender(tls_server.config()).send(SIGN_IN)

        assert [Received.of(SIGN_IN)] == [Received.parse(m) for m in tls_server.messages]

    async def test_an_untrusted_certificate_is_refused(self, tls_server: SmtpServer) -> None:
        """With the system's trust store, a self-signed certificate fails verification."""
        sender = SmtpEmailSender(tls_server.config(tls_context=None))

        with pytest.raises(DeliveryFailed, match=r"TLS with the SMTP server .* failed"):
            await sender.send(SIGN_IN)
        assert [] == tls_server.envelopes

    async def test_starttls_is_required_not_optional(self, smtp_server: SmtpServer) -> None:
        """tls="starttls" against a server without STARTTLS fails instead of sending in clear."""
        sender = SmtpEmailSender(smtp_server.config(tls="starttls"))

        with pytest.raises(DeliveryFailed, match="STARTTLS"):
            await sender.send(SIGN_IN)
        assert [] == smtp_server.envelopes

    async def test_plain_mode_never_upgrades(self, starttls_server: SmtpServer) -> None:
        """tls="none" does not take up an offered STARTTLS, so a server requiring it refuses."""
        config = starttls_server.config(tls="none", username=None, password=None)

        with pytest.raises(DeliveryFailed, match=r"530 .*STARTTLS"):
            await SmtpEmailSender(config).send(SIGN_IN)
        assert [] == starttls_server.envelopes


class TestSmtpFailures:
    async def test_a_wrong_password_fails_without_revealing_it(
        self, starttls_server: SmtpServer
    ) -> None:
        """A rejected login is DeliveryFailed with the code, never the password."""
        wrong = "wrong-" + PASSWORD
        sender = SmtpEmailSender(starttls_server.config(password=wrong))

        with pytest.raises(DeliveryFailed) as failure:
            await sender.send(SIGN_IN)

        assert "rejected the username or password (535)" in str(failure.value)
        assert PASSWORD not in str(failure.value) + repr(failure.value.__cause__)
        assert [] == starttls_server.envelopes

    async def test_a_server_that_never_greets_times_out(self) -> None:
        """A server that accepts the connection but stays silent fails within the timeout."""
        with silent_port() as port:
            sender = SmtpEmailSender(closed_port_config(port=port, timeout=0.5))
            started = time.monotonic()
            with pytest.raises(DeliveryFailed, match=r"did not answer within 0\.5s"):
                await sender.send(SIGN_IN)
            elapsed = time.monotonic() - started

        assert 0.4 < elapsed < 2.0

    async def test_a_closed_port_fails_fast(self) -> None:
        """Nobody listening is DeliveryFailed naming the address, keeping the cause."""
        config = closed_port_config()

        with pytest.raises(DeliveryFailed) as failure:
            await SmtpEmailSender(config).send(SIGN_IN)

        expected = f"cannot connect to the SMTP server at {config.address}: Connection refused"
        assert expected == str(failure.value)
        assert isinstance(failure.value.__cause__, OSError)

    async def test_the_body_never_appears_in_the_error(self, smtp_server: SmtpServer) -> None:
        """Failures describe the server, not the message carrying the sign-in link."""
        smtp_server.stop()

        with pytest.raises(DeliveryFailed) as failure:
            await SmtpEmailSender(smtp_server.config()).send(SIGN_IN)

        assert LINK not in str(failure.value)


class TestSmtpCheck:
    async def test_check_passes_against_a_live_server(self, smtp_server: SmtpServer) -> None:
        """check() connects and quits without sending anything."""
        await SmtpEmailSender(smtp_server.config()).check()

        assert [] == smtp_server.envelopes

    async def test_check_logs_in_over_starttls(self, starttls_server: SmtpServer) -> None:
        """check() upgrades and logs in when configured to, and a bad password fails it."""
        await SmtpEmailSender(starttls_server.config()).check()

        with pytest.raises(DeliveryFailed, match="535"):
            await SmtpEmailSender(starttls_server.config(password="nope")).check()

    async def test_check_fails_against_a_closed_port(self) -> None:
        """check() raises DeliveryFailed when nothing listens."""
        with pytest.raises(DeliveryFailed, match="cannot connect"):
            await SmtpEmailSender(closed_port_config()).check()


class TestSmtpConfig:
    def test_the_password_is_not_in_the_repr(self) -> None:
        """Printing the configuration never shows the password."""
        config = closed_port_config(username="mailer", password=PASSWORD)

        assert PASSWORD not in repr(config)
        assert "mailer" in repr(config)

    @pytest.mark.parametrize(("tls", "port"), [("none", 25), ("starttls", 587), ("tls", 465)])
    def test_the_port_defaults_by_tls_mode(self, tls: str, port: int) -> None:
        """Without a port, the usual one for the TLS mode is used."""
        config = SmtpConfig(host="mail.example.com", from_address="a@example.com", tls=tls)  # type: ignore[arg-type]

        assert f"mail.example.com:{port}" == config.address

    def test_empty_credentials_mean_no_login(self) -> None:
        """An empty username and password (unset variables) are the same as none."""
        config = closed_port_config(username="", password="")

        assert (None, None) == (config.username, config.password)

    @pytest.mark.parametrize(
        "changes",
        [
            {"tls": "ssl"},
            {"username": "mailer"},
            {"password": PASSWORD},
            {"from_address": "nobody"},
            {"timeout": 0},
            {"host": ""},
        ],
    )
    def test_bad_values_are_refused(self, changes: dict[str, object]) -> None:
        """An unknown TLS mode, half a login, a non-address sender, or no timeout is refused."""
        with pytest.raises(ValueError):  # noqa: PT011 — each case has its own message
            closed_port_config(**changes)


class TestStub:
    async def test_it_prints_recipient_subject_and_link(self) -> None:
        """The printed block shows To, Subject and the text body with its link."""
        stream = io.StringIO()

        await StubEmailSender(stream=stream).send(SIGN_IN)

        printed = stream.getvalue()
        assert "To:      ada@example.com" in printed
        assert "Subject: Your sign-in link" in printed
        assert LINK in printed

    async def test_it_prints_to_stderr_as_it_is_at_send_time(
        self, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Without a stream, the current sys.stderr is used."""
        sender = StubEmailSender()

        await sender.send(SIGN_IN)

        assert LINK in capsys.readouterr().err
        assert sys.stderr is not sys.__stderr__  # capsys swapped it after import

    async def test_it_keeps_the_latest_messages_newest_first(self) -> None:
        """recent() holds at most `keep` messages, the newest first."""
        sender = StubEmailSender(stream=io.StringIO(), keep=3)

        for n in range(1, 6):
            await sender.send(EmailMessage(f"u{n}@example.com", f"Message {n}", "body\n"))

        assert ["Message 5", "Message 4", "Message 3"] == [
            sent.message.subject for sent in sender.recent()
        ]

    async def test_get_finds_a_kept_message_by_id(self) -> None:
        """get(id) returns the record with the clock's time, and None for unknown ids."""
        clock = FrozenClock()
        sender = StubEmailSender(stream=io.StringIO(), clock=clock)
        await sender.send(SIGN_IN)

        [kept] = sender.recent()

        assert SentEmail(message=SIGN_IN, sent_at=clock.now(), id=kept.id) == sender.get(kept.id)
        assert sender.get("no-such-id") is None


class TestMemory:
    async def test_fail_next_fails_that_many_sends_then_works(self) -> None:
        """fail_next(2) makes two sends raise and keep nothing; the third is kept."""
        sender = InMemoryEmailSender()
        sender.fail_next(2)

        for _ in range(2):
            with pytest.raises(DeliveryFailed):
                await sender.send(SIGN_IN)
        await sender.send(SIGN_IN)

        assert [SIGN_IN] == sender.sent
        assert [SIGN_IN] == sender.sent_to("ada@example.com")
