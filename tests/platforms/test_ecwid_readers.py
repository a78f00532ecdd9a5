"""Ecwid's catalogue, stock, history and coupon readers against the loopback fake Ecwid."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import requests

from shoper_retention.commerce.catalogue import CatalogueUnavailable, ProductInfo
from shoper_retention.commerce.history import HistoryRefused, HistoryUnavailable
from shoper_retention.commerce.stock import StockUnavailable
from shoper_retention.credentials import CredentialBox
from shoper_retention.ingest.events import ContactInfo, CustomerSeen, OrderPlaced
from shoper_retention.messaging.coupons import CouponUnavailable
from shoper_retention.models import Shop
from shoper_retention.platforms.ecwid.api import EcwidAuthError
from shoper_retention.platforms.ecwid.catalogue import EcwidCatalogue
from shoper_retention.platforms.ecwid.clients import client_for
from shoper_retention.platforms.ecwid.coupons import EcwidCoupons
from shoper_retention.platforms.ecwid.history import EcwidHistory
from shoper_retention.platforms.ecwid.stock import UNLIMITED, EcwidStock
from shoper_retention.settings import Settings
from tests.fakes.ecwid_server import (
    FakeEcwid,
    sample_customer,
    sample_order,
    sample_product,
    unreachable_url,
)

SECRET = "test-secret-key-0123456789abcdef"
STORE = "1003"
TOKEN = "secret_store-token"
NOW = datetime(2026, 3, 10, 12, tzinfo=UTC)
PRODUCT = "66722483"


@pytest.fixture
def ecwid() -> Iterator[FakeEcwid]:
    with FakeEcwid() as fake:
        fake.add_store(STORE, TOKEN)
        yield fake


@pytest.fixture
def settings(ecwid: FakeEcwid) -> Settings:
    return Settings(database_url="sqlite://", secret_key=SECRET, ecwid_api_url=ecwid.api_url)


def ecwid_shop(token: str | None = TOKEN, **fields: Any) -> Shop:
    values: dict[str, Any] = {
        "id": 7,
        "platform": "ecwid",
        "platform_shop_id": STORE,
        "shop_url": "https://sklep.example/sklep",
        "currency": "PLN",
        "country": "PL",
        "language": "pl",
        "timezone": "Europe/Warsaw",
        "access_token_enc": CredentialBox(SECRET).seal(token),
    }
    values.update(fields)
    return Shop(**values)


# --- client_for ----------------------------------------------------------------------------


def test_client_for_opens_the_stored_token(ecwid: FakeEcwid, settings: Settings) -> None:
    client = client_for(settings, requests.Session(), ecwid_shop())
    assert client.profile()["generalInfo"]["storeId"] == 1003
    assert ecwid.requests[0].headers["authorization"] == f"Bearer {TOKEN}"
    assert client.store_id == STORE


def test_client_for_without_a_token_is_an_auth_error(settings: Settings) -> None:
    with pytest.raises(EcwidAuthError):
        client_for(settings, None, ecwid_shop(token=None))
    other_key = Settings(database_url="sqlite://", secret_key="another-key-0123456789abcdef")
    with pytest.raises(EcwidAuthError):
        client_for(other_key, None, ecwid_shop())  # sealed with another key: unreadable


# --- catalogue -----------------------------------------------------------------------------


def test_catalogue_reads_a_product_in_the_shops_language(
    ecwid: FakeEcwid, settings: Settings
) -> None:
    ecwid.put_product(STORE, sample_product())
    info = EcwidCatalogue(settings)(ecwid_shop(), PRODUCT, "")
    assert info == ProductInfo(
        name="Kubek ceramiczny",
        price=Decimal("29.95"),
        image_url="https://d2j6dbq0eux0bg.cloudfront.net/images/1003/kubek-800.jpg",
        product_url="https://sklep.example/sklep/Kubek-p66722483",
    )
    english = EcwidCatalogue(settings)(ecwid_shop(language="en"), PRODUCT, "")
    assert english is not None and english.name == "Mug"


def test_catalogue_reads_a_variation(ecwid: FakeEcwid, settings: Settings) -> None:
    ecwid.put_product(
        STORE,
        sample_product(
            combinations=[
                {
                    "id": 101,
                    "options": [
                        {"name": "Color", "value": "Red", "valueTranslated": {"pl": "Czerwony"}},
                        {"name": "Size", "value": "L"},
                    ],
                    "defaultDisplayedPrice": 34.5,
                    "imageUrl": "https://d2j6dbq0eux0bg.cloudfront.net/images/1003/red.jpg",
                },
                {"id": 102, "options": [{"name": "Color", "value": "Blue"}]},
            ]
        ),
    )
    catalogue = EcwidCatalogue(settings)
    red = catalogue(ecwid_shop(), PRODUCT, "101")
    assert red == ProductInfo(
        name="Kubek ceramiczny (Czerwony, L)",
        price=Decimal("34.50"),
        image_url="https://d2j6dbq0eux0bg.cloudfront.net/images/1003/red.jpg",
        product_url="https://sklep.example/sklep/Kubek-p66722483",
    )
    blue = catalogue(ecwid_shop(), PRODUCT, "102")
    assert blue is not None and (blue.name, blue.price) == (
        "Kubek ceramiczny (Blue)",
        Decimal("29.95"),
    )
    assert blue.image_url.endswith("kubek-800.jpg")  # the product's photo
    assert catalogue(ecwid_shop(), PRODUCT, "999") is None


def test_catalogue_drops_what_no_one_can_buy(ecwid: FakeEcwid, settings: Settings) -> None:
    ecwid.put_product(STORE, sample_product(enabled=False))
    catalogue = EcwidCatalogue(settings)
    assert catalogue(ecwid_shop(), PRODUCT, "") is None  # disabled
    assert catalogue(ecwid_shop(), "12345", "") is None  # unknown: 404
    assert catalogue(ecwid_shop(), "../profile", "") is None  # no Ecwid id
    assert catalogue(ecwid_shop(), PRODUCT, "x") is None
    assert len(ecwid.requests) == 2


def test_catalogue_keeps_only_web_addresses(ecwid: FakeEcwid, settings: Settings) -> None:
    ecwid.put_product(
        STORE,
        sample_product(
            url="javascript:alert(1)",
            hdThumbnailUrl="data:image/png;base64,AAAA",
            thumbnailUrl="//cdn.example/x.jpg",
            imageUrl="https://cdn.example/ok.jpg",
            defaultDisplayedPrice=0,
            price="12",
        ),
    )
    info = EcwidCatalogue(settings)(ecwid_shop(), PRODUCT, "")
    assert info == ProductInfo(
        name="Kubek ceramiczny",
        price=Decimal("12.00"),
        image_url="https://cdn.example/ok.jpg",
        product_url="",
    )


def test_catalogue_failures_are_unavailable(ecwid: FakeEcwid, settings: Settings) -> None:
    catalogue = EcwidCatalogue(settings)
    ecwid.fail_next(500)
    with pytest.raises(CatalogueUnavailable):
        catalogue(ecwid_shop(), PRODUCT, "")
    assert len(ecwid.requests) == 1  # not retried: the cache backs off itself
    with pytest.raises(CatalogueUnavailable):
        catalogue(ecwid_shop(token="secret_revoked"), PRODUCT, "")
    with pytest.raises(CatalogueUnavailable):
        catalogue(ecwid_shop(token=None), PRODUCT, "")
    with pytest.raises(CatalogueUnavailable):
        catalogue(ecwid_shop(platform="shoper"), PRODUCT, "")


# --- stock ---------------------------------------------------------------------------------


def test_stock_of_a_product_and_its_variations(ecwid: FakeEcwid, settings: Settings) -> None:
    ecwid.put_product(
        STORE,
        sample_product(
            quantity=3,
            combinations=[
                {"id": 101, "sku": "A", "quantity": 0},
                {"id": 102, "sku": "B", "unlimited": True},
                {"id": 103},
            ],
        ),
    )
    stock = EcwidStock(settings)
    shop = ecwid_shop()
    assert stock(shop, PRODUCT, "") == Decimal(3)
    assert stock(shop, PRODUCT, "101") == Decimal(0)
    assert stock(shop, PRODUCT, "102") == UNLIMITED
    assert stock(shop, PRODUCT, "103") == Decimal(3)
    assert stock(shop, PRODUCT, "104") is None


def test_stock_unlimited_disabled_and_unknown(ecwid: FakeEcwid, settings: Settings) -> None:
    stock = EcwidStock(settings)
    product = sample_product(unlimited=True, inStock=True)
    del product["quantity"]
    ecwid.put_product(STORE, product)
    assert stock(ecwid_shop(), PRODUCT, "") == UNLIMITED
    ecwid.put_product(STORE, sample_product(quantity=9, enabled=False))
    assert stock(ecwid_shop(), PRODUCT, "") == Decimal(0)
    assert stock(ecwid_shop(), "4242", "") is None
    assert stock(ecwid_shop(), "abc", "") is None


def test_stock_failures_are_unavailable(settings: Settings) -> None:
    down = Settings(
        database_url="sqlite://", secret_key=SECRET, ecwid_api_url=unreachable_url() + "/api/v3/"
    )
    with pytest.raises(StockUnavailable):
        EcwidStock(down)(ecwid_shop(), PRODUCT, "")
    with pytest.raises(StockUnavailable):
        EcwidStock(settings)(ecwid_shop(token="secret_revoked"), PRODUCT, "")


# --- history -------------------------------------------------------------------------------


class NoSleep:
    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def test_history_customers_page(ecwid: FakeEcwid, settings: Settings) -> None:
    ecwid.put_customer(
        STORE, sample_customer(2, email="b@example.com", registered="2022-01-01 00:00:00 +0000")
    )
    ecwid.put_customer(STORE, sample_customer(1, email="A@Example.com", acceptMarketing=True))
    ecwid.put_customer(STORE, sample_customer(3, email="", registered="2023-01-01 00:00:00 +0000"))

    page = EcwidHistory(settings)(ecwid_shop(), "customers", NOW - timedelta(days=730), 1, NOW)

    assert page.pages == 1
    assert page.events == [
        CustomerSeen(
            ContactInfo(
                email="a@example.com",
                phone="+48601234567",
                first_name="Ewa",
                language="pl",
                platform_customer_id="1",
            ),
            joined_at=datetime(2021, 5, 4, 10, tzinfo=UTC),
            source="ecwid history",
        ),
        CustomerSeen(
            ContactInfo(
                email="b@example.com",
                phone="+48601234567",
                first_name="Ewa",
                language="pl",
                platform_customer_id="2",
            ),
            joined_at=datetime(2022, 1, 1, tzinfo=UTC),
            source="ecwid history",
        ),
    ]  # no consent from the history, and no account without an address
    assert ecwid.requests[-1].query == {
        "offset": "0",
        "limit": "100",
        "sortBy": "REGISTERED_DATE_ASC",
    }


def test_history_orders_pages_from_since(ecwid: FakeEcwid, settings: Settings) -> None:
    since = datetime(2026, 1, 1, tzinfo=UTC)
    start = int(since.timestamp())
    for n in range(150):
        ecwid.put_order(STORE, sample_order(f"A{n:03}", createTimestamp=start + 60 * n))
    ecwid.put_order(STORE, sample_order("OLD01", createTimestamp=start - 60))
    ecwid.put_order(
        STORE, sample_order("OPEN1", createTimestamp=start + 1, paymentStatus="INCOMPLETE")
    )
    history = EcwidHistory(settings)

    first = history(ecwid_shop(), "orders", since, 1, NOW)
    second = history(ecwid_shop(), "orders", since, 2, NOW)

    assert (first.pages, second.pages) == (2, 2)
    assert len(first.events) == 100 and len(second.events) == 50
    ids = {e.order_id for e in [*first.events, *second.events] if isinstance(e, OrderPlaced)}
    assert ids == {f"A{n:03}" for n in range(150)}
    assert all(isinstance(e, OrderPlaced) for e in [*first.events, *second.events])
    assert ecwid.requests[-1].query == {"offset": "100", "limit": "100", "createdFrom": str(start)}


def test_history_skips_an_order_it_cannot_read(ecwid: FakeEcwid, settings: Settings) -> None:
    ecwid.put_order(STORE, sample_order("GOOD1"))
    # The timestamp is read first; the date string is not needed then.
    ecwid.put_order(STORE, sample_order("GOOD2", createDate="x"))
    ecwid.put_order(STORE, sample_order("BAD01", createTimestamp="soon"))
    page = EcwidHistory(settings)(ecwid_shop(), "orders", NOW - timedelta(days=30), 1, NOW)
    assert [e.order_id for e in page.events if isinstance(e, OrderPlaced)] == ["GOOD1", "GOOD2"]
    assert len(ecwid.requests) == 1 and page.pages == 1


def test_history_refusals_and_outages(ecwid: FakeEcwid, settings: Settings) -> None:
    sleep = NoSleep()
    history = EcwidHistory(settings, sleep=sleep)
    shop = ecwid_shop()
    since = NOW - timedelta(days=30)

    with pytest.raises(HistoryRefused, match="^auth: "):
        history(ecwid_shop(token="secret_revoked"), "orders", since, 1, NOW)
    with pytest.raises(HistoryRefused, match="^auth: "):
        history(ecwid_shop(token=None), "orders", since, 1, NOW)
    ecwid.add_store("3005", "secret_narrow", scopes=("read_orders",))
    with pytest.raises(HistoryRefused, match="^scope: "):
        history(
            ecwid_shop(token="secret_narrow", platform_shop_id="3005"), "customers", since, 1, NOW
        )
    ecwid.fail_next(402)
    with pytest.raises(HistoryRefused, match="^rejected: "):
        history(shop, "orders", since, 1, NOW)
    with pytest.raises(HistoryRefused, match="^rejected: "):
        history(ecwid_shop(platform="shoper"), "orders", since, 1, NOW)

    ecwid.fail_next(503)
    ecwid.fail_next(503)
    with pytest.raises(HistoryUnavailable):
        history(shop, "orders", since, 1, NOW)
    ecwid.fail_next(429, headers={"Retry-After": "2"})
    assert history(shop, "orders", since, 1, NOW).pages == 0
    assert sleep.calls == [0.5, 2.0]  # one retry each


def test_history_refuses_an_unreadable_page(ecwid: FakeEcwid, settings: Settings) -> None:
    ecwid.fail_next(200, body='{"total": "many", "items": []}')
    with pytest.raises(HistoryUnavailable):
        EcwidHistory(settings)(ecwid_shop(), "customers", NOW, 1, NOW)
    ecwid.fail_next(200, body='{"total": 3, "items": {}}')
    with pytest.raises(HistoryUnavailable):
        EcwidHistory(settings)(ecwid_shop(), "customers", NOW, 1, NOW)


# --- coupons -------------------------------------------------------------------------------


def test_coupon_creator_creates_a_single_use_code(ecwid: FakeEcwid, settings: Settings) -> None:
    create = EcwidCoupons(settings).creator(session=None, now=NOW)  # type: ignore[arg-type]
    coupon_id = create(ecwid_shop(), "WRCK7P2QX9M", Decimal(10), NOW, NOW + timedelta(days=7))
    (coupon,) = ecwid.coupons(STORE)
    assert coupon_id == str(coupon["id"])
    assert (coupon["code"], coupon["discountType"], coupon["discount"], coupon["usesLimit"]) == (
        "WRCK7P2QX9M",
        "PERCENT",
        10.0,
        "SINGLE",
    )
    assert coupon["launchDate"] == "2026-03-10 12:00:00 +0000"
    assert coupon["expirationDate"] == "2026-03-17 12:00:00 +0000"


def test_coupon_creator_failures_are_unavailable(ecwid: FakeEcwid, settings: Settings) -> None:
    create = EcwidCoupons(settings).creator(session=None, now=NOW)  # type: ignore[arg-type]
    week = NOW + timedelta(days=7)
    ecwid.fail_next(429, headers={"Retry-After": "1"})
    with pytest.raises(CouponUnavailable):
        create(ecwid_shop(), "WRCA", Decimal(10), NOW, week)
    assert len(ecwid.requests) == 1  # no waiting inside the caller's transaction
    with pytest.raises(CouponUnavailable):
        create(ecwid_shop(token=None), "WRCB", Decimal(10), NOW, week)
    with pytest.raises(CouponUnavailable):
        create(ecwid_shop(platform="shoper"), "WRCC", Decimal(10), NOW, week)
    with pytest.raises(CouponUnavailable):
        create(ecwid_shop(), "WRCD", Decimal(0), NOW, week)
    ecwid.add_store("3005", "secret_narrow", scopes=("read_orders",))
    with pytest.raises(CouponUnavailable):
        create(
            ecwid_shop(token="secret_narrow", platform_shop_id="3005"),
            "WRCE",
            Decimal(5),
            NOW,
            week,
        )
    assert ecwid.coupons(STORE) == []
