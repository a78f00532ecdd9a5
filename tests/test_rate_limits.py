"""Rate limits on the public endpoints: the storefront per address, per shop and per new
contacts; shoppers' links per address; refused webhooks, App Store callbacks and delivery
reports per address (only refusals count); the client address behind trusted proxies; and a
limiter storage that fails lets requests through."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import pytest
from flask import Flask
from limits.storage import MemoryStorage
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from shoper_retention.app import create_app
from shoper_retention.models import Contact, InboxDelivery
from shoper_retention.platforms.shoper.signature import appstore_hash
from shoper_retention.settings import Settings
from shoper_retention.web.rate_limits import client_key
from tests.support import (
    Clock,
    ShopHandle,
    cart_snapshot,
    make_shop,
    post_cart,
    webhook_headers,
)

A = {"REMOTE_ADDR": "203.0.113.10"}
B = {"REMOTE_ADDR": "198.51.100.20"}


def build(settings: Settings, factory: sessionmaker[Session], clock: Clock) -> Flask:
    app = create_app(settings, clock=clock, factory=factory)
    app.config["TESTING"] = True
    return app


def stored(factory: sessionmaker[Session]) -> int:
    with factory() as session:
        return int(session.scalar(select(func.count()).select_from(InboxDelivery)) or 0)


def assert_limited(answer: Any, window_seconds: int) -> None:
    assert answer.status_code == 429
    assert answer.json["error"] == "rate_limited"
    assert answer.json["message"]
    assert 1 <= int(answer.headers["Retry-After"]) <= window_seconds


def cart(
    client: Any, shop: ShopHandle, clock: Clock, n: int, env: dict[str, str], **kw: Any
) -> Any:
    return post_cart(client, shop, cart_snapshot(f"cart-{n}", at=clock.now, **kw), environ_base=env)


# --- storefront -----------------------------------------------------------------------------


def test_the_61st_storefront_post_from_one_address_in_a_minute_is_429_and_stores_nothing(
    client, factory, settings, clock
):
    shop = make_shop(factory, settings, now=clock.now)
    for n in range(60):  # the default: 60 a minute per address
        assert cart(client, shop, clock, n, A).status_code == 202
    assert stored(factory) == 60

    assert_limited(cart(client, shop, clock, 60, A), 60)
    assert stored(factory) == 60
    assert cart(client, shop, clock, 61, B).status_code == 202  # another shopper is served


def test_storefront_posts_for_one_shop_are_limited_whatever_the_address(settings, factory, clock):
    limited = settings.with_(limit_storefront_per_shop="3/minute")
    client = build(limited, factory, clock).test_client()
    shop = make_shop(factory, limited, now=clock.now)
    other = make_shop(factory, limited, now=clock.now)
    for n in range(3):
        env = {"REMOTE_ADDR": f"203.0.113.{n + 1}"}
        assert cart(client, shop, clock, n, env).status_code == 202
    assert_limited(cart(client, shop, clock, 3, {"REMOTE_ADDR": "203.0.113.99"}), 60)
    assert stored(factory) == 3
    assert cart(client, other, clock, 4, {"REMOTE_ADDR": "203.0.113.99"}).status_code == 202


def test_new_contacts_per_shop_and_hour_are_limited_known_ones_are_not(settings, factory, clock):
    limited = settings.with_(limit_new_contacts_per_shop="2/hour")
    client = build(limited, factory, clock).test_client()
    shop = make_shop(factory, limited, now=clock.now)
    with factory() as session, session.begin():
        session.add(
            Contact(
                shop_id=shop.id,
                email="known@example.com",
                phone="+48600999888",
                created_at=clock.now,
                updated_at=clock.now,
            )
        )
    for n in range(2):
        answer = cart(client, shop, clock, n, A, email=f"new{n}@example.com", phone=None)
        assert answer.status_code == 202

    # A third stranger's address in the hour is refused, whoever sends it, and not stored.
    flood = cart(client, shop, clock, 2, B, email="new2@example.com", phone=None)
    assert_limited(flood, 3600)
    # A known address with an unknown phone is a new contact too.
    assert cart(client, shop, clock, 3, B, email="known@example.com").status_code == 429
    assert stored(factory) == 2

    # Snapshots naming a known contact, or nobody, are not counted.
    for n in range(4, 8):
        known = cart(client, shop, clock, n, A, email="known@example.com", phone="+48600999888")
        assert known.status_code == 202
    assert cart(client, shop, clock, 8, A, email=None, phone=None).status_code == 202
    assert stored(factory) == 7


# --- shoppers' links ------------------------------------------------------------------------


def test_shopper_links_are_limited_per_address_across_c_and_u(settings, factory, clock):
    client = build(settings.with_(limit_shopper_links_per_ip="3/minute"), factory, clock)
    client = client.test_client()
    assert client.get("/c/not-a-token", environ_base=A).status_code == 404
    assert client.get("/u/not-a-token", environ_base=A).status_code == 404
    assert client.get("/k/not-a-token", environ_base=A).status_code == 404
    assert_limited(client.get("/c/not-a-token", environ_base=A), 60)
    assert_limited(client.get("/u/not-a-token", environ_base=A), 60)
    assert client.get("/c/not-a-token", environ_base=B).status_code == 404
    # A mailbox provider's one-click unsubscribes (RFC 8058) from one address never wait.
    assert client.post("/u/not-a-token", environ_base=A).status_code == 404


# --- refused requests to the signed endpoints -----------------------------------------------


def test_refused_webhooks_are_limited_per_address_and_accepted_ones_never_count(
    settings, factory, clock
):
    client = build(settings.with_(limit_rejected_per_ip="3/minute"), factory, clock).test_client()
    shop = make_shop(factory, settings, now=clock.now)
    for n in range(6):  # accepted deliveries are not counted at all
        order = {"order_id": str(n), "sum": "1.00"}
        body = json.dumps(order).encode()
        headers = webhook_headers(shop, "order.create", body)
        url = f"/shoper/webhooks/{shop.ref}"
        assert client.post(url, data=body, headers=headers, environ_base=A).status_code == 202

    body = b'{"order_id": "99"}'
    forged = webhook_headers(shop, "order.create", body, secret="guessed")
    url = f"/shoper/webhooks/{shop.ref}"
    assert client.post(url, data=body, headers=forged, environ_base=A).status_code == 401
    assert (
        client.post("/shoper/webhooks/no-such-shop", data=body, environ_base=A).status_code == 404
    )
    assert client.post(url, data=body, headers=forged, environ_base=A).status_code == 401
    assert_limited(client.post(url, data=body, headers=forged, environ_base=A), 60)

    # The address is now refused up front, a good delivery included (Shoper retries it).
    good = webhook_headers(shop, "order.create", body)
    assert_limited(client.post(url, data=body, headers=good, environ_base=A), 60)
    assert stored(factory) == 6
    assert client.post(url, data=body, headers=good, environ_base=B).status_code == 202


def test_refused_app_store_callbacks_are_limited_per_address(settings, factory, clock):
    client = build(settings.with_(limit_rejected_per_ip="2/minute"), factory, clock).test_client()
    form = {"action": "uninstall", "shop": "f" * 40, "timestamp": "1772524800"}
    forged = {**form, "hash": appstore_hash(form, "guessed-secret")}
    for _ in range(2):
        answer = client.post("/shoper/appstore", data=forged, environ_base=A)
        assert answer.status_code == 403
    assert_limited(client.post("/shoper/appstore", data=forged, environ_base=A), 60)
    signed = {**form, "hash": appstore_hash(form, "appstore-secret")}
    assert_limited(client.post("/shoper/appstore", data=signed, environ_base=A), 60)
    assert client.post("/shoper/appstore", data=signed, environ_base=B).status_code == 404


def test_delivery_reports_with_unknown_tokens_are_limited_per_address(settings, factory, clock):
    client = build(settings.with_(limit_rejected_per_ip="2/minute"), factory, clock).test_client()
    shop = make_shop(factory, settings, now=clock.now)
    for _ in range(2):
        assert client.get("/smsapi/reports/guess", environ_base=A).status_code == 404
    assert_limited(client.get("/smsapi/reports/guess", environ_base=A), 60)
    assert_limited(client.get(f"/smsapi/reports/{shop.report_token}", environ_base=A), 60)
    assert client.get(f"/smsapi/reports/{shop.report_token}", environ_base=B).status_code == 200


# --- client address ---------------------------------------------------------------------------


def test_behind_a_trusted_proxy_each_forwarded_client_is_counted_on_its_own(
    settings, factory, clock
):
    proxied = settings.with_(trusted_proxies=1, limit_storefront_per_ip="1/minute")
    client = build(proxied, factory, clock).test_client()
    shop = make_shop(factory, proxied, now=clock.now)
    proxy = {"REMOTE_ADDR": "127.0.0.1"}

    def via_proxy(n: int, forwarded_for: str) -> int:
        snapshot = cart_snapshot(f"cart-{n}", at=clock.now)
        headers = {"X-Forwarded-For": forwarded_for}
        return post_cart(client, shop, snapshot, headers=headers, environ_base=proxy).status_code

    assert via_proxy(1, "203.0.113.1") == 202
    assert via_proxy(2, "203.0.113.2") == 202
    # A client's own X-Forwarded-For entry is not believed: the proxy's (last) one counts.
    assert via_proxy(3, "203.0.113.9, 203.0.113.1") == 429


def test_with_no_trusted_proxy_x_forwarded_for_changes_nothing(settings, factory, clock):
    direct = settings.with_(limit_storefront_per_ip="1/minute")
    client = build(direct, factory, clock).test_client()
    shop = make_shop(factory, direct, now=clock.now)
    first = cart_snapshot("cart-1", at=clock.now)
    second = cart_snapshot("cart-2", at=clock.now)
    headers = {"X-Forwarded-For": "203.0.113.1"}
    assert post_cart(client, shop, first, headers=headers, environ_base=A).status_code == 202
    headers = {"X-Forwarded-For": "203.0.113.2"}
    assert post_cart(client, shop, second, headers=headers, environ_base=A).status_code == 429


def test_the_webhook_endpoint_sees_the_forwarded_client_address(settings, factory, clock):
    proxied = settings.with_(trusted_proxies=1, limit_rejected_per_ip="1/minute")
    client = build(proxied, factory, clock).test_client()
    proxy = {"REMOTE_ADDR": "127.0.0.1"}

    def refused(forwarded_for: str) -> int:
        headers = {"X-Forwarded-For": forwarded_for}
        url = "/shoper/webhooks/no-such-shop"
        return client.post(url, data=b"{}", headers=headers, environ_base=proxy).status_code

    assert refused("203.0.113.1") == 404
    assert refused("203.0.113.1") == 429
    assert refused("203.0.113.2") == 404


def test_an_ipv6_client_is_counted_by_its_64_network() -> None:
    assert client_key("2001:db8:1:2:aaaa::1") == client_key("2001:db8:1:2:bbbb::2")
    assert client_key("2001:db8:1:2::1") != client_key("2001:db8:1:3::1")
    assert client_key("203.0.113.10") == "203.0.113.10"


# --- a failing storage ------------------------------------------------------------------------


class UnreachableStorage(MemoryStorage):
    """A counter store that cannot be reached (say, Redis is down): registered under its own
    URI scheme, so the app builds it through `storage_from_string` like a real one."""

    STORAGE_SCHEME = ["unreachable"]

    @property
    def base_exceptions(self) -> type[Exception]:
        return ConnectionError

    def acquire_entry(self, key: str, limit: int, expiry: int, amount: int = 1) -> bool:
        raise ConnectionError("connection refused")

    def get_moving_window(self, key: str, limit: int, expiry: int) -> tuple[float, int]:
        raise ConnectionError("connection refused")


def test_a_limiter_storage_that_fails_lets_requests_through_with_a_warning(
    settings, factory, clock, caplog: pytest.LogCaptureFixture
):
    broken = settings.with_(
        rate_limit_storage_url="unreachable://", limit_storefront_per_ip="1/minute"
    )
    client = build(broken, factory, clock).test_client()
    shop = make_shop(factory, broken, now=clock.now)
    with caplog.at_level(logging.WARNING, logger="shoper_retention.web.rate_limits"):
        for n in range(3):
            assert cart(client, shop, clock, n, A).status_code == 202
        assert client.get("/c/not-a-token", environ_base=A).status_code == 404
    assert stored(factory) == 3
    assert "rate limit storage failed" in caplog.text


def test_a_limit_frees_up_once_its_window_has_passed(settings, factory, clock):
    """Limits count real time (like the worker's heartbeat), not the simulated clock."""
    client = build(settings.with_(limit_shopper_links_per_ip="1/second"), factory, clock)
    client = client.test_client()
    assert client.get("/c/not-a-token", environ_base=A).status_code == 404
    assert client.get("/c/not-a-token", environ_base=A).status_code == 429
    time.sleep(1.1)
    assert client.get("/c/not-a-token", environ_base=A).status_code == 404


def test_two_processes_sharing_redis_share_one_limit(settings, factory, clock):
    """Each web process is its own app: with the counters in the machine's Redis, a client
    meets one limit across them instead of one per process."""
    shared = settings.with_(
        rate_limit_storage_url="redis://127.0.0.1:6379", limit_storefront_per_ip="3/minute"
    )
    first = build(shared, factory, clock).test_client()
    second = build(shared, factory, clock).test_client()
    shop = make_shop(factory, settings, now=clock.now)
    client_env = {"REMOTE_ADDR": f"192.0.2.{int(time.time() * 1000) % 250 + 1}"}
    answers = [
        cart(app, shop, clock, n, client_env).status_code
        for n, app in enumerate([first, second, first, second])
    ]
    assert answers == [202, 202, 202, 429]


def test_refused_settings_page_entries_are_limited_per_address(settings, factory, clock):
    app = build(settings.with_(limit_rejected_per_ip="2/minute"), factory, clock)
    client = app.test_client()
    forged = "/shoper/app?place=app&shop=x&timestamp=1&hash=00"
    assert client.get(forged, environ_base=A).status_code == 403
    assert client.post("/shoper/app/settings", data={"t": "x"}, environ_base=A).status_code == 403
    assert_limited(client.get(forged, environ_base=A), 60)
    assert client.get(forged, environ_base=B).status_code == 403
