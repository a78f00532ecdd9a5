"""Back in stock, end to end: sign-ups through `POST /storefront/<key>/restock`, stock from
signed Shoper product webhooks or from the REST re-check (faked with `responses` in the shape of
docs/samples/shoper/GET_products_36.json), worker passes, and the dev outbox."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import responses
from sqlalchemy import select

from shoper_retention.credentials import CredentialBox
from shoper_retention.models import Message, ProductStock, RestockSubscription
from tests.support import make_shop, outbox_entries, post_webhook

REST = "https://sklep.example/webapi/rest"
NOT_FOUND = {"error": "invalid_request", "error_description": "Resource not found"}
SINGLE_OPT_IN = {"consent": {"email_opt_in": "single"}}


def _product(stock: str, product_id: str = "101", edited: str = "") -> dict[str, Any]:
    """products/<id> as Shoper answers it (and, we assume, as product webhooks carry it)."""
    return {
        "product_id": product_id,
        "edit_date": edited or "2026-03-03 09:00:00",
        "stock": {"stock_id": "201", "price": "49.90", "stock": stock, "product_id": product_id},
        "translations": {"pl_PL": {"name": "Kubek ceramiczny", "permalink": "/kubek"}},
    }


def _shop(factory, settings, clock, *, per_unit=1, expiry_days=90, token=False, extra=None):
    overrides = {
        "scenarios": {
            "back_in_stock": {"enabled": True, "per_unit": per_unit, "expiry_days": expiry_days}
        },
        **SINGLE_OPT_IN,
        **(extra or {}),
    }
    fields = {}
    if token:
        fields["access_token_enc"] = CredentialBox(settings.secret_key).seal("rest-token")
    return make_shop(
        factory, settings, now=clock.now, cart_recovery=False, overrides=overrides, **fields
    )


def _signup(client, shop, email, product_id="101", **extra):
    body = {
        "product_id": product_id,
        "channel": "email",
        "contact": {"email": email},
        "consent": {"text_version": "restock-2026-01"},
        **extra,
    }
    return client.post(
        f"/storefront/{shop.public_key}/restock",
        data=json.dumps(body),
        content_type="application/json",
    )


def _sign_up_five(client, worker, shop, clock) -> list[str]:
    people = [f"osoba{i}@example.com" for i in range(1, 6)]
    for email in people:
        assert _signup(client, shop, email).status_code == 202
        worker.tick(clock.advance(minutes=1))
    return people


def _notified(factory) -> list[str]:
    return [e.to_address for e in outbox_entries(factory) if "Znów w sprzedaży" in e.subject]


def _subscriptions(factory) -> dict[str, RestockSubscription]:
    with factory() as session:
        return {s.address: s for s in session.scalars(select(RestockSubscription))}


def test_two_units_and_five_subscribers_notify_the_first_two_in_sign_up_order(
    client, worker, factory, settings, clock, shoper
):
    shop = _shop(factory, settings, clock, token=True)
    people = _sign_up_five(client, worker, shop, clock)

    assert post_webhook(client, shop, "product.edit", _product("2")).status_code == 202
    worker.tick(clock.advance(minutes=1))
    assert _notified(factory) == people[:1]  # the second unit's notice goes STAGGER later
    # Ten minutes on, the platform is asked again before that notice goes: still in stock.
    read = shoper.get(f"{REST}/products/101", json=_product("2"))
    worker.tick(clock.advance(minutes=10))
    worker.tick(clock.advance(minutes=1))
    assert read.call_count >= 1
    assert _notified(factory) == people[:2]

    # Still in stock, reported again: the same restock, nobody else is told.
    again = _product("2", edited="2026-03-03 10:00:00")
    assert post_webhook(client, shop, "product.edit", again).status_code == 202
    worker.tick(clock.advance(hours=1))
    assert _notified(factory) == people[:2]
    states = {a: s.status for a, s in _subscriptions(factory).items()}
    assert states == {
        people[0]: "notified",
        people[1]: "notified",
        people[2]: "waiting",
        people[3]: "waiting",
        people[4]: "waiting",
    }
    email = next(e for e in outbox_entries(factory) if e.to_address == people[0])
    assert email.subject == "Znów w sprzedaży: Kubek ceramiczny"
    assert "https://sklep.example/img/kubek.jpg" in email.body_html  # the catalogue's photo
    assert "49,90" in email.body_html


def test_a_later_notice_asks_the_platform_first_and_stops_when_an_order_used_the_stock_up(
    client, worker, factory, settings, clock, shoper
):
    """Shoper may fire no product webhook when an order takes the last units: the notice for
    the second unit reads the stock again before it goes, though the hourly re-check is not
    due yet."""
    shop = _shop(factory, settings, clock, token=True)
    read = shoper.get(f"{REST}/products/101", json=_product("0"))
    people = _sign_up_five(client, worker, shop, clock)
    reads_before = read.call_count
    post_webhook(client, shop, "product.edit", _product("2"))
    worker.tick(clock.advance(minutes=1))
    assert _notified(factory) == people[:1]

    worker.tick(clock.advance(minutes=10))  # the second notice is due: the platform is asked
    worker.tick(clock.advance(minutes=1))
    worker.tick(clock.advance(minutes=1))
    assert read.call_count == reads_before + 1
    assert _notified(factory) == people[:1]
    with factory() as session:
        stopped = session.scalars(select(Message).where(Message.status == "cancelled")).one()
    assert stopped.reason == "stock back to 0"
    assert _subscriptions(factory)[people[1]].status == "waiting"


def test_stock_back_to_zero_between_two_sends_stops_the_rest_until_the_next_restock(
    client, worker, factory, settings, clock
):
    shop = _shop(factory, settings, clock)
    people = _sign_up_five(client, worker, shop, clock)
    post_webhook(client, shop, "product.edit", _product("2"))
    worker.tick(clock.advance(minutes=1))
    assert _notified(factory) == people[:1]

    post_webhook(client, shop, "product.edit", _product("0"))
    worker.tick(clock.advance(minutes=11))
    assert _notified(factory) == people[:1]
    with factory() as session:
        stopped = session.scalars(select(Message).where(Message.status == "cancelled")).one()
    assert stopped.reason == "stock back to 0"
    assert _subscriptions(factory)[people[1]].status == "waiting"

    # The next restock: the first still waiting, in sign-up order, gets its notice now.
    post_webhook(client, shop, "product.edit", _product("1"))
    worker.tick(clock.advance(minutes=1))
    assert _notified(factory) == people[:2]


def test_subscriptions_expire_after_the_set_time(client, worker, factory, settings, clock):
    shop = _shop(factory, settings, clock, expiry_days=5)
    assert _signup(client, shop, "anna@example.com").status_code == 202
    worker.tick(clock.now)
    worker.tick(clock.advance(days=4, hours=23))
    assert _subscriptions(factory)["anna@example.com"].status == "waiting"
    worker.tick(clock.advance(hours=2))
    assert _subscriptions(factory)["anna@example.com"].status == "expired"

    post_webhook(client, shop, "product.edit", _product("5"))
    worker.tick(clock.advance(minutes=1))
    assert _notified(factory) == []


def test_a_deleted_product_cancels_its_subscriptions(client, worker, factory, settings, clock):
    shop = _shop(factory, settings, clock)
    people = _sign_up_five(client, worker, shop, clock)
    assert post_webhook(client, shop, "product.delete", {"product_id": "101"}).status_code == 202
    worker.tick(clock.advance(minutes=1))
    subscriptions = _subscriptions(factory)
    assert {(s.status, s.reason) for s in subscriptions.values()} == {
        ("cancelled", "product deleted")
    }
    assert set(subscriptions) == set(people)

    post_webhook(client, shop, "product.create", _product("3"))
    worker.tick(clock.advance(minutes=1))
    assert _notified(factory) == []


@pytest.fixture
def shoper() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


def test_the_rest_recheck_finds_stock_that_no_webhook_reported(
    client, worker, factory, settings, clock, shoper
):
    shop = _shop(factory, settings, clock, token=True)
    out_of_stock = shoper.get(f"{REST}/products/101", json=_product("0"))
    assert _signup(client, shop, "anna@example.com").status_code == 202
    worker.tick(clock.now)  # ingest, then the first re-check: still none in stock
    assert out_of_stock.call_count == 1
    worker.tick(clock.advance(minutes=30))
    assert out_of_stock.call_count == 1  # paced: not before RECHECK_INTERVAL
    assert _notified(factory) == []

    shoper.replace(responses.GET, f"{REST}/products/101", json=_product("4"))
    worker.tick(clock.advance(minutes=31))
    assert _notified(factory) == ["anna@example.com"]
    with factory() as session:
        row = session.scalars(select(ProductStock)).one()
    assert row.quantity == 4
    worker.tick(clock.advance(minutes=61))
    with factory() as session:
        row = session.scalars(select(ProductStock)).one()
    assert row.recheck_at is None  # nobody waits any more: no more reads
    assert _notified(factory) == ["anna@example.com"]


def test_a_product_the_platform_does_not_know_keeps_no_subscription(
    client, worker, factory, settings, clock, shoper
):
    shop = _shop(factory, settings, clock, token=True)
    shoper.get(f"{REST}/products/999", json=NOT_FOUND, status=404)
    assert _signup(client, shop, "anna@example.com", product_id="999").status_code == 202
    worker.tick(clock.now)
    subscription = _subscriptions(factory)["anna@example.com"]
    assert (subscription.status, subscription.reason) == ("cancelled", "no such product")


def test_an_unconfirmed_address_gets_a_confirmation_request_and_no_notice_until_confirmed(
    client, worker, factory, settings, clock
):
    shop = _shop(factory, settings, clock, extra={"consent": {"email_opt_in": "confirmed"}})
    assert _signup(client, shop, "anna@example.com").status_code == 202
    worker.tick(clock.now)
    asked = outbox_entries(factory)
    assert [e.to_address for e in asked] == ["anna@example.com"]
    assert "potwierdź" in asked[0].subject

    post_webhook(client, shop, "product.edit", _product("3"))
    worker.tick(clock.advance(minutes=1))
    assert _notified(factory) == []
    assert _subscriptions(factory)["anna@example.com"].status == "waiting"

    # The owner follows the link while it is still in stock: the notice goes now.
    with factory() as session:
        request = session.scalars(
            select(Message).where(Message.scenario == "consent_confirmation")
        ).one()
    answer = client.post(f"/k/{_confirmation_token(settings, request.id)}", data={"answer": "yes"})
    assert answer.status_code == 200
    worker.tick(clock.advance(minutes=1))
    assert _notified(factory) == ["anna@example.com"]


def _confirmation_token(settings, message_id: int) -> str:
    from shoper_retention.links import Links

    url = Links(settings.secret_key, settings.public_url).confirmation_url(message_id)
    return url.rsplit("/", 1)[1]
