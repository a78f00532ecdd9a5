"""Ecwid signatures: webhook deliveries and the encrypted payload of the admin iframe.

Pure functions, no I/O, pinned by known vectors in the tests. The webhook check compares in
constant time and fails closed (a missing header, secret or field is a rejection, never an
exception); the payload either decrypts to what Ecwid promises or is Forbidden.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from typing import Any

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from shoper_retention.errors import BadInput, Forbidden
from shoper_retention.ingest.untrusted_json import parse_object

__all__ = ["decrypt_payload", "verify_webhook", "webhook_signature"]

BLOCK = 16  # AES block size, and the length of the IV in front of the ciphertext
KEY_LENGTH = 16  # AES-128: the key is the first 16 characters of the client secret
# A real payload is a few hundred characters (a store id, two tokens, a language); anything
# much longer is not Ecwid's, and is refused before it costs a decryption.
MAX_PAYLOAD_CHARS = 4096
PAYLOAD_DEPTH = 4
_URLSAFE = bytes.maketrans(b"-_", b"+/")
_BASE64_ALPHABET = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_+/")


def webhook_signature(event_created: int | str, event_id: str | int, client_secret: str) -> str:
    """Standard base64 of HMAC-SHA256(client_secret, "<eventCreated>.<eventId>").

    Only those two body fields are signed, not the body: storeId, eventType and entityId ride
    along unsigned, so whatever a delivery names is read back over REST before it is acted on.
    https://api-docs.ecwid.com/reference/authenticate-webhooks-with-signature"""
    message = f"{event_created}.{event_id}".encode("utf-8", "surrogatepass")
    digest = hmac.new(client_secret.encode(), message, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def verify_webhook(
    headers_signature: str | None,
    event_created: int | str | None,
    event_id: str | int | None,
    client_secret: str,
) -> bool:
    """True only if `X-Ecwid-Webhook-Signature` signs this eventCreated and eventId.

    "If webhooks come without this header, they are not from Ecwid" (the page above): a
    missing header, secret or field is False. Bytes are compared, not str, because
    `hmac.compare_digest` raises TypeError on non-ASCII str and the header may hold anything."""
    if not headers_signature or not client_secret or event_created is None or not event_id:
        return False
    expected = webhook_signature(event_created, event_id, client_secret)
    given = headers_signature.strip().encode("utf-8", "surrogatepass")
    return hmac.compare_digest(expected.encode("ascii"), given)


def decrypt_payload(payload: str, client_secret: str) -> dict[str, str]:
    """The store's credentials from the iframe's `payload`: store_id, access_token and, when
    sent, public_token, lang and view_mode (all as text). Forbidden for anything else.

    URL-safe base64 (padding may be missing) of a 16-byte IV and the AES-128-CBC ciphertext
    (PKCS#7), keyed with the first 16 characters of the client secret.
    https://api-docs.ecwid.com/reference/access-store-data"""
    key = client_secret[:KEY_LENGTH].encode()
    if len(key) != KEY_LENGTH:
        raise Forbidden("Ecwid is not configured on this server")
    raw = _unbase64(payload)
    if len(raw) < 2 * BLOCK or len(raw) % BLOCK:
        raise Forbidden("bad payload: open the app again from your Ecwid admin")
    decryptor = Cipher(algorithms.AES(key), modes.CBC(raw[:BLOCK])).decryptor()
    padded = decryptor.update(raw[BLOCK:]) + decryptor.finalize()
    unpadder = padding.PKCS7(BLOCK * 8).unpadder()
    try:
        text = unpadder.update(padded) + unpadder.finalize()
        data = parse_object(text, max_depth=PAYLOAD_DEPTH)
    except (ValueError, BadInput):
        # A wrong key almost always breaks the padding; when it does not, the text is junk.
        raise Forbidden("bad payload: open the app again from your Ecwid admin") from None
    return _credentials(data)


def _unbase64(payload: str) -> bytes:
    value = payload.strip().encode("ascii", "replace").rstrip(b"=")
    if not value or len(value) > MAX_PAYLOAD_CHARS or not set(value) <= _BASE64_ALPHABET:
        raise Forbidden("bad payload: open the app again from your Ecwid admin")
    value = value.translate(_URLSAFE)
    try:
        return base64.b64decode(value + b"=" * (-len(value) % 4), validate=True)
    except (binascii.Error, ValueError):  # e.g. a length of 4n+1: no base64 text has it
        raise Forbidden("bad payload: open the app again from your Ecwid admin") from None


def _credentials(data: dict[str, Any]) -> dict[str, str]:
    store_id = data.get("store_id")
    if isinstance(store_id, bool) or not isinstance(store_id, int | str):
        raise Forbidden("bad payload: no store id")
    store_id = str(store_id).strip()
    token = data.get("access_token")
    if not (store_id.isascii() and store_id.isdigit() and 0 < len(store_id) <= 20):
        raise Forbidden("bad payload: no store id")
    if not isinstance(token, str) or not token.strip():
        raise Forbidden("bad payload: no access token")
    found = {"store_id": str(int(store_id)), "access_token": token.strip()}
    for name in ("public_token", "lang", "view_mode"):
        value = data.get(name)
        found[name] = value.strip() if isinstance(value, str) else ""
    return found
