"""Ecwid's unfinished orders through the worker, into carts, consent and reminders: a checkout's
marketing box is a claim for its cart only (whoever typed the e-mail, the address's owner
confirms it under confirmed opt-in), an order never speaks for consent, the account record
does; and a cart is closed by the order it becomes, however late either delivery comes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from shoper_retention.contacts import consent, records
from shoper_retention.ingest.events import ContactInfo
from shoper_retention.models import Cart, Consent, Contact, Order, Shop
from shoper_retention.settings import Settings
from tests.fakes.ecwid_server import (
    FakeEcwid,
    sample_cart,
    sample_customer,
    sample_order,
    sample_product,
)
from tests.platforms.ecwid_support import (
    CLIENT_ID,
    CLIENT_SECRET,
    STORE_ID,
    TOKEN,
    installed_store,
    post_webhook,
    webhook,
    with_ecwid,
)
from tests.support import Clock, ShopHandle, messages, outbox_entries

CART_ID = "6626E60A-A6F9-4CD5-8230-43D5F162E0CD"
ORDER_ID = "RA1SD"  # the unfinished order's id, kept by the order it becomes
MUG = 37208342
VICTIM = "victim@example.com"


@pytest.fixture
def ecwid() -> Iterator[FakeEcwid]:
    with FakeEcwid(CLIENT_ID, CLIENT_SECRET) as fake:
        fake.add_store(STORE_ID, TOKEN)
        fake.put_product(STORE_ID, sample_product(MUG))
        yield fake


@pytest.fixture
def settings(settings: Settings, ecwid: FakeEcwid) -> Settings:
    return with_ecwid(settings, ecwid)


@pytest.fixture
def store(factory: sessionmaker[Session], settings: Settings, clock: Clock) -> ShopHandle:
    """Cart recovery on, e-mail under confirmed opt-in (the default)."""
    return installed_store(factory, settings, now=clock.now)


def guest_cart(at: datetime, email: str, accept: bool | None, **fields: Any) -> dict[str, Any]:
    stamp = int(at.timestamp())
    cart = sample_cart(
        CART_ID,
        email=email,
        acceptMarketing=accept,
        customerId=None,
        createTimestamp=stamp - 60,
        updateTimestamp=stamp - 30,
        items=[{"productId": MUG, "price": 29.95, "quantity": 1, "name": "Kubek"}],
        **fields,
    )
    del cart["createDate"], cart["updateDate"]
    return cart


def cart_hook(at: datetime) -> tuple[dict[str, str], bytes]:
    return webhook(
        "unfinished_order.created", created=at, data={"orderId": ORDER_ID, "cartId": CART_ID}
    )


def confirmed_email(
    factory: sessionmaker[Session], store: ShopHandle, email: str, at: datetime
) -> None:
    """The address's owner confirmed marketing with us earlier: nothing but an order may
    stop a cart's reminders to it."""
    with factory() as session, session.begin():
        person = records.upsert_contact(
            session, store.id, ContactInfo(email=email), at, trusted=True
        )
        assert person is not None
        link = {"source": "confirmation link", "assurance": consent.CONFIRMED}
        consent.record(session, person, "email", email, True, at, **link)


def consent_rows(factory: sessionmaker[Session]) -> list[Consent]:
    with factory() as session:
        return list(session.scalars(select(Consent).order_by(Consent.id)))


# --- consent -------------------------------------------------------------------------------


def test_a_guest_checkout_with_a_strangers_email_gets_that_address_one_confirmation_only(
    client: Any,
    worker: Any,
    ecwid: FakeEcwid,
    factory: sessionmaker[Session],
    store: ShopHandle,
    clock: Clock,
) -> None:
    """Anyone can start a checkout with anyone's e-mail and tick the box: the address gets
    the one request to confirm, and no reminder unless its owner follows the link."""
    start = clock.now
    billing = {"name": "Spam Text", "countryCode": "PL", "phone": "600 111 222"}
    ecwid.put_cart(STORE_ID, guest_cart(start, VICTIM, True, billingPerson=billing))
    assert post_webhook(client, *cart_hook(start)).status_code == 200

    for minutes in (0, 31, 60, 60 * 24, 60 * 72, 60 * 96):
        worker.tick(clock.set(start + timedelta(minutes=minutes)))

    entries = outbox_entries(factory)
    assert [(e.to_address, "potwierdź zgodę" in e.subject) for e in entries] == [(VICTIM, True)]
    assert [
        (c.address, c.granted, c.assurance, c.cart_id is not None) for c in consent_rows(factory)
    ] == [(VICTIM, True, "claimed", True)]
    cart_messages = [m for m in messages(factory, store.id) if m.scenario == "cart_recovery"]
    assert cart_messages and {m.status for m in cart_messages} == {"skipped"}


def test_an_unticked_box_neither_withdraws_the_address_nor_rewrites_a_known_contact(
    client: Any,
    worker: Any,
    ecwid: FakeEcwid,
    factory: sessionmaker[Session],
    store: ShopHandle,
    clock: Clock,
) -> None:
    """Ewa is known from the shop's records; someone's checkout with her e-mail, another
    name and phone and the box unticked changes nothing of hers beyond that cart."""
    confirmed_email(factory, store, "ewa@example.com", clock.now)
    with factory() as session, session.begin():
        known = ContactInfo(email="ewa@example.com", first_name="Ewa")
        records.upsert_contact(session, store.id, known, clock.now, trusted=True)
    billing = {"name": "Haha", "countryCode": "PL", "phone": "600 111 222"}
    ecwid.put_cart(STORE_ID, guest_cart(clock.now, "ewa@example.com", False, billingPerson=billing))
    post_webhook(client, *cart_hook(clock.now))

    worker.tick(clock.now)

    with factory() as session:
        ewa = session.scalars(select(Contact).where(Contact.email == "ewa@example.com")).one()
    assert (ewa.first_name, ewa.phone) == ("Ewa", None)
    rows = consent_rows(factory)
    assert [(r.granted, r.assurance, r.cart_id is not None) for r in rows] == [
        (True, "confirmed", False),  # her own, for the address: still in force
        (False, "claimed", True),  # this cart's box, for this cart only
    ]
    with factory() as session:
        shop = session.get(Shop, store.id)
        assert shop is not None
        assert consent.state(session, shop, "email", "ewa@example.com") == "granted"


@pytest.mark.parametrize("accept", [True, False])
def test_an_orders_marketing_box_is_no_consent_at_all(
    client: Any,
    worker: Any,
    ecwid: FakeEcwid,
    factory: sessionmaker[Session],
    store: ShopHandle,
    clock: Clock,
    accept: bool,
) -> None:
    ecwid.put_order(STORE_ID, sample_order("XJ12H", email=VICTIM, acceptMarketing=accept))
    data = {"orderId": "XJ12H"}
    post_webhook(client, *webhook("order.created", created=clock.now, data=data))

    worker.tick(clock.now)

    with factory() as session:
        assert session.scalars(select(Order.email)).all() == [VICTIM]
    assert consent_rows(factory) == []


def test_the_customer_account_is_the_stores_word_for_its_address_and_nothing_more(
    client: Any,
    worker: Any,
    ecwid: FakeEcwid,
    factory: sessionmaker[Session],
    store: ShopHandle,
    clock: Clock,
) -> None:
    ecwid.put_customer(STORE_ID, sample_customer(1663830, acceptMarketing=True))
    post_webhook(client, *webhook("customer.updated", created=clock.now, entity_id=1663830))

    worker.tick(clock.now)

    (row,) = consent_rows(factory)
    assert (row.address, row.granted, row.assurance, row.cart_id) == (
        "ewa@example.com",
        True,
        "platform",
        None,
    )
    with factory() as session:
        ewa = session.scalars(select(Contact)).one()
    assert (ewa.first_name, ewa.phone, ewa.platform_customer_id) == (
        "Ewa",
        "+48601234567",
        "1663830",
    )


# --- a cart and its order ------------------------------------------------------------------


@pytest.mark.parametrize("first", ["order", "cart"])
def test_a_cart_delivered_hours_late_is_closed_by_its_own_order_whichever_comes_first(
    client: Any,
    worker: Any,
    ecwid: FakeEcwid,
    factory: sessionmaker[Session],
    store: ShopHandle,
    clock: Clock,
    first: str,
) -> None:
    """Ecwid retried both deliveries (we could not take them for hours): the cart is timed
    from when we took it, long after its order was placed, yet its `data.orderId` ties it to
    that order, and no reminder goes for a paid cart."""
    start = clock.now
    stamp = int(start.timestamp())
    ecwid.put_cart(STORE_ID, guest_cart(start, "anna@example.com", None))
    placed = {"createTimestamp": stamp + 300, "updateTimestamp": stamp + 300}
    ecwid.put_order(
        STORE_ID,
        sample_order(ORDER_ID, email="anna@example.com", acceptMarketing=None, **placed),
    )
    hooks = {
        "cart": cart_hook(start),
        "order": webhook(
            "order.created", created=start + timedelta(minutes=5), data={"orderId": ORDER_ID}
        ),
    }
    clock.advance(hours=3)
    confirmed_email(factory, store, "anna@example.com", clock.now)
    for name in (first, "cart" if first == "order" else "order"):
        assert post_webhook(client, *hooks[name]).status_code == 200

    for _ in range(6):
        worker.tick(clock.advance(minutes=31))

    with factory() as session:
        cart = session.scalars(select(Cart)).one()
        order = session.scalars(select(Order)).one()
    assert order.paid and order.platform_order_id == ORDER_ID
    assert (cart.status, cart.order_id, cart.order_ref) == ("ordered", order.id, ORDER_ID)
    assert [m for m in messages(factory, store.id) if m.status == "sent"] == []
    assert outbox_entries(factory) == []
