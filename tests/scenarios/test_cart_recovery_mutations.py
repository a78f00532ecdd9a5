"""Cart recovery rules a mutation audit found unguarded: the send-time order check, the order
slack and phone match of `order_since`, "superseded" meaning only a still-pending later step,
and the static coupon mode never calling the platform."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import responses
from sqlalchemy import select

from shoper_retention.credentials import CredentialBox
from shoper_retention.models import Cart, Coupon, Order
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

PROMOTION_CODES = "https://sklep.example/webapi/rest/promotion-codes"
UNIQUE_CODE = re.compile(r"\bWRC[A-Z2-9]{8}\b")


def _cart(factory):  # type: ignore[no-untyped-def]
    with factory() as session:
        return session.scalars(select(Cart)).one()


def reminders(factory):  # type: ignore[no-untyped-def]
    return [m for m in messages(factory) if m.scenario == "cart_recovery"]


# --- the send-time order check (exit_reason -> order_since) ---------------------------------


def test_an_order_the_ingest_missed_still_cancels_a_due_reminder_at_send_time(
    client, worker, factory, settings, clock
):
    """The order row is there but nothing closed the cart when it was stored (a lost race,
    an import): the re-check right before the send must find it and send nothing."""
    shop = make_shop(factory, settings, now=clock.now)
    start = abandon_cart(client, worker, shop, clock)
    assert _cart(factory).status == "abandoned"
    placed = start + timedelta(minutes=40)
    with factory() as session, session.begin():
        session.add(
            Order(
                shop_id=shop.id,
                platform_order_id="9001",
                email="anna@example.com",
                status_id="1",
                status_type="new",
                total=Decimal("99.80"),
                currency="PLN",
                placed_at=placed,
                received_at=placed,
                updated_at=placed,
            )
        )

    report = worker.tick(clock.set(start + timedelta(hours=1)))

    assert report.dispatch.sent == 0
    assert outbox_entries(factory) == []
    step1 = [m for m in messages(factory) if m.step == 1]
    assert [(m.status, m.reason) for m in step1] == [("cancelled", "order placed")]
    cart = _cart(factory)
    assert cart.status == "ordered"  # closed on the way, so the later steps go too
    assert {m.status for m in messages(factory)} == {"cancelled"}


# --- order_since: the slack before the cart started, and the match by phone ----------------


def test_an_earlier_order_matching_only_by_phone_and_dated_before_the_cart_ends_it(
    client, worker, factory, settings, clock
):
    """The order arrives before the cart's first snapshot, dated 20 minutes before the cart
    started (the shop's clock is not ours), with another e-mail and on another contact: only
    the cart's phone links them. The cart must not be reminded."""
    shop = make_shop(factory, settings, now=clock.now)
    start = clock.now
    # The shop knew Anna from an old order with another phone, so her cart's snapshot lands
    # on her contact (found by e-mail), not on the contact of the order below.
    old = order_payload("1", at=start - timedelta(days=30), phone="600555444")
    post_webhook(client, shop, "order.create", old)
    # Placed by "someone else" (another e-mail) with the phone Anna's cart will give.
    clock.set(start - timedelta(minutes=5))
    recent = order_payload(
        "2", at=start - timedelta(minutes=20), email="marek@example.com", phone="600100200"
    )
    assert post_webhook(client, shop, "order.create", recent).status_code == 202
    worker.tick(clock.now)

    clock.set(start)
    assert post_cart(client, shop, cart_snapshot(at=start)).status_code == 202
    worker.tick(clock.now)
    worker.tick(clock.advance(minutes=31))

    cart = _cart(factory)
    with factory() as session:
        order = session.scalars(select(Order).where(Order.platform_order_id == "2")).one()
    # The premises: nothing but the phone and the slack can link them.
    assert order.placed_at == start - timedelta(minutes=20)
    assert order.placed_at < cart.started_at
    assert order.contact_id != cart.contact_id
    assert order.email != cart.email
    assert order.phone == cart.phone == "+48600100200"
    # What the scan must conclude.
    assert cart.status == "ordered"
    assert reminders(factory) == []  # (the snapshot's consent confirmations may go)
    worker.tick(clock.set(start + timedelta(hours=1)))
    assert reminders(factory) == []
    assert _cart(factory).status == "ordered"


# --- "superseded by a later step" counts only a later step still pending --------------------

TWO_HOUR_STEPS = {
    "steps": [
        {"delay_minutes": 60, "channel": "sms"},
        {"delay_minutes": 120, "channel": "email"},
        {"delay_minutes": 72 * 60, "channel": "both"},
    ]
}


@pytest.mark.parametrize(
    ("frequency_cap", "step2_status"),
    [
        ({}, "sent"),
        ({"email": 0}, "skipped"),  # no e-mail may go: step 2 is skipped, not pending
    ],
    ids=["later-step-sent", "later-step-skipped"],
)
def test_an_earlier_step_still_goes_out_when_the_later_step_is_no_longer_pending(
    client, worker, factory, settings, clock, frequency_cap, step2_status
):
    """Quiet hours push step 1 (SMS, window 09-20 local) past step 2 (e-mail, window 08-21):
    step 2 goes (or is skipped) at 08:00, step 1 is due at 09:00. A later step that is no
    longer pending supersedes nothing: step 1 must still be sent."""
    shop = make_shop(
        factory,
        settings,
        now=clock.now,
        overrides={
            "scenarios": {"cart_recovery": TWO_HOUR_STEPS},
            "frequency_cap": frequency_cap,
        },
    )
    # 19:30 in Warsaw: step 1 falls at 20:30 (after SMS hours), step 2 at 21:30.
    start = clock.set(datetime(2026, 3, 3, 18, 30, tzinfo=UTC))
    abandon_cart(client, worker, shop, clock)
    worker.tick(clock.set(start + timedelta(hours=1)))
    worker.tick(clock.set(start + timedelta(hours=2)))
    by_step = {m.step: m for m in messages(factory) if m.step < 3}
    assert by_step[1].reason == by_step[2].reason == "quiet hours"
    step2_at = datetime(2026, 3, 4, 7, 0, tzinfo=UTC)  # 08:00 Warsaw
    step1_at = datetime(2026, 3, 4, 8, 0, tzinfo=UTC)  # 09:00 Warsaw
    assert (by_step[1].due_at, by_step[2].due_at) == (step1_at, step2_at)

    worker.tick(clock.set(step2_at))
    assert {m.step: m.status for m in messages(factory) if m.step < 3} == {
        1: "scheduled",
        2: step2_status,
    }

    report = worker.tick(clock.set(step1_at))

    assert report.dispatch.sent == 1
    step1 = next(m for m in messages(factory) if m.step == 1)
    assert (step1.status, step1.channel) == ("sent", "sms")
    assert outbox_entries(factory)[-1].message_id == step1.id


# --- the static coupon mode -----------------------------------------------------------------


@pytest.fixture
def shoper() -> Iterator[responses.RequestsMock]:
    """Shoper's REST API, ready to create a code should anything (wrongly) ask for one."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def test_static_coupon_mode_never_asks_the_platform_for_a_code(
    client, worker, factory, settings, clock, shoper
):
    created = shoper.post(PROMOTION_CODES, json=321)
    box = CredentialBox(settings.secret_key)
    shop = make_shop(
        factory,
        settings,
        now=clock.now,
        # Full API access: the platform could make a unique code, but the merchant chose not.
        access_token_enc=box.seal("shop-access-token"),
        refresh_token_enc=box.seal("shop-refresh-token"),
        overrides={
            "scenarios": {"cart_recovery": {"coupon": {"mode": "static", "static_code": "STALY10"}}}
        },
    )
    start = abandon_cart(client, worker, shop, clock)
    for hours in (1, 24):
        worker.tick(clock.set(start + timedelta(hours=hours)))
    assert worker.tick(clock.set(start + timedelta(hours=72))).dispatch.sent == 2
    email, sms = outbox_entries(factory)[-2:]
    assert (email.channel, sms.channel) == ("email", "sms")

    assert created.call_count == 0
    assert [c for c in shoper.calls if "promotion-codes" in c.request.url] == []
    assert "Kod: STALY10" in email.body_text
    assert "STALY10" in sms.body_text
    assert UNIQUE_CODE.search(email.body_text + email.body_html + sms.body_text) is None
    with factory() as session:
        coupon = session.scalars(select(Coupon)).one()
    assert (coupon.kind, coupon.code, coupon.platform_id) == ("static", "STALY10", "")
    step3 = [m for m in messages(factory) if m.step == 3]
    assert [m.coupon_id for m in step3] == [coupon.id, coupon.id]
