"""Reading one product (or variant) from a Shoper shop's REST API for the catalogue cache.

Field shapes follow the recorded answers in docs/samples/shoper/ (GET_products_36.json,
GET_product-stocks_page1.json): numbers as strings, `translations` keyed by locale
(`pl_PL`), `permalink` a full URL, `main_image` with `unic_name` and `extension`."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urljoin, urlsplit, urlunsplit

import requests

from shoper_retention.commerce.catalogue import CatalogueUnavailable, ProductInfo
from shoper_retention.models import Shop
from shoper_retention.platforms.shoper import api
from shoper_retention.platforms.shoper.clients import ShopClients
from shoper_retention.platforms.shoper.install import PLATFORM
from shoper_retention.settings import Settings

_ID = re.compile(r"[0-9]{1,19}")
_IMAGE_NAME = re.compile(r"[A-Za-z0-9_-]{1,128}")
_IMAGE_EXTENSION = re.compile(r"[A-Za-z0-9]{1,5}")


class ShoperCatalogue:
    """`catalogue.CatalogueReader` for Shoper shops. Keeps one REST client per shop and token,
    so the leaky-bucket pacing carries over from one read to the next."""

    def __init__(self, settings: Settings, http: requests.Session | None = None) -> None:
        # No waiting out a 429: a busy shop is simply asked again on the next back-off.
        self.clients = ShopClients(settings, http, max_retries=0)

    def __call__(self, shop: Shop, product_id: str, variant_id: str) -> ProductInfo | None:
        if shop.platform != PLATFORM:
            raise CatalogueUnavailable(f"not a Shoper shop ({shop.platform})")
        if not _ID.fullmatch(product_id) or (variant_id and not _ID.fullmatch(variant_id)):
            return None  # Shoper ids are integers: the page made this one up
        try:
            found = read_product(self._client(shop), product_id, variant_id)
        except api.ShoperError as exc:
            # Auth (401), scope (403), transient (409/429/5xx, timeouts) and odd answers alike:
            # the cache backs off and asks again later.
            raise CatalogueUnavailable(str(exc)) from exc
        if found is None:
            return None
        product, variant = found
        return product_info(shop, product, variant)

    def _client(self, shop: Shop) -> api.ShoperClient:
        client = self.clients.get(shop)
        if client is None:
            raise CatalogueUnavailable("no access token for this shop")
        return client


def read_product(
    client: api.ShoperClient, product_id: str, variant_id: str
) -> tuple[dict[str, Any], dict[str, Any] | None] | None:
    """The product and, for a variant other than its default stock, that variant's
    `product-stocks` row; None when Shoper knows no such product, or the variant is missing
    or another product's. Ids must be Shoper's integers (the caller checks)."""
    product = client.product(int(product_id))
    if product is None:
        return None
    default = _dict(product.get("stock"))
    if not variant_id or variant_id == str(default.get("stock_id") or ""):
        return product, None
    variant = client.product_stock(int(variant_id))
    if variant is None or str(variant.get("product_id") or "") != product_id:
        return None
    return product, variant


def product_info(
    shop: Shop, product: dict[str, Any], stock: dict[str, Any] | None = None
) -> ProductInfo:
    """Map a `products/<id>` answer (and a `product-stocks/<id>` row for a variant)."""
    translation = _translation(product.get("translations"), shop.language)
    price = _stock_price(_dict(product.get("stock")))
    if stock is not None:
        price = _variant_price(stock, price)
    return ProductInfo(
        name=" ".join(str(translation.get("name") or "").split())[:255],
        price=price,
        image_url=image_url(shop.shop_url, product.get("main_image")),
        product_url=shop_link(shop.shop_url, str(translation.get("permalink") or "")),
    )


def _translation(translations: Any, language: str) -> dict[str, Any]:
    """The translation in the shop's language (`pl` -> `pl_PL`), else any with a name."""
    if not isinstance(translations, dict):
        return {}
    named = {str(k): t for k, t in translations.items() if isinstance(t, dict) and t.get("name")}
    prefix = f"{language.lower()}_"
    for locale in sorted(named):
        if locale.lower().startswith(prefix) or locale.lower() == language.lower():
            return named[locale]
    return named[min(named)] if named else {}


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _decimal(value: Any) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = Decimal(str(value).replace(",", "."))
    except InvalidOperation:
        return None
    return number.quantize(Decimal("0.01")) if number.is_finite() and number > 0 else None


def _stock_price(stock: dict[str, Any]) -> Decimal | None:
    # `comp_price` is the stock's computed gross price: for a variant it already resolves a
    # price inherited from the product or given as a change (`price_type`); other Shoper
    # integrations read it as the selling price (e.g. `$res->stock->comp_price` in public PHP
    # feed exporters). In the samples it equals `price` ("290.00"; the variant: "235.00" with
    # `price_type` "1"). Promotional `comp_promo_price` is not used: a special offer has its
    # own dates, and our cache would outlive it.
    return _decimal(stock.get("comp_price")) or _decimal(stock.get("price"))


def _variant_price(stock: dict[str, Any], product_price: Decimal | None) -> Decimal | None:
    computed = _decimal(stock.get("comp_price"))
    if computed is not None:
        return computed
    # Without `comp_price`, the variant's own `price` is a price only when `price_type` is
    # "1" (its own price, as in the sample); otherwise it inherits (or shifts) the product's.
    own = _decimal(stock.get("price"))
    if own is not None and str(stock.get("price_type") or "") == "1":
        return own
    return product_price


def image_url(shop_url: str, main_image: Any) -> str:
    """The public URL of a product image.

    *(unverified against Shoper's docs)*: Shoper documents no image URL. Best supported:
    `{shop_url}/userdata/public/gfx/{unic_name}.{extension}` — a third-party Python Shoper
    REST client builds `{shop}/userdata/public/gfx/{main_image.unic_name}.jpg` (found with a
    code search for "userdata/public/gfx"; it hard-codes .jpg), and live Shoper shops serve
    product photos at such paths (e.g. `https://www.hilaptop.com/userdata/public/gfx/10348.jpg`).
    If a live shop shows otherwise, this one function changes."""
    if not isinstance(main_image, dict):
        return ""
    name = str(main_image.get("unic_name") or "")
    extension = str(main_image.get("extension") or "")
    if not _IMAGE_NAME.fullmatch(name) or not _IMAGE_EXTENSION.fullmatch(extension):
        return ""
    return shop_link(shop_url, f"/userdata/public/gfx/{name}.{extension.lower()}")


def shop_link(shop_url: str, value: str) -> str:
    """An http(s) URL on the shop's own host, or ''. A path is joined to `shop_url`. An
    absolute URL on another host keeps its path on the shop's host: the permalink in the sample
    names the shop's platform address (`sklepNNN.shoparena.pl`), while `shop_url` may be the
    shop's own domain serving the same paths."""
    base = urlsplit(shop_url)
    value = value.strip()
    if not value or base.scheme not in ("http", "https") or not base.netloc:
        return ""
    link = urlsplit(urljoin(shop_url.rstrip("/") + "/", value))
    if link.scheme not in ("http", "https") or not link.netloc:
        return ""
    if link.netloc.lower() != base.netloc.lower():
        link = link._replace(scheme=base.scheme, netloc=base.netloc)
    return urlunsplit(link._replace(fragment=""))
