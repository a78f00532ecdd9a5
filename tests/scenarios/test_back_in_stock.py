"""The back-in-stock scenario's own rules, through the storefront endpoint, signed webhooks,
the Shoper REST re-check (faked with `responses` on the recorded sample shapes) and worker
passes: the allotment per unit, SMS notices and their product link, variants, the switch, a
product the catalogue does not know, and that a notice is no marketing for the cap."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
import responses
from sqlalchemy import select

from shoper_retention.contacts import consent
from shoper_retention.contacts import records as contacts
from shoper_retention.credentials import CredentialBox
from shoper_retention.ingest.events import ContactInfo
from shoper_retention.models import Message, RestockSubscription, Shop
from shoper_retention.scenarios import back_in_stock
from tests.support import make_shop, outbox_entries, post_webhook, seed_catalogue

REST = "https://sklep.example/webapi/rest"


def _shop(factory, settings, clock, token=False, **scenario: Any):  # type: ignore[no-untyped-def]
    fields = {}
    if token:
        fields["access_token_enc"] = CredentialBox(settings.secret_key).seal("rest-token")
    overrides = {
        "scenarios": {"back_in_stock": {"enabled": True, **scenario}},
        "consent": {"email_opt_in": "single"},
    }
    return make_shop(
        factory, settings, now=clock.now, cart_recovery=False, overrides=overrides, **fields
    )


def _signup(client, shop, contact, channel="email", product_id="101", variant_id=""):  # type: ignore[no-untyped-def]
    body = {
        "product_id": product_id,
        "variant_id": variant_id,
        "channel": channel,
        "contact": contact,
        "consent": {"text_version": "restock-v1"},
    }
    answer = client.post(
        f"/storefront/{shop.public_key}/restock",
        data=json.dumps(body),
        content_type="application/json",
    )
    assert answer.status_code == 202


def _stock(client, shop, units: str, product_id="101"):  # type: ignore[no-untyped-def]
    data = {"product_id": product_id, "edit_date": units, "stock": {"stock": units}}
    assert post_webhook(client, shop, "product.edit", data).status_code == 202


def _notices(factory) -> list[Message]:  # type: ignore[no-untyped-def]
    with factory() as session:
        query = select(Message).where(Message.scenario == back_in_stock.NAME)
        return list(session.scalars(query.order_by(Message.id)))


def _confirm(factory, shop, channel, address, at):  # type: ignore[no-untyped-def]
    with factory() as session, session.begin():
        info = ContactInfo(email=address) if channel == "email" else ContactInfo(phone=address)
        person = contacts.upsert_contact(session, shop.id, info, at, trusted=True)
        assert person is not None
        consent.record(
            session,
            person,
            channel,
            address,
            True,
            at,
            source="confirmation link",
            assurance=consent.CONFIRMED,
        )


def test_the_defaults_are_off_three_per_unit_and_ninety_days() -> None:
    assert back_in_stock.SETTINGS.defaults() == {
        "enabled": False,
        "per_unit": 3,
        "expiry_days": 90,
    }


def test_by_default_three_subscribers_are_told_per_unit(client, worker, factory, settings, clock):
    shop = _shop(factory, settings, clock)
    for i in range(5):
        _signup(client, shop, {"email": f"k{i}@example.com"})
        worker.tick(clock.advance(minutes=1))
    _stock(client, shop, "1")
    worker.tick(clock.advance(minutes=1))
    notices = _notices(factory)
    assert len(notices) == 3
    assert {n.status for n in notices} == {"sent"}
    assert not any(n.marketing for n in notices)


def test_an_sms_notice_carries_the_name_and_a_link_to_the_product(
    client, worker, factory, settings, clock
):
    shop = _shop(factory, settings, clock)
    _confirm(factory, shop, "sms", "+48600100200", clock.now)
    _signup(client, shop, {"phone": "600 100 200"}, channel="sms")
    worker.tick(clock.now)
    _stock(client, shop, "4")
    worker.tick(clock.advance(minutes=1))
    (sms,) = [e for e in outbox_entries(factory) if e.channel == "sms"]
    assert sms.to_address == "+48600100200"
    assert "znow w sprzedazy: Kubek ceramiczny" in sms.body_text  # transliterated
    link = re.search(r"https://retention\.example(/c/\S+)", sms.body_text)
    assert link is not None
    assert client.get(link.group(1)).headers["Location"] == "https://sklep.example/kubek"
    # Asked for, not marketing, yet it offers a way out (messaging.md: a requested notice).
    assert re.search(r"Rezygnacja: https://retention\.example/u/\S+$", sms.body_text)


def test_an_sms_signup_without_a_confirmed_number_gets_no_notice(
    client, worker, factory, settings, clock
):
    shop = _shop(factory, settings, clock)
    _signup(client, shop, {"phone": "600 100 200"}, channel="sms")
    worker.tick(clock.now)
    _stock(client, shop, "4")
    worker.tick(clock.advance(minutes=1))
    assert _notices(factory) == []
    with factory() as session:
        assert session.scalars(select(RestockSubscription)).one().status == "waiting"


def test_a_notice_is_not_held_by_the_marketing_frequency_cap(
    client, worker, factory, settings, clock
):
    shop = _shop(factory, settings, clock)
    with factory() as session, session.begin():
        person = contacts.upsert_contact(
            session, shop.id, ContactInfo(email="anna@example.com"), clock.now, trusted=True
        )
        assert person is not None
        for i in range(3):  # the day's marketing e-mails, well over the default cap of 2
            session.add(
                Message(
                    shop_id=shop.id,
                    contact_id=person.id,
                    scenario="cart_recovery",
                    subject_type="cart",
                    subject_id=i,
                    step=1,
                    run=1,
                    channel="email",
                    marketing=True,
                    plan_key=f"x:{i}",
                    status="sent",
                    due_at=clock.now,
                    planned_at=clock.now,
                    updated_at=clock.now,
                    sent_at=clock.now,
                    to_address="anna@example.com",
                )
            )
    _signup(client, shop, {"email": "anna@example.com"})
    worker.tick(clock.now)
    _stock(client, shop, "1")
    worker.tick(clock.advance(minutes=1))
    assert [n.status for n in _notices(factory)] == ["sent"]


def test_switched_off_nothing_is_planned_but_subscriptions_still_expire(
    client, worker, factory, settings, clock
):
    shop = _shop(factory, settings, clock, expiry_days=2)
    _signup(client, shop, {"email": "anna@example.com"})
    worker.tick(clock.now)
    with factory() as session, session.begin():
        from shoper_retention import shop_config
        from shoper_retention.models import Shop

        row = session.get(Shop, shop.id)
        assert row is not None
        shop_config.update(row, {"scenarios": {"back_in_stock": {"enabled": False}}})
    _stock(client, shop, "3")
    worker.tick(clock.advance(minutes=1))
    assert _notices(factory) == []
    worker.tick(clock.advance(days=2))
    with factory() as session:
        assert session.scalars(select(RestockSubscription)).one().status == "expired"


def test_a_product_the_catalogue_does_not_know_ends_the_subscription_at_send(
    client, worker, factory, settings, clock
):
    shop = _shop(factory, settings, clock)
    seed_catalogue(factory, shop, now=clock.now, products={"555": {}}, status="missing")
    _signup(client, shop, {"email": "anna@example.com"}, product_id="555")
    worker.tick(clock.now)
    _stock(client, shop, "2", product_id="555")
    worker.tick(clock.advance(minutes=1))
    (notice,) = _notices(factory)
    assert notice.status == "cancelled"
    with factory() as session:
        subscription = session.scalars(select(RestockSubscription)).one()
    assert (subscription.status, subscription.reason) == ("cancelled", "no such product")
    assert outbox_entries(factory) == []


@pytest.fixture
def shoper() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


def test_a_variant_waits_for_its_own_stock_read_from_product_stocks(
    client, worker, factory, settings, clock, shoper
):
    shop = _shop(factory, settings, clock, token=True)
    seed_catalogue(
        factory,
        shop,
        now=clock.now,
        products={"101/7": {"name": "Kubek ceramiczny, czerwony", "price": "52.00"}},
    )
    # products/101 and product-stocks/7 in the shapes of the recorded samples.
    product = {"product_id": "101", "stock": {"stock_id": "201", "stock": "9"}}
    shoper.get(f"{REST}/products/101", json=product)
    variant = shoper.get(
        f"{REST}/product-stocks/7", json={"stock_id": "7", "product_id": "101", "stock": "0"}
    )
    _signup(client, shop, {"email": "anna@example.com"}, variant_id="7")
    worker.tick(clock.now)
    assert variant.call_count == 1
    _stock(client, shop, "9")  # the product's default stock: not this variant's
    worker.tick(clock.advance(minutes=1))
    assert _notices(factory) == []

    shoper.replace(
        responses.GET,
        f"{REST}/product-stocks/7",
        json={"stock_id": "7", "product_id": "101", "stock": "2"},
    )
    worker.tick(clock.advance(hours=1))
    (notice,) = _notices(factory)
    assert notice.status == "sent"
    (email,) = outbox_entries(factory)
    assert email.subject == "Znów w sprzedaży: Kubek ceramiczny, czerwony"


def test_signing_up_again_after_the_notice_is_a_new_wish_for_the_next_restock(
    client, worker, factory, settings, clock
):
    shop = _shop(factory, settings, clock)
    _signup(client, shop, {"email": "anna@example.com"})
    worker.tick(clock.now)
    _stock(client, shop, "2")
    worker.tick(clock.advance(minutes=1))
    _signup(client, shop, {"email": "ANNA@example.com"})  # signed up again after the notice
    worker.tick(clock.advance(minutes=1))
    assert [n.status for n in _notices(factory)] == ["sent"]  # still the same restock
    _stock(client, shop, "0")
    _stock(client, shop, "5")
    worker.tick(clock.advance(minutes=1))
    worker.tick(clock.advance(minutes=1))
    assert [n.status for n in _notices(factory)] == ["sent", "sent"]
    with factory() as session:
        states = sorted(s.status for s in session.scalars(select(RestockSubscription)))
    assert states == ["notified", "notified"]


def test_confirming_a_sign_up_lets_the_notice_go_and_grants_no_marketing(
    client, worker, factory, settings, clock
):
    """The owner confirms what the form asked for (the notice), never marketing: cart
    reminders and birthday wishes still need their own consent."""
    shop = make_shop(  # confirmed opt-in, the default
        factory,
        settings,
        now=clock.now,
        cart_recovery=False,
        overrides={"scenarios": {"back_in_stock": {"enabled": True}}},
    )
    _signup(client, shop, {"email": "ola@example.com"})
    worker.tick(clock.now)
    (request,) = outbox_entries(factory)
    assert request.subject == "Sklep Testowy: potwierdź zapis na powiadomienie"
    assert "nie zapisuje Cię na żadne oferty" in request.body_text
    (link,) = re.findall(r"https?://[^/\s]+(/k/[A-Za-z0-9_.\-]+)", request.body_text)
    page = client.get(link).get_data(as_text=True)
    assert "gdy produkt wróci do sprzedaży" in page and "z ofertami" not in page
    assert client.post(link, data={"answer": "yes"}).status_code == 200

    with factory() as session:
        stored = session.get(Shop, shop.id)
        assert stored is not None
        assert not consent.allows(session, stored, "email", "ola@example.com")
        assert consent.state(session, stored, "email", "ola@example.com") == "pending"
        assert consent.allows_requested(session, stored, "email", "ola@example.com")

    # A second sign-up later is the same confirmed wish: no second request.
    _signup(client, shop, {"email": "ola@example.com"}, product_id="102")
    worker.tick(clock.advance(minutes=1))
    assert len(outbox_entries(factory)) == 1
    _stock(client, shop, "1")
    worker.tick(clock.advance(minutes=1))
    notices = [e for e in outbox_entries(factory) if e.subject.startswith("Znów w sprzedaży")]
    assert [e.to_address for e in notices] == ["ola@example.com"]
