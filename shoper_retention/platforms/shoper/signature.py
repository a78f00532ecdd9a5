"""Shoper signatures: App Store callbacks, the embedded iframe and webhook deliveries.

Pure functions, no I/O, so every rule is pinned by known vectors in the tests. Every check
compares in constant time and fails closed: a missing field, an empty secret or a malformed
signature is a rejection, never an exception.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

__all__ = [
    "appstore_hash",
    "iframe_hash",
    "verify_appstore",
    "verify_iframe",
    "verify_webhook",
    "webhook_sha1",
]

# Only these iframe parameters are signed by Shoper; `locale`, `translations` and `id` ride along
# unsigned and must be treated as untrusted input (Shoper's app samples sign exactly these three).
IFRAME_SIGNED_FIELDS = ("place", "shop", "timestamp")


def _hmac_sha512_hex(secret: str, message: str) -> str:
    return hmac.new(secret.encode("utf-8"), message.encode("utf-8"), hashlib.sha512).hexdigest()


def _same_hex(expected: str, given: str) -> bool:
    """Constant-time, case-insensitive comparison of two hex digests.

    Compares bytes rather than str because `hmac.compare_digest` raises TypeError on non-ASCII
    str, and an attacker-supplied signature may contain anything.
    """
    return hmac.compare_digest(
        expected.lower().encode("utf-8"), given.strip().lower().encode("utf-8")
    )


def appstore_hash(params: Mapping[str, str], secret: str) -> str:
    """HMAC-SHA512 (lowercase hex) of an App Store callback, as Shoper computes it.

    Every field except `hash` is signed, sorted by key and joined as `key=value` with `&` using
    the decoded values (no re-encoding), so fields Shoper adds later are covered automatically.
    """
    message = "&".join(f"{key}={params[key]}" for key in sorted(params) if key != "hash")
    return _hmac_sha512_hex(secret, message)


def verify_appstore(params: Mapping[str, str], secret: str) -> bool:
    """True only if the callback's `hash` matches; False when it or the secret is missing."""
    given = params.get("hash")
    if not given or not secret:
        return False
    return _same_hex(appstore_hash(params, secret), given)


def iframe_hash(place: str, shop: str, timestamp: str, secret: str) -> str:
    """HMAC-SHA512 (lowercase hex) of `place=..&shop=..&timestamp=..` for the admin iframe."""
    return _hmac_sha512_hex(secret, f"place={place}&shop={shop}&timestamp={timestamp}")


def verify_iframe(params: Mapping[str, str], secret: str) -> bool:
    """True only if the iframe's `hash` signs its place, shop and timestamp.

    Other query parameters are ignored here (they are not signed); any of the three signed ones
    missing, or the hash or secret missing, is a rejection.
    """
    given = params.get("hash")
    if not given or not secret:
        return False
    values = [params.get(name) for name in IFRAME_SIGNED_FIELDS]
    if any(value is None for value in values):
        return False
    place, shop, timestamp = (str(value) for value in values)
    return _same_hex(iframe_hash(place, shop, timestamp, secret), given)


def webhook_sha1(webhook_id: str, secret: str, body: bytes) -> str:
    """Hex SHA-1 of `<X-Webhook-Id>:<secret>:<raw body>`, Shoper's `X-Webhook-Sha1`.

    The raw request bytes are hashed as received: re-serialised JSON would differ in spacing,
    key order or escaping and never match.
    """
    return hashlib.sha1(f"{webhook_id}:{secret}:".encode() + body).hexdigest()


def verify_webhook(webhook_id: str | None, secret: str, body: bytes, signature: str | None) -> bool:
    """True only if `signature` (X-Webhook-Sha1, any hex case) matches the delivery.

    `X-Webhook-Id` names the webhook configuration, not the delivery, so it is part of the
    signed text but no replay protection: callers deduplicate deliveries themselves.
    """
    if not webhook_id or not secret or not signature:
        return False
    return _same_hex(webhook_sha1(webhook_id, secret, body), signature)
