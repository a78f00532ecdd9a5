"""Webhook edge rules a mutation audit found unpinned: a secret sealed under another key, an
empty `X-Webhook-Id`, the expiry of the per-process secret cache, and which deliveries of one
order count as repeats. All through `POST /shoper/webhooks/<ref>` with the test client."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from shoper_retention.credentials import CredentialBox
from shoper_retention.models import InboxDelivery, Shop
from shoper_retention.platforms.shoper import fast_ingest as shoper_ingest
from shoper_retention.platforms.shoper.signature import verify_webhook, webhook_sha1
from shoper_retention.settings import Settings
from tests.support import Clock, ShopHandle, make_shop, order_payload, post_webhook, webhook_headers

OLD_SECRET_KEY = "another-secret-key-fedcba9876543210"


def inbox_rows(factory: sessionmaker[Session]) -> list[InboxDelivery]:
    with factory() as session:
        return list(session.scalars(select(InboxDelivery).order_by(InboxDelivery.id)))


def set_shop(factory: sessionmaker[Session], shop: ShopHandle, **values: Any) -> None:
    with factory() as session, session.begin():
        session.execute(update(Shop).where(Shop.id == shop.id).values(**values))


@pytest.fixture
def shop(factory: sessionmaker[Session], settings: Settings, clock: Clock) -> ShopHandle:
    return make_shop(factory, settings, now=clock.now)


class MonotonicClock:
    """Stands in for `time.monotonic` in the ingest module only; tests move it."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def monotonic(monkeypatch: pytest.MonkeyPatch) -> MonotonicClock:
    fake = MonotonicClock()
    monkeypatch.setattr(shoper_ingest, "time", SimpleNamespace(monotonic=fake))
    return fake


# --- a secret sealed under another secret key ---------------------------------------------


def test_a_credential_sealed_under_another_key_opens_to_an_empty_string() -> None:
    sealed = CredentialBox(OLD_SECRET_KEY).seal("hook-secret")

    assert CredentialBox("test-secret-key-0123456789abcdef").open(sealed) == ""
    assert CredentialBox(OLD_SECRET_KEY).open(sealed) == "hook-secret"


def test_a_webhook_secret_sealed_under_an_old_secret_key_makes_deliveries_401(
    client: FlaskClient, factory: sessionmaker[Session], shop: ShopHandle, clock: Clock
) -> None:
    """The key changed: the stored secret cannot be read, so nothing can verify a delivery,
    neither one signed with the real secret nor one signed with the stored ciphertext (what a
    box that handed back the unreadable text would compare against)."""
    sealed = CredentialBox(OLD_SECRET_KEY).seal(shop.webhook_secret)
    assert sealed is not None
    set_shop(factory, shop, webhook_secret_enc=sealed)
    body = json.dumps(order_payload(at=clock.now)).encode()

    for secret in (shop.webhook_secret, sealed):
        answer = client.post(
            f"/shoper/webhooks/{shop.ref}",
            data=body,
            headers=webhook_headers(shop, "order.create", body, secret=secret),
        )

        assert answer.status_code == 401, secret
        assert answer.get_json()["error"] == "bad_signature"
    assert inbox_rows(factory) == []


# --- an empty X-Webhook-Id ------------------------------------------------------------------


def test_verify_webhook_refuses_an_empty_webhook_id_even_when_the_sha1_matches() -> None:
    body = b'{"order_id":"1001"}'

    assert verify_webhook("", "hook-secret", body, webhook_sha1("", "hook-secret", body)) is False


def test_a_delivery_with_an_empty_webhook_id_is_401_even_when_its_sha1_matches(
    client: FlaskClient, factory: sessionmaker[Session], shop: ShopHandle, clock: Clock
) -> None:
    body = json.dumps(order_payload(at=clock.now)).encode()
    headers = webhook_headers(shop, "order.create", body)
    headers["X-Webhook-Id"] = ""
    headers["X-Webhook-Sha1"] = webhook_sha1("", shop.webhook_secret, body)

    answer = client.post(f"/shoper/webhooks/{shop.ref}", data=body, headers=headers)

    assert answer.status_code == 401
    assert answer.get_json()["error"] == "bad_signature"
    assert inbox_rows(factory) == []


# --- the secret cache expires -----------------------------------------------------------------


def test_an_uninstalled_shop_gets_404_once_its_cached_secret_has_expired(
    client: FlaskClient,
    factory: sessionmaker[Session],
    shop: ShopHandle,
    clock: Clock,
    monotonic: MonotonicClock,
) -> None:
    first = post_webhook(client, shop, "order.create", order_payload("1001", at=clock.now))
    assert first.status_code == 202  # the shop's secret is now cached
    set_shop(factory, shop, status="uninstalled")

    monotonic.now += shoper_ingest.SECRET_TTL + 1
    answer = post_webhook(client, shop, "order.create", order_payload("1002", at=clock.now))

    assert answer.status_code == 404
    assert answer.get_json()["error"] == "unknown_shop"
    assert [json.loads(row.body)["order_id"] for row in inbox_rows(factory)] == ["1001"]


def test_a_rotated_secret_refuses_the_old_one_once_the_cache_has_expired(
    client: FlaskClient,
    factory: sessionmaker[Session],
    settings: Settings,
    shop: ShopHandle,
    clock: Clock,
    monotonic: MonotonicClock,
) -> None:
    first = post_webhook(client, shop, "order.create", order_payload("1001", at=clock.now))
    assert first.status_code == 202  # the old secret is now cached
    new_secret = "rotated-" + shop.webhook_secret
    set_shop(factory, shop, webhook_secret_enc=CredentialBox(settings.secret_key).seal(new_secret))

    monotonic.now += shoper_ingest.SECRET_TTL + 1
    old = post_webhook(client, shop, "order.create", order_payload("1002", at=clock.now))
    body = json.dumps(order_payload("1003", at=clock.now)).encode()
    new = client.post(
        f"/shoper/webhooks/{shop.ref}",
        data=body,
        headers=webhook_headers(shop, "order.create", body, secret=new_secret),
    )

    assert old.status_code == 401
    assert new.status_code == 202
    assert [json.loads(row.body)["order_id"] for row in inbox_rows(factory)] == ["1001", "1003"]


# --- which deliveries of one order are repeats ----------------------------------------------


def test_two_order_edits_of_one_order_with_different_bodies_are_both_stored(
    client: FlaskClient, factory: sessionmaker[Session], shop: ShopHandle, clock: Clock
) -> None:
    first = order_payload("1001", at=clock.now, total="99.80")
    second = order_payload("1001", at=clock.now, total="149.70")

    answers = [
        post_webhook(client, shop, "order.edit", first),
        post_webhook(client, shop, "order.edit", second),
        post_webhook(client, shop, "order.edit", first),  # Shoper retrying the first one
    ]

    assert [a.status_code for a in answers] == [202, 202, 200]
    assert [a.get_json()["status"] for a in answers] == ["accepted", "accepted", "duplicate"]
    rows = inbox_rows(factory)
    assert [(r.event_name, json.loads(r.body)["sum"]) for r in rows] == [
        ("order.edit", "99.80"),
        ("order.edit", "149.70"),
    ]
