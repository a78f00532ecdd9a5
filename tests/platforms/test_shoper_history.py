"""The Shoper history reader against faked REST (`responses`), on the recorded shapes: users as
in docs/samples/shoper/GET_users_page1.json, orders as a recorded `GET orders` page (snake_case
addresses, numbers as strings, zone-less shop-local dates)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses

from shoper_retention.commerce.history import HistoryRefused, HistoryUnavailable
from shoper_retention.credentials import CredentialBox
from shoper_retention.ingest.events import ContactInfo, CustomerSeen, OrderPlaced
from shoper_retention.models import Shop
from shoper_retention.platforms.shoper.history import ShoperHistory
from shoper_retention.settings import Settings

SHOP_URL = "https://sklep173975.shoparena.pl"
REST = f"{SHOP_URL}/webapi/rest"
SECRET = "test-secret-key-0123456789abcdef"
NOW = datetime(2026, 7, 1, 8, 0, tzinfo=UTC)
SINCE = datetime(2024, 7, 1, 8, 0, tzinfo=UTC)
# GET users as recorded (docs/samples/shoper/GET_users_page1.json), trimmed.
USERS_PAGE: dict[str, Any] = {
    "count": "2",
    "pages": 1,
    "page": 1,
    "list": [
        {
            "user_id": "1",
            "login": "",
            "date_add": "2026-06-27 21:59:15",
            "lastvisit": "0000-00-00 00:00:00",
            "registered": "0",
            "additional_fields": [],
            "firstname": "Adam",
            "lastname": "Nowak",
            "email": "sample@example.com",
            "newsletter": "0",
            "active": "1",
            "lang_id": "1",
        },
        {
            "user_id": "2",
            "login": "",
            "date_add": "2026-06-28 21:59:15",
            "lastvisit": "0000-00-00 00:00:00",
            "registered": "1",
            "additional_fields": [{"field_id": "1", "type": "2", "value": "1"}],
            "firstname": "Anna",
            "lastname": "Kowalska",
            "email": "email@example.com",
            "newsletter": "1",
            "active": "1",
            "lang_id": "1",
        },
    ],
}

# One order of a recorded `GET orders` page (MaciejGad/ShoperWebAPI,
# Tests/ShoperWebAPITests/Mocks/GET_webapi_rest_orders_page_2.json), trimmed, with a phone that
# is a real Polish mobile number.
ORDER_108: dict[str, Any] = {
    "order_id": "108",
    "user_id": "12",
    "date": "2026-01-18 08:00:00",
    "status_date": "2026-01-18 09:00:00",
    "status_id": "3",
    "sum": "430.00",
    "currency_id": None,
    "paid": "1",
    "email": "Customer8@Example.pl",
    "delivery_address": {
        "firstname": "Maria",
        "phone": "600100200",
        "country_code": "PL",
    },
    "billing_address": {
        "firstname": "Maria",
        "lastname": "Wiśniewska",
        "phone": "600100200",
        "country_code": "PL",
    },
}


@pytest.fixture
def mocked() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock() as rsps:
        yield rsps


def _shop(token: str | None = "tok-1", platform: str = "shoper") -> Shop:
    return Shop(
        id=7,
        platform=platform,
        shop_url=SHOP_URL,
        timezone="Europe/Warsaw",
        country="PL",
        access_token_enc=CredentialBox(SECRET).seal(token) if token else None,
    )


def _reader(sleeps: list[float] | None = None) -> ShoperHistory:
    settings = Settings(database_url="sqlite://", secret_key=SECRET)
    return ShoperHistory(
        settings, requests.Session(), sleep=(sleeps if sleeps is not None else []).append
    )


def _query(call: Any) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(call.request.url).query).items()}


def test_the_sample_users_page_becomes_customer_records_joined_in_shop_time(mocked):
    mocked.get(f"{REST}/users", json=USERS_PAGE)
    page = _reader()(_shop(), "customers", SINCE, 1, NOW)
    assert page.pages == 1
    assert list(page.events) == [
        CustomerSeen(
            contact=ContactInfo(
                email="sample@example.com", first_name="Adam", platform_customer_id="1"
            ),
            # 21:59:15 in Warsaw (summer time) is 19:59:15 UTC.
            joined_at=datetime(2026, 6, 27, 19, 59, 15, tzinfo=UTC),
            source="shoper history",
        ),
        CustomerSeen(
            contact=ContactInfo(
                email="email@example.com", first_name="Anna", platform_customer_id="2"
            ),
            joined_at=datetime(2026, 6, 28, 19, 59, 15, tzinfo=UTC),
            source="shoper history",
        ),
    ]
    query = _query(mocked.calls[0])
    assert query == {"limit": "50", "page": "1", "order": "user_id asc"}
    assert mocked.calls[0].request.headers["Authorization"] == "Bearer tok-1"


def test_a_customer_without_a_usable_email_or_join_date_is_read_as_far_as_it_goes(mocked):
    never = dict(USERS_PAGE["list"][0], date_add="0000-00-00 00:00:00")
    no_email = dict(USERS_PAGE["list"][1], email="not an address")
    mocked.get(
        f"{REST}/users", json={"count": "2", "pages": "1", "page": "1", "list": [never, no_email]}
    )
    page = _reader()(_shop(), "customers", SINCE, 1, NOW)
    (seen,) = page.events
    assert isinstance(seen, CustomerSeen) and seen.joined_at is None


def test_orders_are_read_from_since_in_shop_time_through_the_webhook_parser(mocked):
    mocked.get(f"{REST}/orders", json={"count": "15", "pages": 2, "page": 2, "list": [ORDER_108]})
    page = _reader()(_shop(), "orders", SINCE, 2, NOW)
    assert page.pages == 2
    (order,) = page.events
    assert isinstance(order, OrderPlaced)
    assert order.order_id == "108"
    assert order.placed_at == datetime(2026, 1, 18, 7, 0, tzinfo=UTC)  # winter: UTC+1
    assert order.contact == ContactInfo(
        email="customer8@example.pl",
        phone="+48600100200",
        first_name="Maria",
        platform_customer_id="12",
    )
    assert order.total == Decimal("430.00") and order.paid and not order.is_creation
    assert order.status_id == "3"
    query = _query(mocked.calls[0])
    assert query["page"] == "2" and query["order"] == "order_id asc"
    # 2024-07-01 08:00 UTC is 10:00 in Warsaw.
    assert json.loads(query["filters"]) == {"date": {">=": "2024-07-01 10:00:00"}}


def test_an_order_without_an_id_is_skipped_and_the_rest_of_the_page_kept(mocked):
    broken = {k: v for k, v in ORDER_108.items() if k != "order_id"}
    mocked.get(
        f"{REST}/orders",
        json={"count": "2", "pages": "1", "page": "1", "list": [broken, ORDER_108]},
    )
    page = _reader()(_shop(), "orders", SINCE, 1, NOW)
    assert [e.order_id for e in page.events if isinstance(e, OrderPlaced)] == ["108"]


@pytest.mark.parametrize(
    ("status", "body", "error", "reason"),
    [
        (401, {"error": "invalid_token"}, HistoryRefused, "auth"),
        (403, {"error": "insufficient_scope"}, HistoryRefused, "scope"),
        (400, {"error": "invalid_request"}, HistoryRefused, "rejected"),
        (503, {"error": "unavailable"}, HistoryUnavailable, None),
    ],
)
def test_shoper_errors_become_refusals_or_a_later_try(mocked, status, body, error, reason):
    mocked.get(f"{REST}/users", status=status, json=body)
    with pytest.raises(error) as raised:
        _reader(sleeps=[])(_shop(), "customers", SINCE, 1, NOW)
    if reason:
        assert str(raised.value).startswith(f"{reason}: ")


def test_a_shop_without_a_token_is_refused_without_a_call(mocked):
    with pytest.raises(HistoryRefused, match="^auth: "):
        _reader()(_shop(token=None), "customers", SINCE, 1, NOW)
    assert not mocked.calls


def test_the_reader_waits_when_the_leaky_bucket_is_nearly_full(mocked):
    full = {"X-Shop-Api-Calls": "10", "X-Shop-Api-Limit": "10", "X-Shop-Api-Bandwidth": "2"}
    empty_page = {"count": "0", "pages": 3, "page": 1, "list": []}
    mocked.get(f"{REST}/users", json=empty_page, headers=full)
    sleeps: list[float] = []
    reader = _reader(sleeps)
    reader(_shop(), "customers", SINCE, 1, NOW)
    assert sleeps == []
    reader(_shop(), "customers", SINCE, 2, NOW)  # same shop and token: the same bucket
    assert len(sleeps) == 1 and sleeps[0] > 0
