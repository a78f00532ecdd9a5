"""Two claims for one phone number, from two carts of two contacts, ingested at the same moment
by two threads: one confirmation request is planned, not two (on PostgreSQL an advisory lock
on the address serialises them; on SQLite the write lock does)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from shoper_retention.contacts import consent
from shoper_retention.contacts import records as contacts
from shoper_retention.ingest.events import ContactInfo
from shoper_retention.models import Cart, Message, Shop
from tests.support import make_shop

NOW = datetime(2026, 3, 3, 9, 0, tzinfo=UTC)
NUMBER = "+48600999888"


@pytest.mark.parametrize("attempt", range(5))  # a race: lost now and then without the lock
def test_two_claims_for_one_number_ingested_at_once_plan_one_confirmation(
    factory, settings, attempt
):
    handle = make_shop(factory, settings, now=NOW)
    with factory() as session, session.begin():
        shop = session.get(Shop, handle.id)
        assert shop is not None
        carts = []
        for n in (1, 2):
            person = contacts.upsert_contact(
                session, shop.id, ContactInfo(email=f"e{n}@example.com"), NOW, trusted=True
            )
            assert person is not None
            cart = Cart(
                shop_id=shop.id,
                platform_cart_id=f"cart-{n}",
                token=f"token-{n}",
                contact_id=person.id,
                phone=NUMBER,
                started_at=NOW,
                last_activity_at=NOW,
                snapshot_at=NOW,
            )
            session.add(cart)
            session.flush()
            carts.append((person.id, cart.id))
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def claim(contact_id: int, cart_id: int) -> None:
        try:
            # Both at once (not inside the transaction: on SQLite BEGIN takes the write lock).
            start.wait(timeout=10)
            with factory() as session, session.begin():
                shop = session.get(Shop, handle.id)
                person = session.get(contacts.Contact, contact_id)
                assert shop is not None and person is not None
                consent.apply_storefront_claims(
                    session, shop, person, cart_id, {"sms": (True, "v1")}, {"sms": NUMBER}, NOW
                )
        except BaseException as exc:  # reported below, with the thread's traceback lost
            errors.append(exc)

    threads = [threading.Thread(target=claim, args=pair) for pair in carts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    with factory() as session:
        requests = session.scalars(
            select(Message).where(Message.scenario == consent.CONFIRMATION)
        ).all()
    assert len(requests) == 1
