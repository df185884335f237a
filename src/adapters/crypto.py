"""Sealing secrets at rest with Fernet (AES-128-CBC and HMAC-SHA256, from the
``cryptography`` library), keyed by HKDF-SHA256 from ``SECRET_KEY``: the key never reaches
the database or a backup, and changing ``SECRET_KEY`` makes what was sealed unreadable."""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from saascore.errors import TokenInvalid

PREFIX = "sealed:v1:"


class FernetSealer:
    """Implements ``saascore.ports.Sealer``."""

    def __init__(self, secret_key: str, *, purpose: str = "saascore at-rest secrets") -> None:
        derived = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=purpose.encode()
        ).derive(secret_key.encode())
        self._fernet = Fernet(base64.urlsafe_b64encode(derived))

    async def seal(self, plain: str) -> str:
        return PREFIX + self._fernet.encrypt(plain.encode()).decode()

    async def open(self, sealed: str) -> str:
        if not sealed.startswith(PREFIX):
            return sealed  # stored before sealing began
        try:
            return self._fernet.decrypt(sealed.removeprefix(PREFIX).encode()).decode()
        except (InvalidToken, ValueError) as exc:
            raise TokenInvalid("sealed with another SECRET_KEY, or altered") from exc
