"""Product text in reminders comes from the shop's catalogue, never from the storefront post:
end to end through the storefront endpoint, worker passes (the catalogue job reads Shoper REST,
faked with `responses`) and dispatch to the dev outbox."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal

import pytest
import responses
from sqlalchemy import select

from shoper_retention.commerce.catalogue import CatalogueUnavailable, ProductInfo
from shoper_retention.credentials import CredentialBox
from shoper_retention.models import Cart, Shop
from shoper_retention.worker import Worker
from tests.support import abandon_cart, make_shop, messages, outbox_entries

REST = "https://sklep.example/webapi/rest"
NOT_FOUND = {"error": "invalid_request", "error_description": "Resource not found"}

# products/101 in the shape of the recorded sample (docs/samples/shoper/GET_products_36.json).
KUBEK_AT_SHOPER = {
    "product_id": "101",
    "stock": {
        "stock_id": "201",
        "price": "49.90",
        "price_type": "1",
        "stock": "12",
        "default": "1",
        "product_id": "101",
        "comp_price": "49.90",
        "comp_promo_price": "49.90",
    },
    "translations": {
        "pl_PL": {
            "product_id": "101",
            "name": "Kubek ceramiczny",
            "permalink": "https://sklep.example/pl/p/Kubek-ceramiczny/101",
        }
    },
    "main_image": {"gfx_id": "46", "unic_name": "46", "extension": "jpg"},
}

EVIL = {
    "product_id": "101",
    "name": "WIN 1000 PLN at evil.example/x",
    "price": "0.01",
    "quantity": 2,
    "image_url": "https://evil.example/pixel.gif",
    "product_url": "https://evil.example/x",
}


@pytest.fixture
def shoper() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


def _shop_at_shoper(factory, settings, clock):
    """A shop with a REST token and nothing in its catalogue cache yet."""
    token = CredentialBox(settings.secret_key).seal("rest-token")
    return make_shop(factory, settings, now=clock.now, products={}, access_token_enc=token)


def test_the_reminder_shows_the_catalogues_product_not_what_the_page_posted(
    client, worker, factory, settings, clock, shoper
):
    shoper.get(f"{REST}/products/101", json=KUBEK_AT_SHOPER)
    shoper.get(f"{REST}/products/999", json=NOT_FOUND, status=404)
    shop = _shop_at_shoper(factory, settings, clock)
    unknown = {"product_id": "999", "name": "Cheap pills", "price": "1.00", "quantity": 1}
    start = abandon_cart(
        client, worker, shop, clock, items=[EVIL, unknown], consent={"email": True, "sms": False}
    )
    worker.tick(clock.set(start + timedelta(hours=1)))

    (email,) = outbox_entries(factory)
    assert email.channel == "email"
    for body in (email.body_html, email.body_text):
        assert "Kubek ceramiczny" in body
        assert "99,80\xa0zł" in body  # 2 x 49.90 from the catalogue
        for attack in ("WIN 1000", "evil.example", "pixel.gif", "0,01", "Cheap pills"):
            assert attack not in body
    assert '<img src="https://sklep.example/userdata/public/gfx/46.jpg"' in email.body_html
    assert "WIN" not in email.subject and "evil" not in email.subject
    with factory() as session:
        cart = session.scalars(select(Cart)).one()
    # What is kept of the post: ids and quantities.
    assert cart.items == [
        {"product_id": "101", "variant_id": "", "quantity": 2},
        {"product_id": "999", "variant_id": "", "quantity": 1},
    ]
    assert {c.request.url for c in shoper.calls} == {f"{REST}/products/101", f"{REST}/products/999"}


def test_a_cart_of_only_unknown_products_gets_no_reminder(
    client, worker, factory, settings, clock, shoper
):
    shoper.get(f"{REST}/products/999", json=NOT_FOUND, status=404)
    shop = _shop_at_shoper(factory, settings, clock)
    item = {"product_id": "999", "name": "WIN 1000 PLN", "price": "0.01", "quantity": 1}
    start = abandon_cart(client, worker, shop, clock, items=[item])
    for hours in (1, 24, 72):
        worker.tick(clock.set(start + timedelta(hours=hours)))
    assert outbox_entries(factory) == []
    planned = [m for m in messages(factory) if m.scenario == "cart_recovery" and m.step >= 1]
    reminders = [m for m in planned if m.plan_key.startswith("cart_recovery:")]
    assert reminders, "the steps were planned"
    assert {m.status for m in reminders} == {"cancelled"}
    assert {m.reason for m in reminders} == {"no product of this cart is in the shop's catalogue"}


class Platform:
    """A catalogue reader standing in for the shop's platform, switched up and down."""

    def __init__(self) -> None:
        self.up = False

    def __call__(self, shop: Shop, product_id: str, variant_id: str) -> ProductInfo | None:
        if not self.up:
            raise CatalogueUnavailable("Shoper answered 503")
        return ProductInfo("Kubek ceramiczny", Decimal("49.90"), "https://sklep.example/k.jpg")


def test_a_reminder_waits_for_products_not_read_yet_then_goes_with_them(
    client, factory, settings, clock, http
):
    platform = Platform()
    worker = Worker(settings, factory, http=http, name="w", catalogue_reader=platform)
    shop = make_shop(factory, settings, now=clock.now, products={})
    start = abandon_cart(client, worker, shop, clock, consent={"email": True, "sms": False})
    report = worker.tick(clock.set(start + timedelta(hours=1)))
    assert report.dispatch.sent == 0 and report.dispatch.moved == 1
    assert "waiting for the shop's catalogue" in report.dispatch.reasons[0]
    platform.up = True
    worker.tick(clock.advance(minutes=5))  # the back-off is over: read, then sent
    worker.tick(clock.advance(minutes=5))
    (email,) = outbox_entries(factory)
    assert "Kubek ceramiczny" in email.body_text and "99,80\xa0zł" in email.body_text


def test_a_reminder_waits_at_most_two_hours_for_the_catalogue(
    client, factory, settings, clock, http
):
    platform = Platform()  # down for good
    worker = Worker(settings, factory, http=http, name="w", catalogue_reader=platform)
    shop = make_shop(factory, settings, now=clock.now, products={})
    start = abandon_cart(client, worker, shop, clock, consent={"email": True, "sms": False})
    step1 = start + timedelta(hours=1)
    worker.tick(clock.set(step1))
    worker.tick(clock.set(step1 + timedelta(minutes=90)))
    assert [m.status for m in messages(factory) if m.step == 1] == ["scheduled"]
    worker.tick(clock.set(step1 + timedelta(hours=2)))
    (first,) = [m for m in messages(factory) if m.step == 1]
    assert (first.status, first.reason) == (
        "cancelled",
        "the shop's catalogue could not be read for this cart",
    )
    assert outbox_entries(factory) == []


def test_a_shop_without_catalogue_access_still_sends_what_is_known(
    client, worker, factory, settings, clock
):
    """Products read earlier stay in messages while the platform cannot be asked (here: no
    token at all), and the default catalogue of `make_shop` is what the other tests rely on."""
    shop = make_shop(factory, settings, now=clock.now)
    start = abandon_cart(client, worker, shop, clock, consent={"email": True, "sms": False})
    worker.tick(clock.set(start + timedelta(hours=25)))  # past the cache lifetime
    emails = outbox_entries(factory)
    assert emails and all("Kubek ceramiczny" in e.body_text for e in emails)
    with factory() as session:
        assert session.get(Shop, shop.id).access_token_enc is None
