"""The REST client of one installed store, built from what we keep about it: the store id
(`Shop.platform_shop_id`) and its token, stored encrypted. Ecwid tokens never expire and have
no refresh (platforms.md), so there is nothing to keep between calls: each reader builds the
client it needs."""

from __future__ import annotations

import time
from collections.abc import Callable

import requests

from shoper_retention.credentials import CredentialBox
from shoper_retention.models import Shop
from shoper_retention.platforms.ecwid.api import EcwidAuthError, EcwidClient
from shoper_retention.settings import Settings

PLATFORM = "ecwid"  # Shop.platform of an Ecwid store


def client_for(
    settings: Settings,
    http: requests.Session | None,
    shop: Shop,
    *,
    max_retries: int = 2,
    sleep: Callable[[float], None] = time.sleep,
) -> EcwidClient:
    """The shop's client; EcwidAuthError when no token is stored (never installed through
    OAuth, or the secret key changed since: either way the merchant must reinstall)."""
    token = CredentialBox(settings.secret_key).open(shop.access_token_enc)
    if not token:
        raise EcwidAuthError("no access token stored for this store")
    return EcwidClient(
        settings.ecwid_api_url,
        shop.platform_shop_id,
        token,
        http=http,
        max_retries=max_retries,
        sleep=sleep,
    )
