"""Signed tokens, one signer per purpose (each with its own salt).

Shopper links sign only a message id (and a one-letter link name): the server works out the
address and the target from the message, so a token can neither be edited into another
shopper's unsubscribe nor into an open redirect. They go into SMS, where every character
counts (160 make a segment): the signature is an HMAC-SHA256 cut to 96 bits, plenty for a link
that can only be guessed online, and the whole token is about 20 characters."""

from __future__ import annotations

import hashlib
import hmac
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from itsdangerous import BadSignature, Signer, URLSafeSerializer
from itsdangerous.encoding import base64_encode

_sha256 = hashlib.sha256
SETTINGS_FORM_MAX_AGE = timedelta(hours=2)
SKEW = timedelta(minutes=5)  # tokens signed by another process whose clock runs a bit ahead


class InvalidLink(Exception):
    """The token is forged, damaged, or too old."""


class _CompactSigner(Signer):
    """itsdangerous' signer with the signature truncated to 12 bytes (16 characters)."""

    SIGNATURE_BYTES = 12

    def get_signature(self, value: str | bytes) -> bytes:
        full = self.algorithm.get_signature(self.derive_key(), _bytes(value))
        return base64_encode(full[: self.SIGNATURE_BYTES])

    def verify_signature(self, value: str | bytes, sig: str | bytes) -> bool:
        return hmac.compare_digest(_bytes(sig), self.get_signature(value))


def _bytes(value: str | bytes) -> bytes:
    return value.encode() if isinstance(value, str) else value


MAX_ROW_ID = 2**31 - 1  # the id columns are 32-bit integers on PostgreSQL


def _row_id(value: str) -> int:
    """A row id from a signed token: only ever our own, but a database must never be asked
    for one its column cannot hold (PostgreSQL answers that with an error, not "no row")."""
    if not (value.isascii() and value.isdigit()) or int(value) > MAX_ROW_ID:
        raise InvalidLink("malformed token")
    return int(value)


# A click token names its link (the message resolves the name to a target), never a URL.
# The two every SMS may carry are one letter, to keep texts short.
SHORT_CODES = {"cart": "c", "shop": "s"}
LONG_NAMES = {code: name for name, code in SHORT_CODES.items()}
LINK_NAME = re.compile(r"[a-z_]{2,16}")
CLICK_PAYLOAD = re.compile(r"(\d{1,18})([a-z_]{1,16})")


class Links:
    def __init__(self, secret_key: str, public_url: str) -> None:
        self.public_url = public_url.rstrip("/")
        self._unsubscribe = _CompactSigner(secret_key, salt="unsubscribe", digest_method=_sha256)
        self._click = _CompactSigner(secret_key, salt="click", digest_method=_sha256)
        self._confirmation = _CompactSigner(secret_key, salt="confirm", digest_method=_sha256)
        # The signing time travels inside the payload, taken from the caller's clock (only
        # clock.py reads the system clock), rather than from itsdangerous' own timestamp.
        self._settings_form = URLSafeSerializer(secret_key, salt="settings-form")

    def unsubscribe_url(self, message_id: int) -> str:
        return f"{self.public_url}/u/{self._unsubscribe.sign(str(message_id)).decode()}"

    def read_unsubscribe(self, token: str) -> int:
        return self._message_id(self._unsubscribe, token)

    def confirmation_url(self, message_id: int) -> str:
        """In a confirmation request: only its recipient has it, so following it is the
        owner's own word."""
        return f"{self.public_url}/k/{self._confirmation.sign(str(message_id)).decode()}"

    def read_confirmation(self, token: str) -> int:
        return self._message_id(self._confirmation, token)

    @classmethod
    def _message_id(cls, signer: Signer, token: str) -> int:
        return _row_id(cls._unsign(signer, token))

    def click_url(self, message_id: int, link: str) -> str:
        """`link` names a target the message resolves (e.g. "cart"), never a URL."""
        code = SHORT_CODES.get(link)
        if code is None:
            if not LINK_NAME.fullmatch(link) or link in LONG_NAMES:
                raise ValueError(f"not a link name: {link!r}")
            code = link
        return f"{self.public_url}/c/{self._click.sign(f'{message_id}{code}').decode()}"

    def read_click(self, token: str) -> tuple[int, str]:
        match = CLICK_PAYLOAD.fullmatch(self._unsign(self._click, token))
        if match is None:
            raise InvalidLink("malformed click token")
        number, code = match.groups()
        return _row_id(number), LONG_NAMES.get(code, code)

    def settings_form_token(self, shop_id: int, now: datetime) -> str:
        return self._settings_form.dumps([shop_id, int(now.timestamp())])

    def read_settings_form(self, token: str, now: datetime) -> int:
        """The shop id, if the token is genuine and younger than its lifetime at `now`."""
        value = self._load(self._settings_form, token)
        try:
            shop_id, signed = value
            signed_at = datetime.fromtimestamp(int(signed), UTC)
        except (ValueError, TypeError, OverflowError, OSError) as exc:
            raise InvalidLink("malformed settings form token") from exc
        if not timedelta(0) - SKEW <= now - signed_at <= SETTINGS_FORM_MAX_AGE:
            raise InvalidLink("settings form token expired")
        return _row_id(str(shop_id))

    @staticmethod
    def _unsign(signer: Signer, token: str) -> str:
        try:
            return signer.unsign(token).decode("ascii")
        except (BadSignature, ValueError, UnicodeError) as exc:
            raise InvalidLink(str(exc)) from exc

    @staticmethod
    def _load(serializer: URLSafeSerializer, token: str) -> Any:
        try:
            return serializer.loads(token)
        except (BadSignature, ValueError, TypeError) as exc:
            raise InvalidLink(str(exc)) from exc
