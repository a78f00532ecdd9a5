"""Encrypt credentials at rest (platform tokens, webhook secrets, SMSAPI tokens).

The key is derived from SHOPER_RETENTION_SECRET_KEY, so a database dump alone reveals nothing."""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken


class CredentialBox:
    def __init__(self, secret_key: str) -> None:
        digest = hashlib.sha256(b"shoper-retention/credentials/v1:" + secret_key.encode()).digest()
        self._fernet = Fernet(base64.urlsafe_b64encode(digest))

    def __repr__(self) -> str:
        return "CredentialBox(<hidden>)"

    def seal(self, plaintext: str | None) -> str | None:
        if not plaintext:
            return None
        return self._fernet.encrypt(plaintext.encode()).decode()

    def open(self, ciphertext: str | None) -> str:
        """Empty string when nothing is stored or the key changed (the shop must reinstall)."""
        if not ciphertext:
            return ""
        try:
            return self._fernet.decrypt(ciphertext.encode()).decode()
        except InvalidToken:
            return ""
