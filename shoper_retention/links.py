"""Signed tokens, one serializer per purpose (each with its own salt).

Shopper links sign only a message id (and a link name): the server works out the address and the
target from the message, so a token can neither be edited into another shopper's unsubscribe
nor into an open redirect, and it stays short enough for an SMS."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from itsdangerous import BadSignature, URLSafeSerializer

SETTINGS_FORM_MAX_AGE = timedelta(hours=2)
SKEW = timedelta(minutes=5)  # tokens signed by another process whose clock runs a bit ahead


class InvalidLink(Exception):
    """The token is forged, damaged, or too old."""


class Links:
    def __init__(self, secret_key: str, public_url: str) -> None:
        self.public_url = public_url.rstrip("/")
        self._unsubscribe = URLSafeSerializer(secret_key, salt="unsubscribe")
        self._click = URLSafeSerializer(secret_key, salt="click")
        # The signing time travels inside the payload, taken from the caller's clock (only
        # clock.py reads the system clock), rather than from itsdangerous' own timestamp.
        self._settings_form = URLSafeSerializer(secret_key, salt="settings-form")

    def unsubscribe_url(self, message_id: int) -> str:
        return f"{self.public_url}/u/{self._unsubscribe.dumps(message_id)}"

    def read_unsubscribe(self, token: str) -> int:
        return int(self._load(self._unsubscribe, token))

    def click_url(self, message_id: int, link: str) -> str:
        """`link` names a target the message resolves (e.g. "cart"), never a URL."""
        return f"{self.public_url}/c/{self._click.dumps([message_id, link])}"

    def read_click(self, token: str) -> tuple[int, str]:
        value = self._load(self._click, token)
        if not isinstance(value, list) or len(value) != 2:
            raise InvalidLink("malformed click token")
        return int(value[0]), str(value[1])

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
        return int(shop_id)

    @staticmethod
    def _load(serializer: URLSafeSerializer, token: str) -> Any:
        try:
            return serializer.loads(token)
        except (BadSignature, ValueError, TypeError) as exc:
            raise InvalidLink(str(exc)) from exc
