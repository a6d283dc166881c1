"""Secrets at rest: shared secrets, mailbox passwords, OAuth and API tokens.

Fernet (AES-128-CBC + HMAC-SHA256, from `cryptography`) with MultiFernet so that
ENCRYPTION_KEY can list a new key first and old keys after it while secrets are re-encrypted.
"""

from __future__ import annotations

from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet


class SecretDecryptionError(Exception):
    """A stored secret could not be decrypted with any configured key."""


class SecretBox:
    def __init__(self, keys: Sequence[str]) -> None:
        if not keys:
            raise ValueError("at least one encryption key is needed")
        self._fernet = MultiFernet([Fernet(key.encode("ascii")) for key in keys])

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode("utf-8")
        except InvalidToken:
            raise SecretDecryptionError(_NO_KEY) from None

    def rotate(self, token: str) -> str:
        """Re-encrypt with the first (newest) key (`connector rotate-key`)."""
        try:
            return self._fernet.rotate(token.encode("ascii")).decode("ascii")
        except InvalidToken:
            raise SecretDecryptionError(_NO_KEY) from None


_NO_KEY = (
    "a stored secret cannot be decrypted: ENCRYPTION_KEY does not hold the key it was "
    "encrypted with"
)
