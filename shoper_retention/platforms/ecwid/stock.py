"""Units in stock of an Ecwid product or variation, for back-in-stock: from a product webhook
(events.py) and from the re-check that asks the store directly (`EcwidStock`).

`GET /products/{id}` (includes/_products.md, Product and Variation): `quantity` is omitted
when `unlimited` is true; `inStock` is true when the product or any variation is in stock or
unlimited; a variation (`combinations[]`) has its own `quantity` and `unlimited` when it has
its own SKU, and otherwise takes the product's quantity."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

import requests

from shoper_retention.commerce.stock import StockUnavailable
from shoper_retention.models import Shop
from shoper_retention.platforms.ecwid.api import EcwidError
from shoper_retention.platforms.ecwid.clients import PLATFORM, read_product
from shoper_retention.settings import Settings

# "Never runs out": more than any waiting list is long, so every shopper waiting is told.
UNLIMITED = Decimal(1_000_000)


class EcwidStock:
    """`stock.StockReader` for Ecwid stores."""

    def __init__(self, settings: Settings, http: requests.Session | None = None) -> None:
        self.settings = settings
        self.http = http or requests.Session()

    def __call__(self, shop: Shop, product_id: str, variant_id: str) -> Decimal | None:
        if shop.platform != PLATFORM:
            raise StockUnavailable(f"not an Ecwid store ({shop.platform})")
        try:
            product = read_product(self.settings, self.http, shop, product_id, variant_id)
        except EcwidError as exc:
            raise StockUnavailable(str(exc)) from exc
        if product is None:
            return None
        return units_of(product, variant_id)


def units_of(product: dict[str, Any], variant_id: str) -> Decimal | None:
    """Units of the product ('') or of one of its variations; None for a variation it does
    not have. A disabled product cannot be bought: 0."""
    base = product_units(product)
    variation = find_variation(product, variant_id) if variant_id else None
    if variant_id and variation is None:
        return None
    if product.get("enabled") is False:
        return Decimal(0)
    return variant_units(variation, base) if variation is not None else base


def find_variation(product: dict[str, Any], variant_id: str) -> dict[str, Any] | None:
    combinations = product.get("combinations")
    for variation in combinations if isinstance(combinations, list) else []:
        if isinstance(variation, dict) and _id(variation.get("id")) == variant_id:
            return variation
    return None


def product_units(product: dict[str, Any]) -> Decimal:
    if product.get("unlimited") is True:
        return UNLIMITED
    quantity = _units(product.get("quantity"))
    if quantity is not None:
        return quantity
    # No quantity and no `unlimited` flag: stock is not tracked; `inStock` still tells.
    return UNLIMITED if product.get("inStock") is True else Decimal(0)


def variant_units(variation: dict[str, Any], inherited: Decimal) -> Decimal:
    """A variation's own units; the product's (`inherited`) when it keeps none of its own."""
    if variation.get("unlimited") is True:
        return UNLIMITED
    quantity = _units(variation.get("quantity"))
    return quantity if quantity is not None else inherited


def _units(value: Any) -> Decimal | None:
    """A stock count; None when absent or not a number, 0 for a negative one."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    if not number.is_finite():
        return None
    return min(max(number, Decimal(0)), UNLIMITED)


def _id(value: Any) -> str:
    if isinstance(value, bool):
        return ""
    if isinstance(value, int | str):
        return str(value).strip()
    return ""
