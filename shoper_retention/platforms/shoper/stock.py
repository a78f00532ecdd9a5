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
from shoper_retention.models import Shop
from shoper_retention.platforms.shoper import api
from shoper_retention.platforms.shoper.catalogue import read_product
from shoper_retention.platforms.shoper.clients import ShopClients
from shoper_retention.platforms.shoper.install import PLATFORM
from shoper_retention.settings import Settings

_ID = re.compile(r"[0-9]{1,19}")


class ShoperStock:
    """`stock.StockReader` for Shoper shops. One REST client per shop and token, so
    the leaky-bucket pacing carries over from one read to the next."""

    def __init__(self, settings: Settings, http: requests.Session | None = None) -> None:
        self.clients = ShopClients(settings, http, max_retries=0)

    def __call__(self, shop: Shop, product_id: str, variant_id: str) -> Decimal | None:
        if shop.platform != PLATFORM:
            raise StockUnavailable(f"not a Shoper shop ({shop.platform})")
        if not _ID.fullmatch(product_id) or (variant_id and not _ID.fullmatch(variant_id)):
            return None  # Shoper ids are integers: the page made this one up
        try:
            found = read_product(self._client(shop), product_id, variant_id)
        except api.ShoperError as exc:
            raise StockUnavailable(str(exc)) from exc
        if found is None:
            return None  # no such product, or no such variant of it
        product, variant = found
        row = variant if variant is not None else product.get("stock")
        return units(row.get("stock") if isinstance(row, dict) else None)

    def _client(self, shop: Shop) -> api.ShoperClient:
        client = self.clients.get(shop)
        if client is None:
            raise StockUnavailable("no access token for this shop")
        return client


def units(value: Any) -> Decimal:
    """Units in stock ("100", "2.5"); anything unreadable or negative counts as none."""
    try:
        number = Decimal(str(value).replace(",", "."))
    except InvalidOperation:
        return Decimal("0")
    return number if number.is_finite() and number > 0 else Decimal("0")
