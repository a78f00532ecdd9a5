"""Date anniversaries through Shoper's webhooks and the worker: the first order's and the
club's anniversaries at 10:00 shop time, from the first anniversary on, once a year per kind;
an older order arriving late moves the date; the merchant's switches per kind."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from shoper_retention.commerce import history
from shoper_retention.models import Contact, Shop
from tests.support import make_shop, messages, order_payload, outbox_entries, post_webhook

# 20 June, 10:00 in Warsaw (CEST) is 08:00 UTC.
FIRST_ORDER_AT = datetime(2025, 6, 20, 15, 0, tzinfo=UTC)
ANNIVERSARY_TEN = datetime(2026, 6, 20, 8, 0, tzinfo=UTC)


def customer(date_add: str, newsletter: str = "1") -> dict[str, Any]:
    """A Shoper `users` row as its webhook sends it (samples/shoper/GET_users_page1.json)."""
    return {
        "user_id": "5",
        "date_add": date_add,
        "additional_fields": [],
        "firstname": "Anna",
        "email": "anna@example.com",
        "newsletter": newsletter,
        "active": "1",
    }


def anniversary_shop(factory, settings, clock, **config: Any):  # type: ignore[no-untyped-def]
    return make_shop(
        factory,
        settings,
        now=clock.now,
        cart_recovery=False,
        overrides={"scenarios": {"anniversaries": {"enabled": True, **config}}},
    )


def test_the_first_orders_anniversary_goes_at_ten_a_year_later_and_then_yearly(
    client, worker, factory, settings, clock
):
    shop = anniversary_shop(factory, settings, clock, club=False)
    post_webhook(client, shop, "client.create", customer("2025-06-20 09:00:00"))
    post_webhook(client, shop, "order.create", order_payload("1", at=FIRST_ORDER_AT))
    worker.tick(clock.now)

    # The day of the order itself is no anniversary.
    assert worker.tick(clock.set(FIRST_ORDER_AT + timedelta(hours=1))).planned == 0
    assert worker.tick(clock.set(ANNIVERSARY_TEN - timedelta(minutes=1))).dispatch.sent == 0
    assert worker.tick(clock.set(ANNIVERSARY_TEN)).dispatch.sent == 1
    (email,) = outbox_entries(factory)
    assert email.subject == "To już rok od Twojego pierwszego zamówienia"
    assert "Cześć, Anna!" in email.body_text
    assert worker.tick(clock.set(ANNIVERSARY_TEN + timedelta(days=1))).planned == 0

    assert worker.tick(clock.set(ANNIVERSARY_TEN.replace(year=2028))).dispatch.sent == 1
    assert outbox_entries(factory)[-1].subject == "To już 3 lata od Twojego pierwszego zamówienia"
    assert [(m.step, m.run) for m in messages(factory)] == [(1, 2026), (1, 2028)]


def test_both_kinds_on_one_day_are_two_notes_once_each(client, worker, factory, settings, clock):
    shop = anniversary_shop(factory, settings, clock)
    post_webhook(client, shop, "client.create", customer("2024-06-20 09:00:00"))
    post_webhook(client, shop, "order.create", order_payload("1", at=FIRST_ORDER_AT))
    worker.tick(clock.now)

    assert worker.tick(clock.set(ANNIVERSARY_TEN)).dispatch.sent == 2
    subjects = sorted(e.subject for e in outbox_entries(factory))
    assert subjects == [
        "To już 2 lata, odkąd jesteś z nami",
        "To już rok od Twojego pierwszego zamówienia",
    ]
    assert worker.tick(clock.set(ANNIVERSARY_TEN + timedelta(hours=2))).planned == 0


def test_an_older_order_arriving_late_moves_the_anniversary_and_cancels_the_planned_note(
    client, worker, factory, settings, clock
):
    shop = anniversary_shop(factory, settings, clock, club=False)
    post_webhook(client, shop, "client.create", customer("2024-01-01 09:00:00"))
    post_webhook(client, shop, "order.create", order_payload("2", at=FIRST_ORDER_AT))
    worker.tick(clock.now)
    assert worker.tick(clock.set(ANNIVERSARY_TEN - timedelta(hours=3))).planned == 1

    older = datetime(2024, 11, 5, 12, 0, tzinfo=UTC)
    post_webhook(client, shop, "order.create", order_payload("1", at=older))
    assert worker.tick(clock.set(ANNIVERSARY_TEN)).dispatch.sent == 0
    assert [(m.status, m.reason) for m in messages(factory)] == [
        ("cancelled", "anniversary date changed")
    ]
    with factory() as session:
        contact = session.scalars(select(Contact).where(Contact.shop_id == shop.id)).one()
    assert (contact.first_order_on, contact.first_order_md) == (older.date(), 1105)


def test_a_kind_switched_off_is_neither_planned_nor_sent(client, worker, factory, settings, clock):
    shop = anniversary_shop(factory, settings, clock, first_order=False)
    post_webhook(client, shop, "client.create", customer("2025-01-01 09:00:00"))
    post_webhook(client, shop, "order.create", order_payload("1", at=FIRST_ORDER_AT))
    worker.tick(clock.now)
    assert worker.tick(clock.set(ANNIVERSARY_TEN)).planned == 0


def test_the_club_date_is_the_newsletter_sign_up_when_it_came_first(
    client, worker, factory, settings, clock
):
    shop = anniversary_shop(factory, settings, clock, first_order=False)
    post_webhook(
        client,
        shop,
        "subscriber.create",
        {
            "subscriber_id": "9",
            "email": "anna@example.com",
            "active": "1",
            "date_add": "2024-06-20 18:00:00",
        },
    )
    post_webhook(client, shop, "client.create", customer("2025-02-01 09:00:00"))
    worker.tick(clock.now)
    assert worker.tick(clock.set(ANNIVERSARY_TEN)).dispatch.sent == 1
    assert outbox_entries(factory)[0].subject == "To już 2 lata, odkąd jesteś z nami"


def test_english_shops_get_english_notes(client, worker, factory, settings, clock):
    shop = make_shop(
        factory,
        settings,
        now=clock.now,
        language="en",
        cart_recovery=False,
        overrides={"scenarios": {"anniversaries": {"enabled": True, "club": False}}},
    )
    post_webhook(client, shop, "client.create", customer("2025-01-01 09:00:00"))
    post_webhook(client, shop, "order.create", order_payload("1", at=FIRST_ORDER_AT))
    worker.tick(clock.now)
    assert worker.tick(clock.set(ANNIVERSARY_TEN)).dispatch.sent == 1
    (email,) = outbox_entries(factory)
    assert email.subject == "It's been a year since your first order"
    assert "Today marks a year since your first order with Sklep Testowy" in email.body_text


def test_no_first_order_anniversary_for_a_customer_older_than_the_imported_history(
    client, worker, factory, settings, clock
):
    """History is read two years back: a customer whose account is older may have ordered
    before that, so their first order on record may not be their first."""
    shop = anniversary_shop(factory, settings, clock, club=False)
    with factory() as session, session.begin():
        stored = session.get(Shop, shop.id)
        assert stored is not None
        history.request_import(session, stored, datetime(2025, 1, 10, tzinfo=UTC))
    # An account from 2019, and one opened within the imported history.
    post_webhook(client, shop, "client.create", customer("2019-03-01 12:00:00"))
    newer = {**customer("2024-02-01 12:00:00"), "user_id": "6", "email": "ola@example.com"}
    post_webhook(client, shop, "client.create", newer)
    post_webhook(client, shop, "order.create", order_payload("1", at=FIRST_ORDER_AT))
    second = order_payload("2", at=FIRST_ORDER_AT, email="ola@example.com", phone="600100300")
    post_webhook(client, shop, "order.create", second)
    worker.tick(clock.now)

    assert worker.tick(clock.set(ANNIVERSARY_TEN)).dispatch.sent == 1
    assert [e.to_address for e in outbox_entries(factory)] == ["ola@example.com"]
