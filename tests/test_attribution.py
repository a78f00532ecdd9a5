"""Which message earns an order (attribution.py), at the edges of its windows: only a message
sent before the order counts, and a click counts for 5 days, not a minute more."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from shoper_retention.models import Order
from tests.support import (
    Clock,
    ShopHandle,
    abandon_cart,
    make_shop,
    messages,
    order_payload,
    outbox_entries,
    post_webhook,
)

CLICK = re.compile(r"https://retention\.example(/c/[\w.\-]+)")


def sms_sent(client: Any, worker: Any, shop: ShopHandle, clock: Clock) -> datetime:
    """A cart abandoned and its step-1 SMS sent (to the dev outbox) at +1 h; returns the
    cart's start."""
    start = abandon_cart(client, worker, shop, clock)
    assert worker.tick(clock.set(start + timedelta(hours=1))).dispatch.sent == 1
    return start


def the_order(factory: sessionmaker[Session]) -> Order:
    with factory() as session:
        return session.scalars(select(Order)).one()


def test_an_sms_sent_after_the_order_was_placed_earns_nothing(
    client, worker, factory, settings, clock
):
    """The order webhook came late: the order was placed at +50 min, the SMS went at +1 h.
    Within the SMS window, but it cannot have led to the order."""
    shop = make_shop(factory, settings, now=clock.now)
    start = sms_sent(client, worker, shop, clock)
    (sms,) = [m for m in messages(factory) if m.status == "sent"]
    assert sms.channel == "sms" and sms.sent_at == start + timedelta(hours=1)

    clock.set(start + timedelta(hours=1, minutes=10))
    placed = start + timedelta(minutes=50)
    post_webhook(client, shop, "order.create", order_payload("1", at=placed))
    worker.tick(clock.now)

    order = the_order(factory)
    assert order.placed_at == placed < sms.sent_at
    assert (order.attributed_message_id, order.attributed_scenario) == (None, None)


@pytest.mark.parametrize(
    ("click_to_order", "attributed"),
    [
        (timedelta(days=5), True),  # the window's last moment still counts
        (timedelta(days=5, minutes=1), False),
    ],
    ids=["exactly-5-days", "5-days-1-minute"],
)
def test_a_click_counts_for_five_days_and_no_longer(
    client, worker, factory, settings, clock, click_to_order, attributed
):
    """The SMS's own 1-day window is long past; only the click could earn the order."""
    shop = make_shop(factory, settings, now=clock.now)
    start = sms_sent(client, worker, shop, clock)
    path = CLICK.search(outbox_entries(factory)[0].body_text)
    assert path is not None
    clicked = clock.set(start + timedelta(hours=1, minutes=5))
    assert client.get(path.group(1)).status_code == 302
    (sms,) = [m for m in messages(factory) if m.status == "sent"]
    assert sms.clicked_at == clicked

    placed = clock.set(clicked + click_to_order)
    post_webhook(client, shop, "order.create", order_payload("1", at=placed))
    worker.tick(clock.now)

    order = the_order(factory)
    assert order.placed_at == placed
    assert order.contact_id == sms.contact_id  # the same shopper: only the window decides
    if attributed:
        assert (order.attributed_message_id, order.attributed_scenario) == (
            sms.id,
            "cart_recovery",
        )
    else:
        assert (order.attributed_message_id, order.attributed_scenario) == (None, None)
