"""Cart recovery rules that the end-to-end stories do not reach."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from shoper_retention.models import Cart
from tests.support import cart_snapshot, make_shop, messages, order_payload, post_cart, post_webhook


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
    post_cart(client, shop, cart_snapshot(at=clock.now))
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
    post_cart(client, shop, cart_snapshot(at=start))
    worker.tick(clock.now)
    worker.tick(clock.advance(minutes=31))
    report = worker.tick(clock.set(start + timedelta(hours=80)))  # the worker was down
    sent = {(m.step, m.channel) for m in messages(factory) if m.status == "sent"}
    assert sent == {(3, "email"), (3, "sms")}  # the coupon SMS is not eaten by the cap
    assert report.dispatch.cancelled == 2
    assert {m.reason for m in messages(factory) if m.step < 3} == {"superseded by a later step"}
