"""The entry to the settings page from the Ecwid admin: the app's tab opens `GET /ecwid/app`
with `?payload=`, the store's id and token encrypted with our client secret
(signature.decrypt_payload). Only Ecwid and we know that secret, so a payload that decrypts is
Ecwid's word for which store's admin is asking.

Ecwid hands a native app its token here and nowhere else ("store the token server-side the
first time", platforms.md), so the first opening installs the store, and an opening after an
uninstall installs it again, but only once Ecwid accepts the payload's token: a payload stays
decryptable for ever, and one kept in browser history or a proxy log must not bring an
uninstalled store back."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy.orm import Session

from shoper_retention.errors import Forbidden
from shoper_retention.models import Shop
from shoper_retention.platforms.ecwid import signature
from shoper_retention.platforms.ecwid.install import EcwidInstaller, find_shop


def shop_for_payload(
    session: Session, args: Mapping[str, str], installer: EcwidInstaller, now: datetime
) -> Shop | None:
    """The store whose admin opened the page; None when the URL carries no Ecwid payload.
    Forbidden when it does but does not decrypt, or brings a token Ecwid refuses;
    UpstreamFailed when a new token cannot be checked now.

    Called in the settings page's writable transaction, so Ecwid is asked as little as can
    be: nothing for a known store opened with its stored token; one `GET /profile` to check
    any other token (whose answer is the store's profile too). Saving the storefront config
    is left to the worker (install.SETUP_PENDING)."""
    payload = args.get("payload")
    if payload is None:
        return None
    secret = installer.settings.ecwid_client_secret
    if not installer.settings.ecwid_enabled:
        raise Forbidden("Ecwid is not configured on this server")
    found = signature.decrypt_payload(payload, secret)
    store_id, token = found["store_id"], found["access_token"]
    shop = find_shop(session, store_id)
    if shop is not None and shop.active:
        if installer.box.open(shop.access_token_enc) != token:
            installer.adopt_token(session, shop, token, now)
        return shop
    profile = installer.check_token(store_id, token)  # before anything is written
    return installer.activate(session, store_id, token, now, profile=profile)
