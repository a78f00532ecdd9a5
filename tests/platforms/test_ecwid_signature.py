"""Ecwid's webhook signature and the iframe payload, on known vectors made with openssl (an
implementation independent of ours), plus the ways a forged or damaged input must fail."""

from __future__ import annotations

import base64
import json
import os

import pytest
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from shoper_retention.errors import Forbidden
from shoper_retention.platforms.ecwid.signature import (
    decrypt_payload,
    verify_webhook,
    webhook_signature,
)

# printf '%s' '1634209655.95ed494f-362d-4fca-933d-f5c7064b04bb' \
#   | openssl dgst -sha256 -hmac 'abcde123456789' -binary | base64
WEBHOOK_SECRET = "abcde123456789"
EVENT_CREATED = 1634209655
EVENT_ID = "95ed494f-362d-4fca-933d-f5c7064b04bb"
KNOWN_SIGNATURE = "NoLsApTwIZWkNZqX2Bi85FLwQkjL6WSGBoUs7unubrM="

# openssl enc -aes-128-cbc -K 436c69656e745365637265744b657931 (= "ClientSecretKey1")
#   -iv 000102030405060708090a0b0c0d0e0f, IV prepended, base64 with - and _, padding kept.
PAYLOAD_SECRET = "ClientSecretKey1-and-the-rest-of-the-secret"
PLAIN = {
    "store_id": 1003,
    "access_token": "secret_abc123",
    "public_token": "public_xyz",
    "lang": "pl",
    "view_mode": "PAGE",
}
KNOWN_PAYLOAD = (
    "AAECAwQFBgcICQoLDA0OD1eV_jIefcuPC6iJJcPxh94DENXXm6ZRC2OIRxJNLLUqD-dYyF1b4GHjRvHdat25"
    "aZGs-5ETp4c8ndsvyYyLSGlN2b6UipUsaOjuKuyc3-qVomgWUAZpkq1QeUEugfvfhVBW3PdtWAesZo6Kr0sLC2Q="
)
EXPECTED = {
    "store_id": "1003",
    "access_token": "secret_abc123",
    "public_token": "public_xyz",
    "lang": "pl",
    "view_mode": "PAGE",
}


def encrypt(plain: bytes, secret: str, iv: bytes | None = None, *, pad: bool = True) -> str:
    """What Ecwid sends: url-safe base64 of IV + AES-128-CBC(PKCS#7), padding stripped."""
    iv = iv or os.urandom(16)
    if pad:
        padder = padding.PKCS7(128).padder()
        plain = padder.update(plain) + padder.finalize()
    encryptor = Cipher(algorithms.AES(secret[:16].encode()), modes.CBC(iv)).encryptor()
    raw = iv + encryptor.update(plain) + encryptor.finalize()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


# --- webhooks ------------------------------------------------------------------------------


def test_an_event_id_no_codec_can_encode_is_a_rejection_not_an_exception() -> None:
    assert verify_webhook(KNOWN_SIGNATURE, EVENT_CREATED, "\ud800", WEBHOOK_SECRET) is False


def test_the_signature_matches_the_known_vector() -> None:
    assert webhook_signature(EVENT_CREATED, EVENT_ID, WEBHOOK_SECRET) == KNOWN_SIGNATURE
    assert verify_webhook(KNOWN_SIGNATURE, EVENT_CREATED, EVENT_ID, WEBHOOK_SECRET)
    assert verify_webhook(f" {KNOWN_SIGNATURE} ", str(EVENT_CREATED), EVENT_ID, WEBHOOK_SECRET)


@pytest.mark.parametrize(
    ("signature", "created", "event_id", "secret"),
    [
        (None, EVENT_CREATED, EVENT_ID, WEBHOOK_SECRET),
        ("", EVENT_CREATED, EVENT_ID, WEBHOOK_SECRET),
        (KNOWN_SIGNATURE, EVENT_CREATED, EVENT_ID, ""),
        (KNOWN_SIGNATURE, None, EVENT_ID, WEBHOOK_SECRET),
        (KNOWN_SIGNATURE, EVENT_CREATED, "", WEBHOOK_SECRET),
        (KNOWN_SIGNATURE, EVENT_CREATED + 1, EVENT_ID, WEBHOOK_SECRET),
        (KNOWN_SIGNATURE, EVENT_CREATED, EVENT_ID.upper(), WEBHOOK_SECRET),
        (KNOWN_SIGNATURE, EVENT_CREATED, EVENT_ID, WEBHOOK_SECRET + "x"),
        (KNOWN_SIGNATURE.lower(), EVENT_CREATED, EVENT_ID, WEBHOOK_SECRET),
        (KNOWN_SIGNATURE.rstrip("="), EVENT_CREATED, EVENT_ID, WEBHOOK_SECRET),
        ("Zażółć\udc80\ud800", EVENT_CREATED, EVENT_ID, WEBHOOK_SECRET),
        (base64.b64encode(base64.b64decode(KNOWN_SIGNATURE)).hex(), EVENT_CREATED, EVENT_ID, "x"),
    ],
    ids=[
        "missing-header",
        "empty-header",
        "no-secret",
        "no-eventCreated",
        "no-eventId",
        "other-eventCreated",
        "other-eventId",
        "other-secret",
        "case-changed",
        "padding-cut",
        "non-ascii",
        "hex-of-it",
    ],
)
def test_anything_else_fails_closed(
    signature: str | None, created: int | None, event_id: str, secret: str
) -> None:
    assert verify_webhook(signature, created, event_id, secret) is False


# --- the iframe payload --------------------------------------------------------------------


def test_the_known_payload_decrypts_to_the_stores_credentials() -> None:
    assert decrypt_payload(KNOWN_PAYLOAD, PAYLOAD_SECRET) == EXPECTED
    # Ecwid may leave the base64 padding out.
    assert decrypt_payload(KNOWN_PAYLOAD.rstrip("="), PAYLOAD_SECRET) == EXPECTED


def test_only_the_first_16_characters_of_the_secret_are_the_key() -> None:
    assert decrypt_payload(KNOWN_PAYLOAD, "ClientSecretKey1") == EXPECTED
    with pytest.raises(Forbidden):
        decrypt_payload(KNOWN_PAYLOAD, "ClientSecretKey2-and-the-rest-of-the-secret")


def test_a_string_store_id_and_missing_optional_fields_are_accepted() -> None:
    payload = encrypt(json.dumps({"store_id": "42", "access_token": "t"}).encode(), PAYLOAD_SECRET)
    assert decrypt_payload(payload, PAYLOAD_SECRET) == {
        "store_id": "42",
        "access_token": "t",
        "public_token": "",
        "lang": "",
        "view_mode": "",
    }


def flipped(payload: str, at: int) -> str:
    raw = bytearray(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    raw[at] ^= 0x01
    return base64.urlsafe_b64encode(bytes(raw)).decode().rstrip("=")


@pytest.mark.parametrize(
    "payload",
    [
        "",
        "   ",
        "not base64 at all!",
        KNOWN_PAYLOAD[:-5] + "*" + KNOWN_PAYLOAD[-4:],
        KNOWN_PAYLOAD[:1],  # a length no base64 text has
        KNOWN_PAYLOAD[:22],  # the IV alone
        KNOWN_PAYLOAD[:40],  # not a whole number of blocks
        flipped(KNOWN_PAYLOAD, -1),  # the last block's padding is broken
        "A" * 5000,  # far longer than any payload Ecwid sends
        "ĄĘ" + KNOWN_PAYLOAD,
        encrypt(b'{"store_id": 1003}', PAYLOAD_SECRET),
        encrypt(b'{"access_token": "t"}', PAYLOAD_SECRET),
        encrypt(b'{"store_id": 1003, "access_token": ""}', PAYLOAD_SECRET),
        encrypt(b'{"store_id": true, "access_token": "t"}', PAYLOAD_SECRET),
        encrypt(b'{"store_id": "-3", "access_token": "t"}', PAYLOAD_SECRET),
        encrypt(b'{"store_id": 1003, "access_token": 5}', PAYLOAD_SECRET),
        encrypt(b'[1003, "t"]', PAYLOAD_SECRET),
        encrypt(b"not json", PAYLOAD_SECRET),
        encrypt(b'{"store_id": 1003, "access_token": "t\\ud800"}', PAYLOAD_SECRET),
        encrypt(b"\xff\xfe{}", PAYLOAD_SECRET),
        encrypt(b"0123456789abcdef", PAYLOAD_SECRET, pad=False),  # no PKCS#7 padding
        encrypt(json.dumps(PLAIN).encode(), "SomeoneElsesSecret-0123"),
    ],
    ids=[
        "empty",
        "blank",
        "not-base64",
        "bad-character",
        "impossible-length",
        "iv-only",
        "partial-block",
        "broken-padding",
        "too-long",
        "non-ascii",
        "no-access-token",
        "no-store-id",
        "empty-token",
        "boolean-store-id",
        "negative-store-id",
        "numeric-token",
        "not-an-object",
        "not-json",
        "lone-surrogate",
        "not-utf8",
        "unpadded",
        "another-apps-secret",
    ],
)
def test_a_damaged_forged_or_foreign_payload_is_forbidden(payload: str) -> None:
    with pytest.raises(Forbidden):
        decrypt_payload(payload, PAYLOAD_SECRET)


def test_a_server_without_the_secret_refuses_every_payload() -> None:
    with pytest.raises(Forbidden):
        decrypt_payload(KNOWN_PAYLOAD, "")
