"""Shoper REST/OAuth client against a faked HTTP transport (`responses`); our code runs for real."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses
from responses import matchers

from shoper_retention.platforms.shoper.api import (
    REQUEST_TIMEOUT,
    ShoperAuthError,
    ShoperClient,
    ShoperError,
    ShoperScopeError,
    ShoperTransientError,
    TokenSet,
    exchange_code,
    refresh_tokens,
)

SHOP_URL = "https://sklep.example.pl"
REST = f"{SHOP_URL}/webapi/rest"
TOKEN_URL = f"{REST}/oauth/token"
ACCESS_TOKEN = "acc-7f3e-SECRET"
NOW = datetime(2025, 3, 30, 1, 0, tzinfo=UTC)


class FakeTime:
    """Injected sleep + monotonic clock: sleeping advances the clock, nothing really waits."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []
        self.events: list[str] = []  # sleeps interleaved with requests, for ordering checks

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.events.append(f"sleep {seconds}")
        self.now += seconds

    def clock(self) -> float:
        return self.now


@pytest.fixture
def mocked() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock() as rsps:
        yield rsps


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def client(fake_time: FakeTime) -> ShoperClient:
    return ShoperClient(SHOP_URL + "/", ACCESS_TOKEN, sleep=fake_time.sleep, clock=fake_time.clock)


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def body_text(request: requests.PreparedRequest) -> str:
    body = request.body or ""
    assert isinstance(body, str | bytes)
    return body if isinstance(body, str) else body.decode()


def form(request: requests.PreparedRequest) -> dict[str, list[str]]:
    return parse_qs(body_text(request))


def query(request: requests.PreparedRequest) -> dict[str, list[str]]:
    return parse_qs(urlsplit(request.url or "").query)


# --- OAuth ---------------------------------------------------------------------------------


def test_code_exchange_sends_basic_auth_and_code_and_parses_the_token_set(
    mocked: responses.RequestsMock,
) -> None:
    mocked.post(
        TOKEN_URL,
        match=[matchers.query_param_matcher({"grant_type": "authorization_code"})],
        json={
            "access_token": "acc-1",
            "refresh_token": "ref-1",
            "expires_in": 2592000,
            "token_type": "bearer",
            "scope": "orders,products, webhooks,promotion-codes",
        },
    )
    tokens = exchange_code(
        requests.Session(), SHOP_URL + "/", "app-id", "app-secret", "auth-c0de", NOW
    )

    request = mocked.calls[0].request
    assert request.headers["Authorization"] == basic("app-id", "app-secret")
    assert form(request) == {"code": ["auth-c0de"]}
    assert request.req_kwargs["timeout"] == REQUEST_TIMEOUT  # type: ignore[attr-defined]
    assert tokens == TokenSet(
        access_token="acc-1",
        refresh_token="ref-1",
        expires_at=NOW + timedelta(days=30),
        scopes=("orders", "products", "webhooks", "promotion-codes"),
    )
    assert tokens.expires_at.tzinfo is not None


def test_expires_at_is_utc_even_when_now_is_in_another_zone(
    mocked: responses.RequestsMock,
) -> None:
    mocked.post(
        TOKEN_URL,
        json={"access_token": "a", "refresh_token": "r", "expires_in": "3600", "scope": ""},
    )
    warsaw_summer = timezone(timedelta(hours=2))
    now = datetime(2025, 6, 1, 12, 0, tzinfo=warsaw_summer)
    tokens = exchange_code(requests.Session(), SHOP_URL, "id", "secret", "c", now)
    assert tokens.expires_at == datetime(2025, 6, 1, 11, 0, tzinfo=UTC)
    assert tokens.expires_at.utcoffset() == timedelta(0)
    assert tokens.scopes == ()


def test_refresh_sends_the_refresh_token_and_rotates_it(mocked: responses.RequestsMock) -> None:
    mocked.post(
        TOKEN_URL,
        match=[matchers.query_param_matcher({"grant_type": "refresh_token"})],
        json={
            "access_token": "acc-2",
            "refresh_token": "ref-2",
            "expires_in": 86400,
            "scope": "orders",
        },
    )
    tokens = refresh_tokens(requests.Session(), SHOP_URL, "app-id", "app-secret", "ref-1", NOW)

    request = mocked.calls[0].request
    assert request.headers["Authorization"] == basic("app-id", "app-secret")
    assert form(request) == {"refresh_token": ["ref-1"]}
    assert tokens.access_token == "acc-2"
    assert tokens.refresh_token == "ref-2"
    assert tokens.expires_at == NOW + timedelta(days=1)


def test_invalid_grant_raises_an_auth_error(mocked: responses.RequestsMock) -> None:
    mocked.post(
        TOKEN_URL,
        status=400,
        json={"error": "invalid_grant", "error_description": "Refresh token has expired"},
    )
    with pytest.raises(ShoperAuthError) as caught:
        refresh_tokens(requests.Session(), SHOP_URL, "app-id", "app-secret", "ref-old", NOW)
    assert caught.value.status == 400
    assert caught.value.error == "invalid_grant"
    assert caught.value.description == "Refresh token has expired"
    assert "ref-old" not in str(caught.value)
    assert "app-secret" not in str(caught.value)


def test_unauthorized_client_raises_an_auth_error(mocked: responses.RequestsMock) -> None:
    mocked.post(TOKEN_URL, status=401, json={"error": "unauthorized_client"})
    with pytest.raises(ShoperAuthError):
        exchange_code(requests.Session(), SHOP_URL, "app-id", "wrong", "c", NOW)


def test_token_endpoint_outage_is_transient_and_not_retried(
    mocked: responses.RequestsMock,
) -> None:
    mocked.post(TOKEN_URL, status=503)
    with pytest.raises(ShoperTransientError):
        refresh_tokens(requests.Session(), SHOP_URL, "app-id", "app-secret", "ref-1", NOW)
    assert len(mocked.calls) == 1


def test_token_endpoint_connection_error_is_transient(mocked: responses.RequestsMock) -> None:
    mocked.post(TOKEN_URL, body=requests.ConnectionError("connection refused"))
    with pytest.raises(ShoperTransientError) as caught:
        exchange_code(requests.Session(), SHOP_URL, "app-id", "app-secret", "c", NOW)
    assert caught.value.status is None


def test_token_set_repr_hides_the_tokens() -> None:
    tokens = TokenSet("acc-SECRET", "ref-SECRET", NOW, ("orders",))
    assert "SECRET" not in repr(tokens)


# --- REST transport ------------------------------------------------------------------------


def test_request_sends_bearer_token_and_a_timeout(
    mocked: responses.RequestsMock, client: ShoperClient
) -> None:
    mocked.get(f"{REST}/application-config", json={"shop_name": "Sklep", "locale_timezone": "x"})
    assert client.application_config()["shop_name"] == "Sklep"
    request = mocked.calls[0].request
    assert request.headers["Authorization"] == f"Bearer {ACCESS_TOKEN}"
    assert request.req_kwargs["timeout"] == REQUEST_TIMEOUT  # type: ignore[attr-defined]


def test_429_with_retry_after_sleeps_that_long_and_retries_once(
    mocked: responses.RequestsMock, client: ShoperClient, fake_time: FakeTime
) -> None:
    mocked.get(f"{REST}/application-config", status=429, headers={"Retry-After": "2"})
    mocked.get(f"{REST}/application-config", json={"shop_name": "Sklep"})
    assert client.application_config() == {"shop_name": "Sklep"}
    assert len(mocked.calls) == 2
    assert fake_time.sleeps == [2.0]


def test_429_without_retry_after_waits_one_second(
    mocked: responses.RequestsMock, client: ShoperClient, fake_time: FakeTime
) -> None:
    mocked.get(f"{REST}/application-config", status=429)
    mocked.get(f"{REST}/application-config", json={})
    client.application_config()
    assert fake_time.sleeps == [1.0]


def test_429_until_retries_run_out_is_transient(
    mocked: responses.RequestsMock, fake_time: FakeTime
) -> None:
    client = ShoperClient(SHOP_URL, ACCESS_TOKEN, sleep=fake_time.sleep, max_retries=2)
    mocked.get(f"{REST}/application-config", status=429, headers={"Retry-After": "3"})
    with pytest.raises(ShoperTransientError) as caught:
        client.application_config()
    assert caught.value.status == 429
    assert caught.value.retry_after == 3.0
    assert len(mocked.calls) == 3
    assert fake_time.sleeps == [3.0, 3.0]


def test_locked_object_409_is_retried(
    mocked: responses.RequestsMock, client: ShoperClient, fake_time: FakeTime
) -> None:
    mocked.delete(f"{REST}/webhooks/5", status=409, json={"error": "locked"})
    mocked.delete(f"{REST}/webhooks/5", json=True)
    client.delete_webhook(5)
    assert len(mocked.calls) == 2
    assert fake_time.sleeps == [1.0]


def test_full_bucket_pauses_before_the_next_call(
    mocked: responses.RequestsMock, client: ShoperClient, fake_time: FakeTime
) -> None:
    full = {"X-Shop-Api-Calls": "10", "X-Shop-Api-Limit": "10", "X-Shop-Api-Bandwidth": "2"}

    def answer(request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        fake_time.events.append("request")
        return 200, full, "{}"

    mocked.add_callback(responses.GET, f"{REST}/application-config", callback=answer)
    client.application_config()
    client.application_config()

    # Level 10 of 10 leaking 2/s: wait until 8 remain, one slot to use and one to spare.
    assert fake_time.events == ["request", "sleep 1.0", "request"]


def test_bucket_that_drained_meanwhile_does_not_pause(
    mocked: responses.RequestsMock, client: ShoperClient, fake_time: FakeTime
) -> None:
    full = {"X-Shop-Api-Calls": "10", "X-Shop-Api-Limit": "10", "X-Shop-Api-Bandwidth": "2"}
    mocked.get(f"{REST}/application-config", json={}, headers=full)
    client.application_config()
    fake_time.now += 5  # 10 calls leaked away
    client.application_config()
    assert fake_time.sleeps == []


def test_bucket_with_room_does_not_pause(
    mocked: responses.RequestsMock, client: ShoperClient, fake_time: FakeTime
) -> None:
    headers = {"X-Shop-Api-Calls": "5", "X-Shop-Api-Limit": "10", "X-Shop-Api-Bandwidth": "2"}
    mocked.get(f"{REST}/application-config", json={}, headers=headers)
    for _ in range(3):
        client.application_config()
    assert fake_time.sleeps == []


def test_server_errors_until_retries_run_out_raise_a_transient_error(
    mocked: responses.RequestsMock, client: ShoperClient, fake_time: FakeTime
) -> None:
    mocked.get(f"{REST}/application-config", status=502, body="Bad Gateway")
    with pytest.raises(ShoperTransientError) as caught:
        client.application_config()
    assert caught.value.status == 502
    assert len(mocked.calls) == 4  # first try + max_retries
    assert fake_time.sleeps == [0.5, 1.0, 2.0]


def test_server_error_then_success_returns_the_answer(
    mocked: responses.RequestsMock, client: ShoperClient
) -> None:
    mocked.get(f"{REST}/application-config", status=500)
    mocked.get(f"{REST}/application-config", json={"shop_name": "Sklep"})
    assert client.application_config() == {"shop_name": "Sklep"}


def test_other_client_errors_raise_at_once_with_shopers_message(
    mocked: responses.RequestsMock, client: ShoperClient, fake_time: FakeTime
) -> None:
    mocked.post(
        f"{REST}/promotion-codes",
        status=400,
        json={"error": "validation", "error_description": "code already exists"},
    )
    with pytest.raises(ShoperError) as caught:
        client.create_promotion_code(
            "WRACAJ10", "Wróć", Decimal("10"), NOW, NOW + timedelta(days=7)
        )
    error = caught.value
    assert type(error) is ShoperError
    assert (error.status, error.error, error.description) == (
        400,
        "validation",
        "code already exists",
    )
    assert len(mocked.calls) == 1
    assert fake_time.sleeps == []


def test_404_is_a_plain_error_not_retried(
    mocked: responses.RequestsMock, client: ShoperClient
) -> None:
    mocked.delete(f"{REST}/webhooks/9", status=404, body="<html>not found</html>")
    with pytest.raises(ShoperError) as caught:
        client.delete_webhook(9)
    assert not isinstance(caught.value, ShoperTransientError)
    assert caught.value.status == 404
    assert len(mocked.calls) == 1


def test_expired_token_on_rest_raises_an_auth_error(
    mocked: responses.RequestsMock, client: ShoperClient
) -> None:
    mocked.get(f"{REST}/webhooks", status=401, json={"error": "invalid_token"})
    with pytest.raises(ShoperAuthError):
        client.list_webhooks()
    assert len(mocked.calls) == 1


def test_missing_scope_raises_a_scope_error(
    mocked: responses.RequestsMock, client: ShoperClient
) -> None:
    mocked.get(
        f"{REST}/webhooks",
        status=403,
        json={"error": "insufficient_scope", "error_description": "webhooks scope required"},
    )
    with pytest.raises(ShoperScopeError) as caught:
        client.list_webhooks()
    assert caught.value.error == "insufficient_scope"


def test_redirect_is_reported_not_followed(
    mocked: responses.RequestsMock, client: ShoperClient
) -> None:
    mocked.post(
        f"{REST}/webhooks",
        status=301,
        headers={"Location": "https://www.sklep.pl/webapi/rest/webhooks"},
    )
    with pytest.raises(ShoperError) as caught:
        client.create_webhook("https://app.example/h", "s", ["order.create"])
    assert caught.value.error == "redirect"
    assert caught.value.description == "https://www.sklep.pl/webapi/rest/webhooks"
    assert len(mocked.calls) == 1


def test_connection_error_on_a_read_is_retried(
    mocked: responses.RequestsMock, client: ShoperClient, fake_time: FakeTime
) -> None:
    mocked.get(f"{REST}/application-config", body=requests.ConnectionError("reset"))
    mocked.get(f"{REST}/application-config", json={"shop_name": "Sklep"})
    assert client.application_config() == {"shop_name": "Sklep"}
    assert fake_time.sleeps == [0.5]


def test_timeout_on_a_create_is_not_resent(
    mocked: responses.RequestsMock, client: ShoperClient
) -> None:
    # The webhook may already exist: resending could register it twice.
    mocked.post(f"{REST}/webhooks", body=requests.ReadTimeout("read timed out"))
    with pytest.raises(ShoperTransientError) as caught:
        client.create_webhook("https://app.example/h", "s", ["order.create"])
    assert caught.value.status is None
    assert len(mocked.calls) == 1


def test_connection_errors_until_retries_run_out_raise_a_transient_error(
    mocked: responses.RequestsMock, client: ShoperClient
) -> None:
    mocked.get(f"{REST}/webhooks", body=requests.ConnectTimeout("connect timed out"))
    with pytest.raises(ShoperTransientError):
        client.list_webhooks()
    assert len(mocked.calls) == 4


def test_token_never_appears_in_repr_or_logs(
    mocked: responses.RequestsMock,
    client: ShoperClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert ACCESS_TOKEN not in repr(client)
    assert SHOP_URL in repr(client)
    mocked.get(f"{REST}/application-config", status=500)
    mocked.get(f"{REST}/application-config", status=401, json={"error": "invalid_token"})
    with caplog.at_level(logging.DEBUG), pytest.raises(ShoperAuthError) as caught:
        client.application_config()
    assert caplog.records  # the retry was logged...
    assert ACCESS_TOKEN not in caplog.text  # ...without the token
    assert ACCESS_TOKEN not in str(caught.value)


# --- resources -----------------------------------------------------------------------------


def test_create_webhook_posts_shopers_fields_and_returns_the_bare_id(
    mocked: responses.RequestsMock, client: ShoperClient
) -> None:
    mocked.post(f"{REST}/webhooks", body="42", content_type="application/json")
    webhook_id = client.create_webhook(
        "https://app.example/webhooks/shoper/abc", "per-shop-secret", ["order.create", "order.paid"]
    )
    assert webhook_id == 42
    assert json.loads(body_text(mocked.calls[0].request)) == {
        "url": "https://app.example/webhooks/shoper/abc",
        "format": 0,
        "secret": "per-shop-secret",
        "active": 1,
        "events": ["order.create", "order.paid"],
    }


def test_create_webhook_rejects_an_answer_that_is_not_an_id(
    mocked: responses.RequestsMock, client: ShoperClient
) -> None:
    mocked.post(f"{REST}/webhooks", json={"count": 0, "list": []})
    with pytest.raises(ShoperError):
        client.create_webhook("https://app.example/h", "s", ["order.create"])


def test_list_webhooks_pages_through_every_page(
    mocked: responses.RequestsMock, client: ShoperClient
) -> None:
    mocked.get(
        f"{REST}/webhooks",
        match=[matchers.query_param_matcher({"limit": "50", "page": "1"})],
        json={
            "count": "3",
            "pages": "2",
            "page": "1",
            "list": [{"webhook_id": "1"}, {"webhook_id": "2"}],
        },
    )
    mocked.get(
        f"{REST}/webhooks",
        match=[matchers.query_param_matcher({"limit": "50", "page": "2"})],
        json={"count": "3", "pages": "2", "page": "2", "list": [{"webhook_id": "3"}]},
    )
    hooks = client.list_webhooks()
    assert [hook["webhook_id"] for hook in hooks] == ["1", "2", "3"]
    assert len(mocked.calls) == 2


def test_list_webhooks_with_none_makes_one_call(
    mocked: responses.RequestsMock, client: ShoperClient
) -> None:
    mocked.get(f"{REST}/webhooks", json={"count": 0, "pages": 0, "page": 1, "list": []})
    assert client.list_webhooks() == []
    assert len(mocked.calls) == 1


def test_paginate_sends_filters_as_json(
    mocked: responses.RequestsMock, client: ShoperClient
) -> None:
    mocked.get(
        f"{REST}/orders", json={"count": 1, "pages": 1, "page": 1, "list": [{"order_id": "7"}]}
    )
    orders = list(client.paginate("orders", filters={"date": {">=": "2025-01-01 00:00:00"}}))
    assert orders == [{"order_id": "7"}]
    sent = query(mocked.calls[0].request)
    assert json.loads(sent["filters"][0]) == {"date": {">=": "2025-01-01 00:00:00"}}


def test_delete_webhook_calls_the_item_url(
    mocked: responses.RequestsMock, client: ShoperClient
) -> None:
    mocked.delete(f"{REST}/webhooks/17", body="")
    client.delete_webhook(17)
    assert mocked.calls[0].request.headers["Authorization"] == f"Bearer {ACCESS_TOKEN}"


def test_create_promotion_code_posts_a_single_use_percentage_in_shop_local_time(
    mocked: responses.RequestsMock, client: ShoperClient
) -> None:
    mocked.post(f"{REST}/promotion-codes", body="305", content_type="application/json")
    code_id = client.create_promotion_code(
        "WROC-7KQ2",
        "Cart recovery 15%",
        Decimal("15.5"),
        datetime(2025, 3, 30, 3, 5, 9),
        datetime(2025, 4, 6, 23, 59, 59),
    )
    assert code_id == 305
    assert json.loads(body_text(mocked.calls[0].request)) == {
        "code": "WROC-7KQ2",
        "name": "Cart recovery 15%",
        # 1 = percentage (a live shop's 10% code reads "discount_type": "1"); 2 = money off
        "discount_type": 1,
        "discount": 15.5,
        "active": 1,
        "time_from": "2025-03-30 03:05:09",
        "time_to": "2025-04-06 23:59:59",
        "usage_limit": 1,  # no single-use flag exists: one use in all, one per customer
        "peruser_limit": 1,
    }


@pytest.mark.parametrize("percent", [Decimal("0"), Decimal("-5"), Decimal("100.01")])
def test_create_promotion_code_refuses_a_nonsense_percentage(
    client: ShoperClient, percent: Decimal
) -> None:
    with pytest.raises(ValueError):
        client.create_promotion_code("C", "n", percent, NOW, NOW + timedelta(days=1))


class RecordingSession(requests.Session):
    closed = False

    def close(self) -> None:
        self.closed = True
        super().close()


def test_client_leaves_a_session_it_was_given_open() -> None:
    shared = RecordingSession()
    with ShoperClient(SHOP_URL, ACCESS_TOKEN, http=shared):
        pass
    assert shared.closed is False
