"""Known-vector tests for Shoper's three signatures.

Expected digests are computed outside the code under test: the hex constants come from
`openssl dgst -sha512 -hmac` / `sha1sum` run on the literal strings below, the others from
hashlib/hmac applied to a message written out by hand.
"""

from __future__ import annotations

import hashlib
import hmac

import pytest

from shoper_retention.platforms.shoper.signature import (
    appstore_hash,
    iframe_hash,
    verify_appstore,
    verify_iframe,
    verify_webhook,
    webhook_sha1,
)

APPSTORE_SECRET = "appstore-s3cret"
SHOP = "0123456789abcdef0123456789abcdef01234567"

# printf '%s' 'action=install&application_code=app-123&application_version=4&auth_code=c0de&shop=
# 0123456789abcdef0123456789abcdef01234567&shop_url=https://sklep.example.pl&timestamp=
# 2025-03-30 02:30:00' | openssl dgst -sha512 -hmac 'appstore-s3cret'   (one line, no breaks)
INSTALL_HASH = (
    "7f8b9b5a63920f9e8bacdd6816d9686d881e78a716f183a3447a7c0589d410ca"
    "422d4ae5b069282dcb8465ce4064c2a70abccab542093e07d80f847da2d5f7ee"
)
# printf '%s' 'place=app&shop=0123456789abcdef0123456789abcdef01234567&timestamp=
# 2025-03-30 02:30:00' | openssl dgst -sha512 -hmac 'appstore-s3cret'
IFRAME_HASH = (
    "629ebf6ad7e05347ca018fd47772b89341e95322fca92865c610377835da6f35"
    "28dfcc55d5637bfc81cc2fe1501a7dbaef51c6a9982cc3159f57f5fdf05649d8"
)
WEBHOOK_ID = "17"
WEBHOOK_SECRET = "hook-s3cret"
WEBHOOK_BODY = b'{"order_id":"1001","email":"jan@example.pl"}'
# printf '%s' '17:hook-s3cret:{"order_id":"1001","email":"jan@example.pl"}' | sha1sum
WEBHOOK_SIGNATURE = "ba41dda4d9e8c6aeb2a7dadf6c92bc251f52a5ef"


def hmac_sha512(secret: str, message: str) -> str:
    return hmac.new(secret.encode(), message.encode("utf-8"), hashlib.sha512).hexdigest()


@pytest.fixture
def install_params() -> dict[str, str]:
    # Deliberately not in sorted order: the signer must sort.
    return {
        "timestamp": "2025-03-30 02:30:00",
        "shop_url": "https://sklep.example.pl",
        "shop": SHOP,
        "action": "install",
        "auth_code": "c0de",
        "application_version": "4",
        "application_code": "app-123",
        "hash": INSTALL_HASH,
    }


@pytest.fixture
def iframe_params() -> dict[str, str]:
    return {
        "place": "app",
        "shop": SHOP,
        "timestamp": "2025-03-30 02:30:00",
        "hash": IFRAME_HASH,
        "locale": "pl_PL",
        "translations": "pl_PL,en_GB",
        "id": "[1,2,3]",
    }


# --- App Store callbacks -------------------------------------------------------------------


def test_appstore_hash_matches_openssl_vector(install_params: dict[str, str]) -> None:
    assert appstore_hash(install_params, APPSTORE_SECRET) == INSTALL_HASH


def test_appstore_hash_ignores_the_hash_field_itself(install_params: dict[str, str]) -> None:
    without_hash = {k: v for k, v in install_params.items() if k != "hash"}
    install_params["hash"] = "anything"
    assert appstore_hash(install_params, APPSTORE_SECRET) == appstore_hash(
        without_hash, APPSTORE_SECRET
    )


def test_genuine_install_callback_verifies(install_params: dict[str, str]) -> None:
    assert verify_appstore(install_params, APPSTORE_SECRET) is True


def test_uppercase_hex_hash_still_verifies(install_params: dict[str, str]) -> None:
    install_params["hash"] = INSTALL_HASH.upper()
    assert verify_appstore(install_params, APPSTORE_SECRET) is True


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("shop", "ffffffffffffffffffffffffffffffffffffffff"),
        ("action", "uninstall"),
        ("auth_code", "stolen"),
        ("shop_url", "https://evil.example.com"),
    ],
)
def test_tampered_callback_field_is_rejected(
    install_params: dict[str, str], field: str, value: str
) -> None:
    install_params[field] = value
    assert verify_appstore(install_params, APPSTORE_SECRET) is False


def test_unknown_field_added_by_an_attacker_is_rejected(install_params: dict[str, str]) -> None:
    install_params["trial"] = "1"
    assert verify_appstore(install_params, APPSTORE_SECRET) is False


def test_unknown_future_field_signed_by_shoper_is_covered() -> None:
    params = {
        "action": "billing_subscription",
        "shop": SHOP,
        "subscription_end_time": "2025-12-31 23:59:59",
        "trial": "0",
        "zz_future": "x",
    }
    message = (
        f"action=billing_subscription&shop={SHOP}"
        "&subscription_end_time=2025-12-31 23:59:59&trial=0&zz_future=x"
    )
    params["hash"] = hmac_sha512(APPSTORE_SECRET, message)
    assert appstore_hash(params, APPSTORE_SECRET) == params["hash"]
    assert verify_appstore(params, APPSTORE_SECRET) is True


def test_unicode_values_are_signed_as_utf8_without_reencoding() -> None:
    params = {"shop": SHOP, "action": "upgrade", "shop_url": "https://sklep-żółw.pl/?a=1&b=ą ę"}
    message = f"action=upgrade&shop={SHOP}&shop_url=https://sklep-żółw.pl/?a=1&b=ą ę"
    expected = hmac_sha512(APPSTORE_SECRET, message)
    assert appstore_hash(params, APPSTORE_SECRET) == expected
    params["hash"] = expected
    assert verify_appstore(params, APPSTORE_SECRET) is True


def test_wrong_secret_is_rejected(install_params: dict[str, str]) -> None:
    assert verify_appstore(install_params, "another-secret") is False


@pytest.mark.parametrize("given", [None, ""])
def test_missing_or_empty_hash_is_rejected(
    install_params: dict[str, str], given: str | None
) -> None:
    if given is None:
        del install_params["hash"]
    else:
        install_params["hash"] = given
    assert verify_appstore(install_params, APPSTORE_SECRET) is False


def test_empty_secret_is_rejected_even_with_a_matching_hash(
    install_params: dict[str, str],
) -> None:
    install_params["hash"] = appstore_hash(install_params, "")
    assert verify_appstore(install_params, "") is False


@pytest.mark.parametrize("given", ["not-hex", "żółw", INSTALL_HASH[:-2], INSTALL_HASH + "00"])
def test_malformed_hash_is_rejected_without_raising(
    install_params: dict[str, str], given: str
) -> None:
    install_params["hash"] = given
    assert verify_appstore(install_params, APPSTORE_SECRET) is False


# --- Embedded iframe -----------------------------------------------------------------------


def test_iframe_hash_matches_openssl_vector() -> None:
    assert iframe_hash("app", SHOP, "2025-03-30 02:30:00", APPSTORE_SECRET) == IFRAME_HASH


def test_genuine_iframe_verifies_with_unsigned_extras(iframe_params: dict[str, str]) -> None:
    assert verify_iframe(iframe_params, APPSTORE_SECRET) is True


def test_unsigned_iframe_extras_can_change_without_breaking_the_check(
    iframe_params: dict[str, str],
) -> None:
    # locale/id are not signed by Shoper: this is exactly why they must be treated as untrusted.
    iframe_params["locale"] = "en_GB"
    iframe_params["id"] = '["1 OR 1=1"]'
    iframe_params["unknown"] = "x"
    assert verify_iframe(iframe_params, APPSTORE_SECRET) is True


@pytest.mark.parametrize(
    ("field", "value"),
    [("place", "order"), ("shop", "f" * 40), ("timestamp", "2025-03-30 02:30:01")],
)
def test_tampered_iframe_field_is_rejected(
    iframe_params: dict[str, str], field: str, value: str
) -> None:
    iframe_params[field] = value
    assert verify_iframe(iframe_params, APPSTORE_SECRET) is False


@pytest.mark.parametrize("field", ["place", "shop", "timestamp", "hash"])
def test_iframe_missing_a_signed_field_is_rejected(
    iframe_params: dict[str, str], field: str
) -> None:
    del iframe_params[field]
    assert verify_iframe(iframe_params, APPSTORE_SECRET) is False


def test_iframe_with_empty_secret_is_rejected(iframe_params: dict[str, str]) -> None:
    iframe_params["hash"] = iframe_hash("app", SHOP, "2025-03-30 02:30:00", "")
    assert verify_iframe(iframe_params, "") is False


def test_iframe_unicode_place_is_signed_as_utf8() -> None:
    expected = hmac_sha512(APPSTORE_SECRET, f"place=zamówienie&shop={SHOP}&timestamp=ą")
    assert iframe_hash("zamówienie", SHOP, "ą", APPSTORE_SECRET) == expected
    params = {"place": "zamówienie", "shop": SHOP, "timestamp": "ą", "hash": expected}
    assert verify_iframe(params, APPSTORE_SECRET) is True


# --- Webhooks ------------------------------------------------------------------------------


def test_webhook_sha1_matches_sha1sum_vector() -> None:
    assert webhook_sha1(WEBHOOK_ID, WEBHOOK_SECRET, WEBHOOK_BODY) == WEBHOOK_SIGNATURE


def test_genuine_webhook_verifies_in_any_hex_case() -> None:
    assert verify_webhook(WEBHOOK_ID, WEBHOOK_SECRET, WEBHOOK_BODY, WEBHOOK_SIGNATURE) is True
    assert (
        verify_webhook(WEBHOOK_ID, WEBHOOK_SECRET, WEBHOOK_BODY, WEBHOOK_SIGNATURE.upper()) is True
    )


def test_webhook_with_tampered_body_is_rejected() -> None:
    body = WEBHOOK_BODY.replace(b"1001", b"1002")
    assert verify_webhook(WEBHOOK_ID, WEBHOOK_SECRET, body, WEBHOOK_SIGNATURE) is False


def test_reserialised_json_body_does_not_verify() -> None:
    # Same JSON value, different bytes: the raw body must be hashed, never a re-dump.
    body = b'{"order_id": "1001", "email": "jan@example.pl"}'
    assert verify_webhook(WEBHOOK_ID, WEBHOOK_SECRET, body, WEBHOOK_SIGNATURE) is False


def test_webhook_signed_for_another_webhook_id_is_rejected() -> None:
    assert verify_webhook("18", WEBHOOK_SECRET, WEBHOOK_BODY, WEBHOOK_SIGNATURE) is False


def test_webhook_with_wrong_secret_is_rejected() -> None:
    assert verify_webhook(WEBHOOK_ID, "guess", WEBHOOK_BODY, WEBHOOK_SIGNATURE) is False


@pytest.mark.parametrize(
    ("webhook_id", "secret", "signature"),
    [
        (WEBHOOK_ID, WEBHOOK_SECRET, None),
        (WEBHOOK_ID, WEBHOOK_SECRET, ""),
        (None, WEBHOOK_SECRET, WEBHOOK_SIGNATURE),
        ("", WEBHOOK_SECRET, WEBHOOK_SIGNATURE),
        (WEBHOOK_ID, "", WEBHOOK_SIGNATURE),
    ],
)
def test_webhook_missing_a_part_is_rejected(
    webhook_id: str | None, secret: str, signature: str | None
) -> None:
    assert verify_webhook(webhook_id, secret, WEBHOOK_BODY, signature) is False


def test_webhook_empty_secret_is_rejected_even_when_the_digest_matches() -> None:
    signature = hashlib.sha1(b"17::" + WEBHOOK_BODY).hexdigest()
    assert verify_webhook(WEBHOOK_ID, "", WEBHOOK_BODY, signature) is False


def test_webhook_unicode_body_is_hashed_as_raw_bytes() -> None:
    body = '{"firstname":"Zażółć","lastname":"Gęślą"}'.encode()
    expected = hashlib.sha1(b"17:hook-s3cret:" + body).hexdigest()
    assert webhook_sha1(WEBHOOK_ID, WEBHOOK_SECRET, body) == expected
    assert verify_webhook(WEBHOOK_ID, WEBHOOK_SECRET, body, expected) is True
    # The same text with JSON \u escapes is a different byte string.
    escaped = b'{"firstname":"Za\\u017c\\u00f3\\u0142\\u0107","lastname":"G\\u0119\\u015bl\\u0105"}'
    assert verify_webhook(WEBHOOK_ID, WEBHOOK_SECRET, escaped, expected) is False


def test_webhook_malformed_signature_is_rejected_without_raising() -> None:
    assert verify_webhook(WEBHOOK_ID, WEBHOOK_SECRET, WEBHOOK_BODY, "żółw") is False
