"""The Shoper catalogue reader against faked REST (`responses`), on the recorded answer shapes
in docs/samples/shoper/ (numbers as strings, translations keyed by locale, full permalinks)."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
import requests
import responses

from shoper_retention.commerce.catalogue import CatalogueUnavailable, ProductInfo
from shoper_retention.credentials import CredentialBox
from shoper_retention.models import Shop
from shoper_retention.platforms.shoper.catalogue import ShoperCatalogue, image_url, shop_link
from shoper_retention.settings import Settings

SHOP_URL = "https://sklep173975.shoparena.pl"
REST = f"{SHOP_URL}/webapi/rest"
SECRET = "test-secret-key-0123456789abcdef"

# GET products/36 as recorded (docs/samples/shoper/GET_products_36.json), trimmed.
PRODUCT_36: dict[str, Any] = {
    "product_id": "36",
    "other_price": "0.00",
    "promo_price": None,
    "code": "A490-80004",
    "stock": {
        "stock_id": "44",
        "extended": "0",
        "price": "290.00",
        "price_type": "1",
        "stock": "100",
        "active": "1",
        "default": "1",
        "product_id": "36",
        "gfx_id": None,
        "comp_price": "290.00",
        "comp_promo_price": "290.00",
    },
    "translations": {
        "pl_PL": {
            "translation_id": "36",
            "product_id": "36",
            "name": "Okulary słoneczne Orange",
            "active": "1",
            "lang_id": "1",
            "isdefault": "0",
            "seo_url": "",
            "permalink": "https://sklep173975.shoparena.pl/pl/p/Okulary-sloneczne-Orange/36",
        }
    },
    "main_image": {
        "gfx_id": "46",
        "name": "36b.jpg",
        "unic_name": "46",
        "order": "1",
        "hidden": "0",
        "extension": "jpg",
    },
}

# One row of GET product-stocks (docs/samples/shoper/GET_product-stocks_page1.json), as
# GET product-stocks/38 would answer it, re-pointed at product 36.
STOCK_38: dict[str, Any] = {
    "stock_id": "38",
    "extended": "0",
    "price": "235.00",
    "price_type": "1",
    "stock": "10",
    "active": "1",
    "default": "0",
    "product_id": "36",
    "gfx_id": None,
    "comp_price": "235.00",
    "comp_promo_price": "182.00",
    "options": [],
}

NOT_FOUND = {"error": "invalid_request", "error_description": "Resource not found"}


@pytest.fixture
def mocked() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock() as rsps:
        yield rsps


def _shop(language: str = "pl", shop_url: str = SHOP_URL, token: str | None = "tok-1") -> Shop:
    box = CredentialBox(SECRET)
    return Shop(
        id=7,
        platform="shoper",
        shop_url=shop_url,
        language=language,
        currency="PLN",
        access_token_enc=box.seal(token) if token else None,
    )


def _reader() -> ShoperCatalogue:
    return ShoperCatalogue(
        Settings(database_url="sqlite://", secret_key=SECRET), requests.Session()
    )


def test_a_product_is_read_from_its_translation_stock_and_main_image(mocked):
    mocked.get(f"{REST}/products/36", json=PRODUCT_36)
    info = _reader()(_shop(), "36", "")
    assert info == ProductInfo(
        name="Okulary słoneczne Orange",
        price=Decimal("290.00"),
        image_url=f"{SHOP_URL}/userdata/public/gfx/46.jpg",
        product_url=f"{SHOP_URL}/pl/p/Okulary-sloneczne-Orange/36",
    )
    assert mocked.calls[0].request.headers["Authorization"] == "Bearer tok-1"


def test_a_variant_takes_its_own_computed_price_not_the_promotion(mocked):
    mocked.get(f"{REST}/products/36", json=PRODUCT_36)
    mocked.get(f"{REST}/product-stocks/38", json=STOCK_38)
    info = _reader()(_shop(), "36", "38")
    assert info is not None
    assert (info.name, info.price) == ("Okulary słoneczne Orange", Decimal("235.00"))


def test_a_variant_that_inherits_the_price_shows_the_products(mocked):
    stock = {**STOCK_38, "price": "0.00", "price_type": "0"}
    del stock["comp_price"]
    mocked.get(f"{REST}/products/36", json=PRODUCT_36)
    mocked.get(f"{REST}/product-stocks/38", json=stock)
    info = _reader()(_shop(), "36", "38")
    assert info is not None and info.price == Decimal("290.00")


def test_the_default_stock_as_variant_needs_no_second_call(mocked):
    mocked.get(f"{REST}/products/36", json=PRODUCT_36)
    info = _reader()(_shop(), "36", "44")
    assert info is not None and info.price == Decimal("290.00")
    assert len(mocked.calls) == 1


def test_an_unknown_product_is_missing(mocked):
    mocked.get(f"{REST}/products/999", json=NOT_FOUND, status=404)
    assert _reader()(_shop(), "999", "") is None


def test_a_variant_of_another_product_or_unknown_is_missing(mocked):
    mocked.get(f"{REST}/products/36", json=PRODUCT_36)
    mocked.get(f"{REST}/product-stocks/38", json={**STOCK_38, "product_id": "30"})
    mocked.get(f"{REST}/product-stocks/39", json=NOT_FOUND, status=404)
    reader = _reader()
    assert reader(_shop(), "36", "38") is None
    assert reader(_shop(), "36", "39") is None


def test_ids_that_are_not_shoper_ids_are_missing_without_a_call(mocked):
    reader = _reader()
    assert reader(_shop(), "../orders", "") is None
    assert reader(_shop(), "36", "x") is None
    assert len(mocked.calls) == 0


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (401, {"error": "unauthorized_client", "error_description": "Invalid token"}),
        (403, {"error": "insufficient_scope"}),
        (429, {"error": "too many requests"}),
        (503, None),
    ],
)
def test_auth_scope_and_transient_errors_are_failures_to_retry(mocked, status, body):
    mocked.get(f"{REST}/products/36", json=body, status=status)
    with pytest.raises(CatalogueUnavailable):
        _reader()(_shop(), "36", "")
    assert len(mocked.calls) == 1  # no waiting out a 429 here: the cache backs off


def test_no_token_or_another_platform_is_a_failure_without_a_call(mocked):
    with pytest.raises(CatalogueUnavailable):
        _reader()(_shop(token=None), "36", "")
    other = _shop()
    other.platform = "ecwid"
    with pytest.raises(CatalogueUnavailable):
        _reader()(other, "36", "")
    assert len(mocked.calls) == 0


def test_the_name_follows_the_shops_language_else_any_translation(mocked):
    product = copy.deepcopy(PRODUCT_36)
    product["translations"]["en_GB"] = {
        "name": "Orange sunglasses",
        "permalink": f"{SHOP_URL}/en/p/Orange-sunglasses/36",
    }
    mocked.get(f"{REST}/products/36", json=product)
    reader = _reader()
    english = reader(_shop(language="en"), "36", "")
    assert english is not None and english.name == "Orange sunglasses"
    assert english.product_url == f"{SHOP_URL}/en/p/Orange-sunglasses/36"
    german = reader(_shop(language="de"), "36", "")
    assert german is not None and german.name in ("Orange sunglasses", "Okulary słoneczne Orange")


def test_links_stay_on_the_shops_own_host():
    shop_url = "https://www.sklep-okulary.pl"
    sample = "https://sklep173975.shoparena.pl/pl/p/Okulary-sloneczne-Orange/36"
    assert shop_link(shop_url, sample) == f"{shop_url}/pl/p/Okulary-sloneczne-Orange/36"
    assert shop_link(shop_url, "/pl/p/x/1") == f"{shop_url}/pl/p/x/1"
    assert shop_link(shop_url, "javascript:alert(1)") == ""
    assert shop_link(shop_url, "") == ""
    assert shop_link("", "/pl/p/x/1") == ""
    assert image_url(shop_url, {"unic_name": "46", "extension": "jpg"}) == (
        f"{shop_url}/userdata/public/gfx/46.jpg"
    )
    assert image_url(shop_url, {"unic_name": "../46", "extension": "jpg"}) == ""
    assert image_url(shop_url, None) == ""
