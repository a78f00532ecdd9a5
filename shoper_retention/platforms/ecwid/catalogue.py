"""Reading one Ecwid product (or variation) for the catalogue cache: the name, price, photo
and link a message shows.

`GET /products/{id}` (includes/_products.md): `name` with `nameTranslated` by language code,
`defaultDisplayedPrice` (what a visitor sees, taxes included; `price` is the base price),
`url` (the storefront page), `hdThumbnailUrl` (800 px), `thumbnailUrl`, `imageUrl`
(1500 px), and `combinations[]` with their own `options`, prices and images, each omitted
when the variation takes the product's."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit

import requests

from shoper_retention.commerce.catalogue import CatalogueUnavailable, ProductInfo
from shoper_retention.models import Shop
from shoper_retention.platforms.ecwid.api import EcwidError
from shoper_retention.platforms.ecwid.clients import PLATFORM, read_product
from shoper_retention.platforms.ecwid.stock import find_variation
from shoper_retention.settings import Settings

# Smallest first that still looks sharp in an e-mail: 800 px, then 400 px, then 1500 px.
_IMAGE_FIELDS = ("hdThumbnailUrl", "thumbnailUrl", "imageUrl", "originalImageUrl")


class EcwidCatalogue:
    """`catalogue.CatalogueReader` for Ecwid stores."""

    def __init__(self, settings: Settings, http: requests.Session | None = None) -> None:
        self.settings = settings
        self.http = http or requests.Session()

    def __call__(self, shop: Shop, product_id: str, variant_id: str) -> ProductInfo | None:
        if shop.platform != PLATFORM:
            raise CatalogueUnavailable(f"not an Ecwid store ({shop.platform})")
        try:
            product = read_product(self.settings, self.http, shop, product_id, variant_id)
        except EcwidError as exc:
            raise CatalogueUnavailable(str(exc)) from exc
        if product is None:
            return None
        return product_info(shop, product, variant_id)


def product_info(shop: Shop, product: dict[str, Any], variant_id: str = "") -> ProductInfo | None:
    """None for a disabled product (it is off the storefront: no one can buy it from a
    message) and for a variation the product does not have."""
    if product.get("enabled") is False:
        return None
    variation = find_variation(product, variant_id) if variant_id else None
    if variant_id and variation is None:
        return None
    name = _name(product, shop.language)
    price = _price(product)
    image = _image(product)
    if variation is not None:
        chosen = _option_values(variation, shop.language)
        if chosen:
            name = f"{name} ({chosen})"
        price = _price(variation) or price
        image = _image(variation) or image
    return ProductInfo(
        name=name[:255],
        price=price,
        image_url=image,
        product_url=http_url(product.get("url")),
    )


def _name(product: dict[str, Any], language: str) -> str:
    translated = product.get("nameTranslated")
    if isinstance(translated, dict):
        local = translated.get(language)
        if isinstance(local, str) and local.strip():
            return " ".join(local.split())
    name = product.get("name")
    return " ".join(name.split()) if isinstance(name, str) else ""


def _option_values(variation: dict[str, Any], language: str) -> str:
    """ "Red, L" from a variation's `options` ([{name, value, valueTranslated}])."""
    options = variation.get("options")
    values = []
    for option in options if isinstance(options, list) else []:
        if not isinstance(option, dict):
            continue
        value = option.get("value")
        translated = option.get("valueTranslated")
        if isinstance(translated, dict) and isinstance(translated.get(language), str):
            value = translated[language] or value
        if isinstance(value, str) and value.strip():
            values.append(" ".join(value.split()))
    return ", ".join(values)


def _price(record: dict[str, Any]) -> Decimal | None:
    return _decimal(record.get("defaultDisplayedPrice")) or _decimal(record.get("price"))


def _decimal(value: Any) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    if not number.is_finite() or number <= 0 or number >= Decimal("1e10"):  # Money's range
        return None
    return number.quantize(Decimal("0.01"))


def _image(record: dict[str, Any]) -> str:
    for field in _IMAGE_FIELDS:
        url = http_url(record.get(field))
        if url:
            return url
    return ""


def http_url(value: Any) -> str:
    """An absolute http(s) URL with a host, else ''. Ecwid serves photos from its own CDN
    and product pages from wherever the store is embedded, so no host is required."""
    if not isinstance(value, str) or not value or len(value) > 2048:
        return ""
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in value):
        return ""
    try:
        parts = urlsplit(value)
    except ValueError:
        return ""
    return value if parts.scheme in ("http", "https") and parts.netloc else ""
