"""Ecwid REST/OAuth client against the loopback fake Ecwid (tests/fakes/ecwid_server.py): real
HTTP, real timeouts, real refused connections."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
import requests

from shoper_retention.platforms.ecwid.api import (
    MAX_RETRY_AFTER,
    EcwidAuthError,
    EcwidClient,
    EcwidError,
    EcwidNotFound,
    EcwidUnavailable,
    TokenGrant,
    exchange_code,
)
from tests.fakes.ecwid_server import FakeEcwid, unreachable_url

STORE = "1003"
TOKEN = "secret_store-token-7f3e"
REDIRECT = "https://retention.example/ecwid/oauth"


class Sleeps:
    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


@pytest.fixture
def ecwid() -> Iterator[FakeEcwid]:
    with FakeEcwid(client_id="app-client", client_secret="app-secret") as fake:
        fake.add_store(STORE, TOKEN)
        yield fake


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def client(ecwid: FakeEcwid, sleeps: Sleeps) -> EcwidClient:
    return EcwidClient(ecwid.api_url, STORE, TOKEN, http=requests.Session(), sleep=sleeps)


def cart(cart_id: str = "6626E60A-A6F9-4CD5-8230-43D5F162E0CD") -> dict[str, object]:
    return {"cartId": cart_id, "email": "anna@example.com", "items": [], "hidden": False}


# --- OAuth ---------------------------------------------------------------------------------


def test_exchange_code_posts_a_form_and_returns_the_grant(ecwid: FakeEcwid) -> None:
    ecwid.issue_code(
        "code-1",
        "2004",
        "secret_new-token",
        public_token="public_abc",
        scopes=("read_orders", "read_catalog"),
        redirect_uri=REDIRECT,
    )
    grant = exchange_code(
        requests.Session(), ecwid.oauth_url, "app-client", "app-secret", "code-1", REDIRECT
    )

    assert grant == TokenGrant(
        access_token="secret_new-token",
        store_id="2004",
        public_token="public_abc",
        scopes=("read_orders", "read_catalog"),
    )
    (sent,) = ecwid.requests
    assert (sent.method, sent.path) == ("POST", "/api/oauth/token")
    assert sent.query == {}  # the secret travels in the body, not in a URL
    assert sent.headers["content-type"] == "application/x-www-form-urlencoded"
    assert sent.form["client_secret"] == "app-secret"
    assert sent.form["grant_type"] == "authorization_code"
    assert "secret_new-token" not in repr(grant)


def test_a_code_exchanged_twice_fails_and_disables_the_first_token(ecwid: FakeEcwid) -> None:
    ecwid.issue_code("code-2", "2004", "secret_once", redirect_uri=REDIRECT)
    http = requests.Session()
    first = exchange_code(http, ecwid.oauth_url, "app-client", "app-secret", "code-2", REDIRECT)
    assert ecwid.token_enabled(first.access_token)

    with pytest.raises(EcwidAuthError) as refused:
        exchange_code(http, ecwid.oauth_url, "app-client", "app-secret", "code-2", REDIRECT)

    assert refused.value.status == 400
    assert "invalid_grant" in str(refused.value)
    assert not ecwid.token_enabled(first.access_token)
    with pytest.raises(EcwidAuthError):
        EcwidClient(ecwid.api_url, "2004", first.access_token).profile()


def test_exchange_with_a_wrong_secret_is_an_auth_error(ecwid: FakeEcwid) -> None:
    ecwid.issue_code("code-3", "2004", "secret_x")
    with pytest.raises(EcwidAuthError, match="invalid_client") as refused:
        exchange_code(requests.Session(), ecwid.oauth_url, "app-client", "wrong", "code-3", "")
    assert "wrong" not in str(refused.value)


def test_exchange_when_ecwid_is_down_is_passing(ecwid: FakeEcwid) -> None:
    ecwid.issue_code("code-4", "2004", "secret_y")
    ecwid.fail_next(503)
    with pytest.raises(EcwidUnavailable):
        exchange_code(requests.Session(), ecwid.oauth_url, "app-client", "app-secret", "code-4", "")
    with pytest.raises(EcwidUnavailable):
        exchange_code(requests.Session(), unreachable_url(), "app-client", "app-secret", "c", "")
    assert len(ecwid.requests) == 1  # never retried: a code is single-use


# --- REST: answers -------------------------------------------------------------------------


def test_reads_send_the_token_as_a_bearer_header_only(
    ecwid: FakeEcwid, client: EcwidClient
) -> None:
    ecwid.put_cart(STORE, cart())
    assert client.cart("6626E60A-A6F9-4CD5-8230-43D5F162E0CD")["email"] == "anna@example.com"
    assert client.profile()["generalInfo"]["storeId"] == 1003

    for sent in ecwid.requests:
        assert sent.headers["authorization"] == f"Bearer {TOKEN}"
        assert TOKEN not in sent.path and "token" not in sent.query
    assert TOKEN not in repr(client)


def test_an_id_is_one_path_segment(ecwid: FakeEcwid, client: EcwidClient) -> None:
    ecwid.put_cart(STORE, cart("../profile"))
    assert client.cart("../profile")["cartId"] == "../profile"
    assert ecwid.requests[-1].path == f"/api/v3/{STORE}/carts/..%2Fprofile"
    with pytest.raises(ValueError):
        client.cart("..")
    with pytest.raises(ValueError):
        client.order("")


def test_404_is_not_found(ecwid: FakeEcwid, client: EcwidClient) -> None:
    with pytest.raises(EcwidNotFound) as missing:
        client.cart("no-such-cart")
    assert missing.value.status == 404
    assert "Cart not found" in missing.value.message
    assert "no-such-cart" not in missing.value.message  # ids stay out of messages


def test_wrong_token_is_an_auth_error(ecwid: FakeEcwid) -> None:
    client = EcwidClient(ecwid.api_url, STORE, "secret_revoked", max_retries=0)
    with pytest.raises(EcwidAuthError) as refused:
        client.profile()
    assert refused.value.status == 401
    assert "secret_revoked" not in str(refused.value)


def test_missing_scope_is_an_auth_error(ecwid: FakeEcwid) -> None:
    ecwid.add_store("3005", "secret_narrow", scopes=("read_store_profile",))
    client = EcwidClient(ecwid.api_url, "3005", "secret_narrow", max_retries=0)
    assert client.profile()["generalInfo"]["storeId"] == 3005
    with pytest.raises(EcwidAuthError) as refused:
        client.customer("1")
    assert refused.value.status == 403


def test_other_client_errors_are_neither_passing_nor_auth(
    ecwid: FakeEcwid, client: EcwidClient
) -> None:
    ecwid.fail_next(402, body='{"errorMessage": "Please upgrade your account to access API"}')
    with pytest.raises(EcwidError) as refused:
        client.profile()
    assert type(refused.value) is EcwidError
    assert refused.value.status == 402
    assert "upgrade" in refused.value.message


def test_an_answer_that_is_not_json_is_passing(ecwid: FakeEcwid, client: EcwidClient) -> None:
    ecwid.fail_next(200, headers={"Content-Type": "text/html"}, body="<html>maintenance</html>")
    with pytest.raises(EcwidUnavailable):
        client.profile()


# --- REST: passing failures ----------------------------------------------------------------


def test_429_waits_out_retry_after_then_succeeds(
    ecwid: FakeEcwid, client: EcwidClient, sleeps: Sleeps
) -> None:
    ecwid.fail_next(429, headers={"Retry-After": "3"})
    assert client.profile()["settings"]["storeName"] == "Sklep Testowy"
    assert sleeps.calls == [3.0]
    assert len(ecwid.requests) == 2


def test_429_with_a_long_retry_after_is_not_sat_out(
    ecwid: FakeEcwid, client: EcwidClient, sleeps: Sleeps
) -> None:
    ecwid.fail_next(429, headers={"Retry-After": str(int(MAX_RETRY_AFTER) + 55)})
    with pytest.raises(EcwidUnavailable) as busy:
        client.profile()
    assert busy.value.status == 429
    assert busy.value.retry_after == MAX_RETRY_AFTER + 55
    assert sleeps.calls == []
    assert len(ecwid.requests) == 1


def test_429_beyond_the_retries_is_passing(
    ecwid: FakeEcwid, client: EcwidClient, sleeps: Sleeps
) -> None:
    for _ in range(3):
        ecwid.fail_next(429, headers={"Retry-After": "1"})
    with pytest.raises(EcwidUnavailable) as busy:
        client.profile()
    assert busy.value.status == 429
    assert sleeps.calls == [1.0, 1.0]  # max_retries=2
    assert len(ecwid.requests) == 3


def test_5xx_is_retried_with_backoff_then_passing(
    ecwid: FakeEcwid, client: EcwidClient, sleeps: Sleeps
) -> None:
    ecwid.fail_next(500)
    ecwid.fail_next(502)
    assert client.profile()["generalInfo"]["storeUrl"].startswith("https://")
    assert sleeps.calls == [0.5, 1.0]

    for _ in range(3):
        ecwid.fail_next(503)
    with pytest.raises(EcwidUnavailable) as down:
        client.profile()
    assert down.value.status == 503


def test_a_post_is_not_resent_after_a_5xx(ecwid: FakeEcwid, client: EcwidClient) -> None:
    ecwid.fail_next(500)
    now = datetime(2026, 3, 1, 12, tzinfo=UTC)
    with pytest.raises(EcwidUnavailable):
        client.create_coupon("WRCABC", "Retention WRCABC", Decimal(10), now, now + timedelta(1))
    assert ecwid.paths("POST") == [f"/api/v3/{STORE}/discount_coupons"]
    assert ecwid.coupons(STORE) == []


def test_a_timeout_is_passing(ecwid: FakeEcwid) -> None:
    client = EcwidClient(ecwid.api_url, STORE, TOKEN, timeout=0.2, max_retries=0)
    ecwid.delay_next(1.0)
    with pytest.raises(EcwidUnavailable, match="ReadTimeout"):
        client.profile()


def test_a_refused_connection_is_passing(sleeps: Sleeps) -> None:
    client = EcwidClient(unreachable_url() + "/api/v3/", STORE, TOKEN, sleep=sleeps)
    with pytest.raises(EcwidUnavailable, match="ConnectionError") as down:
        client.profile()
    assert down.value.status == 0
    assert sleeps.calls == [0.5, 1.0]  # a GET is retried


# --- REST: lists and writes ----------------------------------------------------------------


def test_orders_page_asks_from_a_time_and_pages(ecwid: FakeEcwid, client: EcwidClient) -> None:
    for n in range(5):
        ecwid.put_order(
            STORE, {"id": f"X{n}", "createTimestamp": 1_700_000_000 + n, "paymentStatus": "PAID"}
        )
    ecwid.put_order(
        STORE, {"id": "OPEN", "createTimestamp": 1_700_000_009, "paymentStatus": "INCOMPLETE"}
    )

    page = client.orders_page(1, 2, datetime.fromtimestamp(1_700_000_001, UTC))

    assert ecwid.requests[-1].query == {"offset": "1", "limit": "2", "createdFrom": "1700000001"}
    assert page["total"] == 4
    assert [o["id"] for o in page["items"]] == ["X3", "X2"]
    client.orders_page(0, 500, None)
    assert ecwid.requests[-1].query == {"offset": "0", "limit": "100"}


def test_customers_page_reads_oldest_first(ecwid: FakeEcwid, client: EcwidClient) -> None:
    ecwid.put_customer(
        STORE, {"id": 2, "email": "b@example.com", "registered": "2021-01-01 00:00:00 +0000"}
    )
    ecwid.put_customer(
        STORE, {"id": 1, "email": "a@example.com", "registered": "2019-01-01 00:00:00 +0000"}
    )
    page = client.customers_page(0, 100)
    assert ecwid.requests[-1].query["sortBy"] == "REGISTERED_DATE_ASC"
    assert [c["id"] for c in page["items"]] == [1, 2]


def test_create_coupon_sends_a_single_use_percentage_coupon(
    ecwid: FakeEcwid, client: EcwidClient
) -> None:
    warsaw = timezone(timedelta(hours=2))
    coupon_id = client.create_coupon(
        "WRCK7P2QX9M",
        "Retention WRCK7P2QX9M",
        Decimal("12.5"),
        datetime(2026, 6, 1, 10, 30, tzinfo=warsaw),
        datetime(2026, 6, 8, 10, 30, tzinfo=warsaw),
    )

    (stored,) = ecwid.coupons(STORE)
    assert coupon_id == str(stored["id"])
    assert {k: v for k, v in stored.items() if k != "id"} == {
        "name": "Retention WRCK7P2QX9M",
        "code": "WRCK7P2QX9M",
        "discountType": "PERCENT",
        "status": "ACTIVE",
        "discount": 12.5,
        "launchDate": "2026-06-01 08:30:00 +0000",
        "expirationDate": "2026-06-08 08:30:00 +0000",
        "usesLimit": "SINGLE",
        "applicationLimit": "UNLIMITED",
    }


def test_create_coupon_refuses_nonsense_before_calling(
    ecwid: FakeEcwid, client: EcwidClient
) -> None:
    now = datetime(2026, 6, 1, tzinfo=UTC)
    with pytest.raises(ValueError):
        client.create_coupon("A", "A", Decimal(0), now, now + timedelta(days=1))
    with pytest.raises(ValueError):
        client.create_coupon("A", "A", Decimal(10), now, now)
    with pytest.raises(ValueError):
        client.create_coupon("A", "A", Decimal(10), now.replace(tzinfo=None), now)
    assert ecwid.requests == []


def test_a_taken_coupon_code_is_refused(ecwid: FakeEcwid, client: EcwidClient) -> None:
    now = datetime(2026, 6, 1, tzinfo=UTC)
    client.create_coupon("SAME", "x", Decimal(5), now, now + timedelta(days=1))
    with pytest.raises(EcwidError) as taken:
        client.create_coupon("SAME", "x", Decimal(5), now, now + timedelta(days=1))
    assert taken.value.status == 409


def test_set_public_config_writes_the_public_storage_key(
    ecwid: FakeEcwid, client: EcwidClient
) -> None:
    client.set_public_config('{"key":"pk_123","url":"https://retention.example"}')
    assert ecwid.storage(STORE) == {"public": '{"key":"pk_123","url":"https://retention.example"}'}
    sent = ecwid.requests[-1]
    assert (sent.method, sent.path) == ("PUT", f"/api/v3/{STORE}/storage/public")
    assert sent.headers["content-type"].startswith("application/json")
    with pytest.raises(ValueError):
        client.set_public_config("x" * (256 * 1024 + 1))
