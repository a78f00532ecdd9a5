"""Cart recovery rules that the end-to-end stories do not reach."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from shoper_retention.models import Cart
from tests.support import (
    abandon_cart,
    cart_snapshot,
    make_shop,
    messages,
    order_payload,
    outbox_entries,
    post_cart,
    post_webhook,
)


def _cart(factory):  # type: ignore[no-untyped-def]
    with factory() as session:
        return session.scalars(select(Cart)).one()


def test_a_shopper_clock_days_ahead_does_not_freeze_the_cart(
    client, worker, factory, settings, clock
):
    shop = make_shop(factory, settings, now=clock.now)
    post_cart(client, shop, cart_snapshot(at=clock.now + timedelta(days=3)))
    worker.tick(clock.now)
    fixed = [{"product_id": "303", "name": "Dzbanek", "price": "89.00", "quantity": 1}]
    post_cart(client, shop, cart_snapshot(at=clock.advance(minutes=20), items=fixed))
    worker.tick(clock.now)
    assert [i["product_id"] for i in _cart(factory).items] == ["303"]


def test_idle_cart_without_contact_is_parked_then_reminded_once_a_contact_arrives(
    client, worker, factory, settings, clock
):
    shop = make_shop(factory, settings, now=clock.now)
    post_cart(client, shop, cart_snapshot(at=clock.now, email=None, phone=None))
    worker.tick(clock.now)
    worker.tick(clock.advance(minutes=31))
    assert _cart(factory).status == "anonymous"
    assert messages(factory) == []
    post_cart(
        client,
        shop,
        cart_snapshot(at=clock.advance(minutes=1), email="ola@example.com", phone=None),
        confirmed=True,
    )
    worker.tick(clock.now)
    worker.tick(clock.advance(minutes=31))
    assert _cart(factory).status == "abandoned"
    assert [(m.step, m.channel) for m in messages(factory)] == [
        (1, "email"),
        (2, "email"),
        (3, "email"),
    ]


def test_a_refilled_emptied_cart_starts_a_new_run_of_reminders(
    client, worker, factory, settings, clock
):
    shop = make_shop(factory, settings, now=clock.now)
    post_cart(client, shop, cart_snapshot(at=clock.now))
    worker.tick(clock.now)
    worker.tick(clock.advance(minutes=31))
    post_cart(client, shop, cart_snapshot(at=clock.advance(minutes=1), items=[]))
    worker.tick(clock.now)
    post_cart(client, shop, cart_snapshot(at=clock.advance(hours=2)))
    worker.tick(clock.now)
    worker.tick(clock.advance(minutes=31))
    statuses = sorted((m.plan_key.split(":")[3], m.status) for m in messages(factory))
    assert statuses.count(("1", "cancelled")) == 4  # the first run's four messages
    assert statuses.count(("2", "scheduled")) == 4  # the second run planned afresh
    assert _cart(factory).run == 2


def test_order_seen_on_the_thank_you_page_closes_the_cart_before_the_webhook(
    client, worker, factory, settings, clock
):
    shop = make_shop(factory, settings, now=clock.now)
    post_cart(client, shop, cart_snapshot(at=clock.now), confirmed=True)
    worker.tick(clock.now)
    worker.tick(clock.advance(minutes=31))
    # A different e-mail at checkout: only the cart's own order reference links them.
    post_cart(client, shop, cart_snapshot(at=clock.advance(minutes=1), order_id="5005"))
    worker.tick(clock.now)
    assert _cart(factory).status == "ordered"
    assert {m.status for m in messages(factory)} == {"cancelled"}
    post_webhook(
        client, shop, "order.create", order_payload("5005", at=clock.now, email="other@example.com")
    )
    worker.tick(clock.now)
    assert _cart(factory).order_id is not None


def test_a_late_order_create_does_not_set_a_changed_status_back(
    client, worker, factory, settings, clock
):
    shop = make_shop(factory, settings, now=clock.now)
    paid = order_payload("77", at=clock.now, paid=True)
    post_webhook(client, shop, "order.status", paid)
    worker.tick(clock.now)
    post_webhook(client, shop, "order.create", order_payload("77", at=clock.now))
    worker.tick(clock.advance(minutes=1))
    from shoper_retention.models import Order

    with factory() as session:
        order = session.scalars(select(Order)).one()
    assert (order.status_id, order.status_type, order.paid) == ("2", "open", True)


def test_after_an_outage_only_the_latest_due_step_is_sent(client, worker, factory, settings, clock):
    shop = make_shop(factory, settings, now=clock.now)
    start = clock.now
    post_cart(client, shop, cart_snapshot(at=start), confirmed=True)
    worker.tick(clock.now)
    worker.tick(clock.advance(minutes=31))
    report = worker.tick(clock.set(start + timedelta(hours=80)))  # the worker was down
    sent = {(m.step, m.channel) for m in messages(factory) if m.status == "sent"}
    assert sent == {(3, "email"), (3, "sms")}  # the coupon SMS is not eaten by the cap
    assert report.dispatch.cancelled == 2
    assert {m.reason for m in messages(factory) if m.step < 3} == {"superseded by a later step"}


def test_an_order_on_another_contact_with_the_carts_phone_still_stops_the_reminders(
    client, worker, factory, settings, clock
):
    """A phone-only cart and an order with e-mail + that phone land on different contacts
    (the e-mail was known from an earlier order); the order must still end the cart."""
    shop = make_shop(factory, settings, now=clock.now)
    post_webhook(
        client, shop, "order.create", order_payload("1", at=clock.now - timedelta(days=30))
    )
    worker.tick(clock.now)
    start = abandon_cart(client, worker, shop, clock, email=None, phone="+48 600 999 888")
    clock.set(start + timedelta(minutes=50))
    paid = order_payload("2", at=clock.now, phone="600999888", paid=True)
    post_webhook(client, shop, "order.paid", paid)
    worker.tick(clock.now)
    worker.tick(clock.set(start + timedelta(hours=1)))
    assert outbox_entries(factory) == []
    assert {m.status for m in messages(factory)} == {"cancelled"}


def test_an_order_dated_a_little_before_the_cart_started_still_ends_it(
    client, worker, factory, settings, clock
):
    """The shop's clock is not ours (and a DST fold makes local times ambiguous)."""
    shop = make_shop(factory, settings, now=clock.now)
    start = abandon_cart(client, worker, shop, clock)
    skewed = order_payload("3", at=start - timedelta(minutes=20))
    post_webhook(client, shop, "order.create", skewed)
    worker.tick(clock.advance(minutes=1))
    worker.tick(clock.set(start + timedelta(hours=1)))
    assert outbox_entries(factory) == []


def test_a_storefront_post_cannot_take_over_another_shoppers_phone_or_messages(
    client, worker, factory, settings, clock
):
    """The storefront is unauthenticated: a snapshot naming the victim's e-mail with the
    attacker's phone must neither replace her phone nor send her carts' SMS there."""
    from shoper_retention.models import Contact

    shop = make_shop(factory, settings, now=clock.now)
    victim = cart_snapshot("victim-1", at=clock.now, phone="+48 600 100 200")
    post_cart(client, shop, victim, confirmed=True)
    worker.tick(clock.now)
    attack = cart_snapshot("attacker-1", at=clock.advance(minutes=1), phone="+48 700 700 700")
    post_cart(client, shop, attack)
    worker.tick(clock.now)
    with factory() as session:
        victim = session.scalars(select(Contact).where(Contact.email == "anna@example.com")).one()
    assert victim.phone == "+48600100200"
    # Her next cart, e-mail only, gets no SMS at all (the attacker's number has her consent
    # record, but her cart never named that number).
    later = cart_snapshot("victim-2", at=clock.advance(hours=2), phone=None, consent={})
    post_cart(client, shop, later)
    worker.tick(clock.now)
    worker.tick(clock.advance(minutes=31))
    victim_cart_messages = [
        m for m in messages(factory) if m.subject_id == _cart_id(factory, "victim-2")
    ]
    assert victim_cart_messages and {m.channel for m in victim_cart_messages} == {"email"}


def test_a_shopper_back_in_the_cart_is_not_reminded_until_idle_again(
    client, worker, factory, settings, clock
):
    shop = make_shop(factory, settings, now=clock.now)
    start = abandon_cart(client, worker, shop, clock)
    post_cart(client, shop, cart_snapshot(at=clock.set(start + timedelta(minutes=45))))
    worker.tick(clock.now)
    assert worker.tick(clock.set(start + timedelta(hours=1))).dispatch.sent == 0
    assert worker.tick(clock.set(start + timedelta(minutes=75))).dispatch.sent == 1


def _cart_id(factory, platform_cart_id):  # type: ignore[no-untyped-def]
    with factory() as session:
        return session.scalars(
            select(Cart.id).where(Cart.platform_cart_id == platform_cart_id)
        ).one()


def test_a_strangers_name_for_her_address_never_greets_her(
    client, worker, factory, settings, clock
):
    """A name looks like a name ("Zadzwoń Pilnie Oszust" passes): a stranger who posts it
    with her e-mail first must not have it greet her in her own cart's reminders."""
    from shoper_retention.models import Contact

    shop = make_shop(factory, settings, now=clock.now)
    stranger = cart_snapshot("theirs", at=clock.now, first_name="Zadzwoń Pilnie Oszust", items=[])
    post_cart(client, shop, stranger)
    worker.tick(clock.now)
    abandon_cart(client, worker, shop, clock, cart_snapshot("hers", at=clock.now, first_name="Ewa"))
    worker.tick(clock.advance(minutes=30))
    with factory() as session:
        (contact,) = session.scalars(select(Contact)).all()
    assert contact.first_name == ""  # the storefront never names a contact
    reminders = [m.id for m in messages(factory) if m.scenario == "cart_recovery"]
    (sms,) = [e for e in outbox_entries(factory) if e.message_id in reminders]
    assert sms.channel == "sms" and "Ewa" in sms.body_text
    assert all("Oszust" not in e.body_text for e in outbox_entries(factory))


def test_consent_withdrawn_in_a_snapshot_with_the_same_time_is_honoured(
    client, worker, factory, settings, clock
):
    """The shopper unticks SMS and nothing else changes: the widget sends the same time."""
    shop = make_shop(factory, settings, now=clock.now)
    at = clock.now
    post_cart(client, shop, cart_snapshot(at=at, consent={"email": False, "sms": True}))
    post_cart(client, shop, cart_snapshot(at=at, consent={"email": False, "sms": False}))
    worker.tick(clock.now)
    worker.tick(clock.advance(minutes=31))
    worker.tick(clock.set(at + timedelta(hours=1)))
    assert outbox_entries(factory) == []


def test_an_older_snapshot_cannot_give_back_a_withdrawn_consent(
    client, worker, factory, settings, clock
):
    shop = make_shop(factory, settings, now=clock.now)
    at = clock.now
    post_cart(
        client,
        shop,
        cart_snapshot(at=at + timedelta(minutes=1), consent={"email": True, "sms": False}),
    )
    worker.tick(clock.now)
    post_cart(client, shop, cart_snapshot(at=at, consent={"sms": True}))  # delayed, older
    worker.tick(clock.advance(minutes=31))
    worker.tick(clock.set(at + timedelta(hours=1)))
    assert [e.channel for e in outbox_entries(factory)] == ["email"]


def test_a_withdrawal_counts_for_the_number_even_after_the_email_changed_contact(
    client, worker, factory, settings, clock
):
    """Consent belongs to the address: correcting the e-mail to one of another contact and
    unticking SMS must stop the SMS to that number."""
    shop = make_shop(factory, settings, now=clock.now)
    at = clock.now
    post_cart(client, shop, cart_snapshot("other", at=at, email="b@example.com", phone=None))
    post_cart(client, shop, cart_snapshot(at=at, email="a@example.com", consent={"sms": True}))
    corrected = cart_snapshot(
        at=at + timedelta(minutes=1), email="b@example.com", consent={"email": True, "sms": False}
    )
    post_cart(client, shop, corrected)
    worker.tick(clock.now)
    worker.tick(clock.advance(minutes=35))
    worker.tick(clock.set(at + timedelta(hours=1, minutes=2)))
    assert "sms" not in [e.channel for e in outbox_entries(factory)]
