"""Reading a product's or variant's stock from a Shoper shop's REST API, for the back-in-stock
re-check: a stock change may fire no webhook (platforms.md: whether an order's decrement fires
`product.edit` is unverified), and a variant's stock is in no product webhook at all.

Shapes as recorded in docs/samples/shoper/: `products/<id>` carries the default stock as
`stock.stock` (units, a string: GET_products_36.json); a variant is a `product-stocks/<id>` row
with its `product_id` and `stock` (GET_product-stocks_page1.json)."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

import requests

from shoper_retention.commerce.stock import StockUnavailable
from shoper_retention.credentials import CredentialBox
from shoper_retention.models import Shop
from shoper_retention.platforms.shoper import api
from shoper_retention.settings import Settings

PLATFORM = "shoper"
_ID = re.compile(r"[0-9]{1,19}")


class ShoperStock:
    """`stock.StockReader` for Shoper shops. One REST client per shop and token, so
    the leaky-bucket pacing carries over from one read to the next."""

    def __init__(self, settings: Settings, http: requests.Session | None = None) -> None:
        self.box = CredentialBox(settings.secret_key)
        self.http = http or requests.Session()
        self._clients: dict[tuple[int, str], api.ShoperClient] = {}

    def __call__(self, shop: Shop, product_id: str, variant_id: str) -> Decimal | None:
        if shop.platform != PLATFORM:
            raise StockUnavailable(f"not a Shoper shop ({shop.platform})")
        if not _ID.fullmatch(product_id) or (variant_id and not _ID.fullmatch(variant_id)):
            return None  # Shoper ids are integers: the page made this one up
        client = self._client(shop)
        try:
            product = client.product(int(product_id))
            if product is None:
                return None
            default = product.get("stock")
            default = default if isinstance(default, dict) else {}
            if not variant_id or variant_id == str(default.get("stock_id") or ""):
                return units(default.get("stock"))
            variant = client.product_stock(int(variant_id))
        except api.ShoperError as exc:
            raise StockUnavailable(str(exc)) from exc
        if variant is None or str(variant.get("product_id") or "") != product_id:
            return None  # no such variant, or another product's
        return units(variant.get("stock"))

    def _client(self, shop: Shop) -> api.ShoperClient:
        token = self.box.open(shop.access_token_enc)
        if not token:
            raise StockUnavailable("no access token for this shop")
        key = (shop.id, token)
        client = self._clients.get(key)
        if client is None:
            for stale in [k for k in self._clients if k[0] == shop.id]:
                del self._clients[stale]
            client = api.ShoperClient(shop.shop_url, token, http=self.http, max_retries=0)
            self._clients[key] = client
        return client


def units(value: Any) -> Decimal:
    """Units in stock ("100", "2.5"); anything unreadable or negative counts as none."""
    try:
        number = Decimal(str(value).replace(",", "."))
    except InvalidOperation:
        return Decimal("0")
    return number if number.is_finite() and number > 0 else Decimal("0")
