"""Consent belongs to the address it was given for: one shopper's SMS consent must not let the
shop text another shopper of the same shop. Through the storefront endpoint and worker ticks;
sends land in the dev outbox (no provider configured)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from shoper_retention.models import Contact
from tests.support import abandon_cart, cart_snapshot, make_shop, messages, outbox_entries

ANNA = {"email": "anna@example.com", "phone": "+48600100200", "first_name": "Anna"}
BARTEK = {"email": "bartek@example.com", "phone": "+48600300400", "first_name": "Bartek"}


def contact_id(factory: sessionmaker[Session], email: str) -> int:
    with factory() as session:
        return session.scalars(select(Contact.id).where(Contact.email == email)).one()


def test_one_shoppers_sms_consent_does_not_let_the_shop_text_another_shopper(
    client, worker, factory, settings, clock
):
    shop = make_shop(factory, settings, now=clock.now)
    granted = cart_snapshot("cart-anna", at=clock.now, consent={"email": True, "sms": True}, **ANNA)
    email_only = cart_snapshot("cart-bartek", at=clock.now, consent={"email": True}, **BARTEK)
    start = abandon_cart(client, worker, shop, clock, granted, email_only)

    worker.tick(clock.set(start + timedelta(hours=1)))

    sent = sorted((e.channel, e.to_address) for e in outbox_entries(factory))
    assert sent == [("email", BARTEK["email"]), ("sms", ANNA["phone"])]
    bartek = contact_id(factory, BARTEK["email"])
    bartek_plan = [(m.step, m.channel) for m in messages(factory) if m.contact_id == bartek]
    assert (1, "email") in bartek_plan
    assert all(channel != "sms" for _, channel in bartek_plan)  # no step of his goes by SMS
