"""The guards dispatch re-checks right before a send, end to end: a cart is posted through the
storefront endpoint, the worker ticks it into abandonment, and the state changes between
planning and sending decide what happens. Sends land in the dev outbox (no provider set)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from shoper_retention import shop_config
from shoper_retention.messaging import outbox
from shoper_retention.models import Contact, Message, Shop, Suppression
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


def step(factory: sessionmaker[Session], number: int, channel: str) -> Message:
    (found,) = [
        m
        for m in messages(factory)
        if (m.scenario, m.step, m.channel) == ("cart_recovery", number, channel)
    ]
    return found


def contact_id(factory: sessionmaker[Session], phone: str = "+48600100200") -> int:
    with factory() as session:
        return session.scalars(select(Contact.id).where(Contact.phone == phone)).one()


# --- quiet hours --------------------------------------------------------------------------


def test_sms_due_at_night_is_moved_to_nine_and_then_sent_not_dropped(
    client, worker, factory, settings, clock
):
    clock.set(datetime(2026, 3, 3, 21, 0, tzinfo=UTC))  # 22:00 in Warsaw
    shop = make_shop(factory, settings, now=clock.now)
    start = abandon_cart(client, worker, shop, clock)

    report = worker.tick(clock.set(start + timedelta(hours=1)))  # 23:00 in Warsaw

    assert report.dispatch.moved == 1 and report.dispatch.sent == 0
    sms = step(factory, 1, "sms")
    assert sms.status == "scheduled"
    assert sms.reason == "quiet hours"
    assert sms.due_at == datetime(2026, 3, 4, 8, 0, tzinfo=UTC)  # 09:00 in Warsaw
    assert sms.attempts == 0  # a move is not a failed attempt
    assert worker.tick(datetime(2026, 3, 4, 7, 59, tzinfo=UTC)).dispatch.sent == 0
    assert outbox_entries(factory) == []

    assert worker.tick(datetime(2026, 3, 4, 8, 0, tzinfo=UTC)).dispatch.sent == 1
    (sent,) = outbox_entries(factory)
    assert sent.channel == "sms"
    assert step(factory, 1, "sms").status == "sent"


def test_email_due_after_nine_in_the_evening_waits_for_eight_next_morning(
    client, worker, factory, settings, clock
):
    clock.set(datetime(2026, 3, 3, 20, 30, tzinfo=UTC))  # 21:30 in Warsaw
    shop = make_shop(factory, settings, now=clock.now)
    start = abandon_cart(client, worker, shop, clock, consent={"email": True, "sms": False})

    worker.tick(clock.set(start + timedelta(hours=1)))  # 22:30 in Warsaw

    email = step(factory, 1, "email")
    assert (email.status, email.due_at) == ("scheduled", datetime(2026, 3, 4, 7, 0, tzinfo=UTC))
    assert worker.tick(datetime(2026, 3, 4, 7, 0, tzinfo=UTC)).dispatch.sent == 1
    assert [e.channel for e in outbox_entries(factory)] == ["email"]


@pytest.mark.parametrize(
    ("evening", "opening"),
    [
        # 22:00 CET the night before clocks go forward: 09:00 CEST is 07:00 UTC.
        (datetime(2026, 3, 28, 21, 0, tzinfo=UTC), datetime(2026, 3, 29, 7, 0, tzinfo=UTC)),
        # 22:00 CEST the night before clocks go back: 09:00 CET is 08:00 UTC.
        (datetime(2026, 10, 24, 20, 0, tzinfo=UTC), datetime(2026, 10, 25, 8, 0, tzinfo=UTC)),
    ],
    ids=["spring-forward", "fall-back"],
)
def test_sms_moved_across_a_dst_change_goes_out_at_nine_local(
    client, worker, factory, settings, clock, evening: datetime, opening: datetime
):
    clock.set(evening)
    shop = make_shop(factory, settings, now=clock.now)
    start = abandon_cart(client, worker, shop, clock)

    worker.tick(clock.set(start + timedelta(hours=1)))

    assert step(factory, 1, "sms").due_at == opening
    assert worker.tick(opening - timedelta(minutes=1)).dispatch.sent == 0
    assert worker.tick(opening).dispatch.sent == 1


# --- the shop and the scenario -------------------------------------------------------------


def test_message_of_a_shop_uninstalled_after_planning_is_cancelled(
    client, worker, factory, settings, clock
):
    shop = make_shop(factory, settings, now=clock.now)
    start = abandon_cart(client, worker, shop, clock)
    with factory() as session, session.begin():
        # What an uninstall leaves behind for a message a worker had already taken.
        session.execute(update(Shop).where(Shop.id == shop.id).values(status="uninstalled"))

    report = worker.tick(clock.set(start + timedelta(hours=1)))

    assert report.dispatch.cancelled == 1
    sms = step(factory, 1, "sms")
    assert (sms.status, sms.reason) == ("cancelled", "shop inactive")
    worker.tick(clock.set(start + timedelta(hours=72)))
    assert outbox_entries(factory) == []
    assert {m.status for m in messages(factory)} == {"cancelled"}


def test_message_of_a_scenario_switched_off_after_planning_is_cancelled(
    client, worker, factory, settings, clock
):
    shop = make_shop(factory, settings, now=clock.now)
    start = abandon_cart(client, worker, shop, clock)
    with factory() as session, session.begin():
        row = session.get(Shop, shop.id)
        assert row is not None
        shop_config.update(row, {"scenarios": {"cart_recovery": {"enabled": False}}})

    worker.tick(clock.set(start + timedelta(hours=1)))

    sms = step(factory, 1, "sms")
    assert (sms.status, sms.reason) == ("cancelled", "scenario switched off")
    assert outbox_entries(factory) == []


# --- the contact ---------------------------------------------------------------------------


def test_sms_consent_withdrawn_in_a_later_snapshot_skips_the_sms_but_not_the_email(
    client, worker, factory, settings, clock
):
    shop = make_shop(factory, settings, now=clock.now)
    start = abandon_cart(client, worker, shop, clock)
    later = cart_snapshot(at=clock.advance(minutes=10), consent={"email": True, "sms": False})
    assert post_cart(client, shop, later).status_code == 202

    # The shopper was active at +41 min, so step 1 waits until idle again (+71 min).
    report = worker.tick(clock.set(start + timedelta(hours=2)))

    assert report.dispatch.skipped == 1
    sms = step(factory, 1, "sms")
    assert (sms.status, sms.reason) == ("skipped", "no sms consent")
    assert outbox_entries(factory) == []
    worker.tick(clock.set(start + timedelta(hours=24)))
    assert [e.channel for e in outbox_entries(factory)] == ["email"]


def test_message_to_a_suppressed_number_is_skipped(client, worker, factory, settings, clock):
    shop = make_shop(factory, settings, now=clock.now)
    start = abandon_cart(client, worker, shop, clock)
    with factory() as session, session.begin():
        session.add(
            Suppression(
                shop_id=shop.id,
                channel="sms",
                address="+48600100200",
                reason="unsubscribe link",
                created_at=clock.now,
            )
        )

    worker.tick(clock.set(start + timedelta(hours=1)))

    sms = step(factory, 1, "sms")
    assert (sms.status, sms.reason) == ("skipped", "unsubscribed")
    assert outbox_entries(factory) == []


def test_suppression_in_another_shop_does_not_stop_the_message(
    client, worker, factory, settings, clock
):
    other = make_shop(factory, settings, now=clock.now)
    shop = make_shop(factory, settings, now=clock.now)
    start = abandon_cart(client, worker, shop, clock)
    with factory() as session, session.begin():
        session.add(
            Suppression(
                shop_id=other.id,
                channel="sms",
                address="+48600100200",
                reason="unsubscribe link",
                created_at=clock.now,
            )
        )

    assert worker.tick(clock.set(start + timedelta(hours=1))).dispatch.sent == 1


def _sent_sms(factory: sessionmaker[Session], shop_id: int, contact: int, at: datetime) -> None:
    """An SMS another scenario sent this contact (the cap is across scenarios)."""
    with factory() as session, session.begin():
        session.add(
            Message(
                shop_id=shop_id,
                contact_id=contact,
                scenario="birthday",
                subject_type="contact",
                subject_id=contact,
                step=1,
                channel="sms",
                marketing=True,
                plan_key=f"birthday:contact:{contact}:1:1:sms",
                status="sent",
                due_at=at,
                planned_at=at,
                sent_at=at,
                updated_at=at,
                to_address="+48600100200",
            )
        )


def test_second_sms_within_24_hours_is_skipped_by_the_frequency_cap(
    client, worker, factory, settings, clock
):
    shop = make_shop(factory, settings, now=clock.now)
    start = abandon_cart(client, worker, shop, clock)
    _sent_sms(factory, shop.id, contact_id(factory), start - timedelta(hours=20))

    report = worker.tick(clock.set(start + timedelta(hours=1)))  # 21 h after the other SMS

    sms = step(factory, 1, "sms")
    assert (sms.status, sms.reason) == ("skipped", "frequency cap (1 sms per 24 h)")
    assert report.dispatch.reasons == ["skipped: frequency cap (1 sms per 24 h)"]
    assert outbox_entries(factory) == []


def test_sms_sent_more_than_24_hours_ago_does_not_count_against_the_cap(
    client, worker, factory, settings, clock
):
    shop = make_shop(factory, settings, now=clock.now)
    start = abandon_cart(client, worker, shop, clock)
    _sent_sms(factory, shop.id, contact_id(factory), start - timedelta(hours=23, minutes=1))

    assert worker.tick(clock.set(start + timedelta(hours=1))).dispatch.sent == 1


# --- the exit condition --------------------------------------------------------------------


def test_order_ingested_right_before_the_send_cancels_it(client, worker, factory, settings, clock):
    shop = make_shop(factory, settings, now=clock.now)
    start = abandon_cart(client, worker, shop, clock)
    # Placed at +50 min, but its webhook reaches us only in the tick that would send step 1.
    order = order_payload(at=start + timedelta(minutes=50))
    clock.set(start + timedelta(hours=1))
    assert post_webhook(client, shop, "order.create", order).status_code == 202

    report = worker.tick(clock.now)

    assert report.dispatch.sent == 0
    sms = step(factory, 1, "sms")
    assert (sms.status, sms.reason) == ("cancelled", "order placed")
    for hours in (24, 72):
        worker.tick(clock.set(start + timedelta(hours=hours)))
    assert outbox_entries(factory) == []
    assert {m.status for m in messages(factory)} == {"cancelled"}


def test_message_claimed_by_a_dead_worker_is_cancelled_if_an_order_came_meanwhile(
    client, worker, factory, settings, clock
):
    shop = make_shop(factory, settings, now=clock.now)
    start = abandon_cart(client, worker, shop, clock)
    clock.set(start + timedelta(hours=1))
    with factory() as session, session.begin():
        # Another worker claims step 1 and dies: ingest cannot cancel a claimed message.
        (claimed,) = outbox.claim_due(session, clock.now, 10, timedelta(minutes=5))
    assert (
        post_webhook(client, shop, "order.create", order_payload(at=clock.now)).status_code == 202
    )
    worker.tick(clock.now)
    assert step(factory, 1, "sms").status == "claimed"

    worker.tick(clock.advance(minutes=6))  # the lease ran out

    sms = step(factory, 1, "sms")
    assert sms.id == claimed.id
    assert (sms.status, sms.reason) == ("cancelled", "order placed")
    assert outbox_entries(factory) == []


def test_no_reminder_goes_out_while_the_shops_order_webhooks_are_not_registered(
    client, worker, factory, settings, clock
):
    """Without order webhooks an order could never stop the reminders: they wait."""
    shop = make_shop(factory, settings, now=clock.now)
    start = abandon_cart(client, worker, shop, clock)
    with factory() as session, session.begin():
        stored = session.get(Shop, shop.id)
        assert stored is not None
        stored.webhooks_registered = False
        stored.access_token_enc = None  # the worker cannot finish the set-up either
    report = worker.tick(clock.set(start + timedelta(hours=1)))
    assert report.dispatch.sent == 0 and report.dispatch.moved == 1
    sms = step(factory, 1, "sms")
    assert sms.status == "scheduled" and "webhooks" in sms.reason


def test_a_message_being_sent_by_another_worker_counts_against_the_frequency_cap(
    client, worker, factory, settings, clock
):
    from sqlalchemy import update

    shop = make_shop(factory, settings, now=clock.now)
    start = abandon_cart(client, worker, shop, clock)
    with factory() as session, session.begin():
        other = step(factory, 3, "sms")
        session.execute(  # another worker is handing this SMS to SMSAPI right now
            update(Message)
            .where(Message.id == other.id)
            .values(
                status="claimed",
                claim_token="other",
                in_flight_since=start,
                lease_until=start + timedelta(days=1),
            )
        )
    worker.tick(clock.set(start + timedelta(hours=1)))
    sms = step(factory, 1, "sms")
    assert (sms.status, sms.reason) == ("skipped", "frequency cap (1 sms per 24 h)")
