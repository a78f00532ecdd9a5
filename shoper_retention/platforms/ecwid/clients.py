"""The REST client of one installed store, built from what we keep about it: the store id
(`Shop.platform_shop_id`) and its token, stored encrypted. Ecwid tokens never expire and have
no refresh (platforms.md), so there is nothing to keep between calls: each reader builds the
client it needs."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

import requests

from shoper_retention.credentials import CredentialBox
from shoper_retention.models import Shop
from shoper_retention.platforms.ecwid.api import EcwidAuthError, EcwidClient, EcwidNotFound
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


_PRODUCT_ID = re.compile(r"[0-9]{1,19}")


def read_product(
    settings: Settings, http: requests.Session | None, shop: Shop, product_id: str, variant_id: str
) -> dict[str, Any] | None:
    """`GET /products/{id}` for the catalogue and stock readers: None for an id Ecwid cannot
    have (its ids are integers: the page made it up) or a product it does not know; EcwidError
    when it cannot tell now. No waiting out a 429: both readers simply ask again later."""
    if not _PRODUCT_ID.fullmatch(product_id) or (
        variant_id and not _PRODUCT_ID.fullmatch(variant_id)
    ):
        return None
    try:
        return client_for(settings, http, shop, max_retries=0).product(product_id)
    except EcwidNotFound:
        return None
