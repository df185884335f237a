"""Email senders: ``smtp`` for real delivery, ``stub`` for development.

The in-memory sender for tests lives with the other fakes, in ``adapters.memory.email``.
"""

from adapters.email.smtp import TLS_MODES, SmtpConfig, SmtpEmailSender, TlsMode, build_mime
from adapters.email.stub import SentEmail, StubEmailSender

__all__ = [
    "TLS_MODES",
    "SentEmail",
    "SmtpConfig",
    "SmtpEmailSender",
    "StubEmailSender",
    "TlsMode",
    "build_mime",
]
