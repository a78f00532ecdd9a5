"""The REST clients the readers (catalogue, stock, history) keep: one per shop and token, so
the leaky-bucket pacing carries over from one read to the next. They never refresh tokens (the
maintain job does, in its own transaction): a token that changed gets a new client."""

from __future__ import annotations

import time
from collections.abc import Callable

import requests

from shoper_retention.credentials import CredentialBox
from shoper_retention.models import Shop
from shoper_retention.platforms.shoper import api
from shoper_retention.settings import Settings


class ShopClients:
    def __init__(
        self,
        settings: Settings,
        http: requests.Session | None = None,
        *,
        max_retries: int = 0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.box = CredentialBox(settings.secret_key)
        self.http = http or requests.Session()
        self.max_retries = max_retries
        self.sleep = sleep
        self._clients: dict[tuple[int, str], api.ShoperClient] = {}

    def get(self, shop: Shop) -> api.ShoperClient | None:
        """The shop's client; None when no access token is stored for it."""
        token = self.box.open(shop.access_token_enc)
        if not token:
            return None
        key = (shop.id, token)
        client = self._clients.get(key)
        if client is None:
            for stale in [k for k in self._clients if k[0] == shop.id]:
                del self._clients[stale]
            client = api.ShoperClient(
                shop.shop_url,
                token,
                http=self.http,
                sleep=self.sleep,
                max_retries=self.max_retries,
            )
            self._clients[key] = client
        return client
