"""The two stories of the issue, end to end through the Flask test client and `tick`:
(a) a cart abandoned and reminded at +1 h, +24 h and +72 h; (b) the same with an order at +30 h.
Messages land in the dev outbox (no provider configured), which is what we read back."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from shoper_retention.models import Cart, Coupon, Order
from tests.support import (
    DEFAULT_CATALOGUE,
    abandon_cart,
    cart_snapshot,
    make_shop,
    messages,
    order_payload,
    outbox_entries,
    post_cart,
    post_webhook,
)


def test_abandoned_cart_gets_three_steps_with_the_right_content_channel_and_coupon(
    client, worker, factory, settings, clock
):
    shop = make_shop(
        factory,
        settings,
        now=clock.now,
        overrides={"scenarios": {"cart_recovery": {"coupon": {"static_code": "STALY10"}}}},
    )
    start = abandon_cart(client, worker, shop, clock)
    planned = messages(factory)
    assert [(m.step, m.channel, m.status) for m in planned] == [
        (1, "sms", "scheduled"),
        (2, "email", "scheduled"),
        (3, "email", "scheduled"),
        (3, "sms", "scheduled"),
    ]
    assert worker.tick(start + timedelta(minutes=59)).dispatch.sent == 0  # not due yet

    # Step 1 at +1 h: SMS, since the shopper gave SMS consent and a phone number.
    assert worker.tick(clock.set(start + timedelta(hours=1))).dispatch.sent == 1
    (sms1,) = outbox_entries(factory)
    assert sms1.channel == "sms" and sms1.to_address == "+48600100200"
    assert sms1.body_text.startswith(
        "Sklep Testowy: Anna, Twoj koszyk czeka: https:"
    )  # GSM-7 transliterated
    assert "https://retention.example/c/" in sms1.body_text
    assert "Rezygnacja: https://retention.example/u/" in sms1.body_text
    assert len(sms1.body_text) <= 160  # short signed links: one SMS segment, not two
    assert messages(factory)[0].segments == 1

    # Step 2 at +24 h: e-mail with the product photo, the amount in Polish format.
    assert worker.tick(clock.set(start + timedelta(hours=24))).dispatch.sent == 1
    email2 = outbox_entries(factory)[-1]
    assert email2.channel == "email" and email2.to_address == "anna@example.com"
    assert email2.subject == "Wciąż w Twoim koszyku: Kubek ceramiczny"
    assert '<img src="https://sklep.example/img/kubek.jpg"' in email2.body_html
    assert "99,80\xa0zł" in email2.body_text
    assert email2.headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert email2.headers["List-Unsubscribe"].startswith("<https://retention.example/u/")

    # Step 3 at +72 h: e-mail + SMS carrying one unique, time-limited coupon. The shop has no
    # Shoper token here, so the merchant's static code is the fallback.
    report = worker.tick(clock.set(start + timedelta(hours=72)))
    assert report.dispatch.sent == 2
    email3, sms3 = outbox_entries(factory)[-2:]
    assert (email3.channel, sms3.channel) == ("email", "sms")
    assert "STALY10" in email3.body_text and "STALY10" in sms3.body_text
    assert "10% rabatu" in email3.subject

    assert [m.status for m in messages(factory)] == ["sent"] * 4
    assert worker.tick(clock.advance(days=3)).dispatch.sent == 0  # nothing twice


def test_order_at_30_hours_cancels_step_three_for_good(client, worker, factory, settings, clock):
    shop = make_shop(factory, settings, now=clock.now)
    start = abandon_cart(client, worker, shop, clock)
    worker.tick(clock.set(start + timedelta(hours=1)))
    worker.tick(clock.set(start + timedelta(hours=24)))
    assert len(outbox_entries(factory)) == 2

    clock.set(start + timedelta(hours=30))
    answer = post_webhook(client, shop, "order.create", order_payload(at=clock.now))
    assert answer.status_code == 202
    worker.tick(clock.now)

    by_step = {(m.step, m.channel): m for m in messages(factory)}
    assert by_step[(3, "email")].status == "cancelled"
    assert by_step[(3, "sms")].status == "cancelled"
    assert by_step[(3, "email")].reason == "order placed"
    for later in (72, 96, 24 * 14):
        assert worker.tick(clock.set(start + timedelta(hours=later))).dispatch.sent == 0
    assert len(outbox_entries(factory)) == 2
    with factory() as session:
        cart = session.scalars(select(Cart)).one()
        order = session.scalars(select(Order)).one()
        assert cart.order_id == order.id
        assert cart.status == "ordered"
        assert session.scalars(select(Coupon)).first() is None  # no coupon was ever made


def test_order_is_attributed_to_the_sms_that_preceded_it(client, worker, factory, settings, clock):
    shop = make_shop(factory, settings, now=clock.now)
    start = abandon_cart(client, worker, shop, clock)
    worker.tick(clock.set(start + timedelta(hours=1)))  # the SMS goes out
    clock.set(start + timedelta(hours=5))
    post_webhook(client, shop, "order.paid", order_payload(at=clock.now, paid=True))
    worker.tick(clock.now)
    sms = messages(factory)[0]
    with factory() as session:
        order = session.scalars(select(Order)).one()
        cart = session.scalars(select(Cart)).one()
    assert order.attributed_message_id == sms.id
    assert order.attributed_scenario == "cart_recovery"
    assert order.paid is True
    assert cart.status == "recovered"


def test_cart_updated_later_continues_with_the_current_items(
    client, worker, factory, settings, clock
):
    dzbanek = {"name": "Dzbanek szklany", "price": "89.00"}
    shop = make_shop(
        factory, settings, now=clock.now, products={**DEFAULT_CATALOGUE, "303": dzbanek}
    )
    start = abandon_cart(client, worker, shop, clock)
    worker.tick(clock.set(start + timedelta(hours=1)))
    clock.set(start + timedelta(hours=3))
    new_items = [{"product_id": "303", "name": "Dzbanek szklany", "price": "89.00", "quantity": 1}]
    post_cart(client, shop, cart_snapshot(at=clock.now, items=new_items))
    worker.tick(clock.now)
    worker.tick(clock.set(start + timedelta(hours=24)))
    email = outbox_entries(factory)[-1]
    assert "Dzbanek szklany" in email.body_text and "Kubek" not in email.body_text
    assert "89,00\xa0zł" in email.body_text


def test_emptied_cart_cancels_what_is_pending(client, worker, factory, settings, clock):
    shop = make_shop(factory, settings, now=clock.now)
    start = abandon_cart(client, worker, shop, clock)
    post_cart(client, shop, cart_snapshot(at=clock.advance(minutes=5), items=[]))
    worker.tick(clock.now)
    worker.tick(clock.set(start + timedelta(hours=80)))
    assert outbox_entries(factory) == []
    assert {m.status for m in messages(factory)} == {"cancelled"}


def test_english_shop_gets_english_texts_and_email_when_no_sms_consent(
    client, worker, factory, settings, clock
):
    shop = make_shop(factory, settings, now=clock.now, language="en", name="Tea House")
    start = abandon_cart(client, worker, shop, clock, consent={"email": True, "sms": False})
    worker.tick(clock.set(start + timedelta(hours=1)))
    (email1,) = outbox_entries(factory)
    assert email1.channel == "email"  # step 1 falls back to e-mail without SMS consent
    assert email1.subject == "Anna, your basket is waiting for you"
    assert "PLN99.80" in email1.body_text.replace("\xa0", "")
    assert "Unsubscribe" in email1.body_html


def test_no_consent_at_all_sends_nothing(client, worker, factory, settings, clock):
    shop = make_shop(factory, settings, now=clock.now)
    start = abandon_cart(client, worker, shop, clock, consent={"email": False, "sms": False})
    for hours in (1, 24, 72):
        worker.tick(clock.set(start + timedelta(hours=hours)))
    assert outbox_entries(factory) == []


def test_subject_and_text_part_are_plain_text_while_the_html_is_escaped(
    client, worker, factory, settings, clock
):
    shop = make_shop(
        factory,
        settings,
        now=clock.now,
        name="Kowalski & Syn",
        products={"1": {"name": "Kubek <b>XL</b>", "price": "10"}},
    )
    items = [{"product_id": "1", "name": "Kubek <b>XL</b>", "price": "10", "quantity": 1}]
    start = abandon_cart(
        client, worker, shop, clock, first_name="D'Angelo", items=items, consent={"email": True}
    )
    worker.tick(clock.set(start + timedelta(hours=1)))
    (email,) = outbox_entries(factory)
    assert email.subject == "D'Angelo, Twój koszyk na Ciebie czeka"
    assert "Kowalski & Syn" in email.body_text and "Kubek <b>XL</b>" in email.body_text
    assert "Kubek &lt;b&gt;XL&lt;/b&gt;" in email.body_html and "<b>XL</b>" not in email.body_html
