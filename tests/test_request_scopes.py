"""Storefront sign-ups with no cart are requests of a kind: back-in-stock notices, or the
marketing a birthday form's box asks for. One kind never stands for, or hides, the other."""

from __future__ import annotations

from shoper_retention.contacts import consent
from shoper_retention.contacts import records as contacts
from shoper_retention.ingest.events import ContactInfo
from shoper_retention.models import Consent, Shop
from tests.support import make_shop

ADDRESS = "ola@example.com"


def _request(session, contact, source, now):  # type: ignore[no-untyped-def]
    return consent.record(
        session, contact, "email", ADDRESS, True, now, source=source, assurance=consent.REQUESTED
    )


def test_a_birthday_forms_tick_is_kept_after_a_back_in_stock_sign_up_and_its_confirmation(
    factory, settings, clock
):
    handle = make_shop(factory, settings, now=clock.now)
    with factory() as session, session.begin():
        shop = session.get(Shop, handle.id)
        assert shop is not None
        contact = contacts.upsert_contact(
            session, shop.id, ContactInfo(email=ADDRESS), clock.now, trusted=False
        )
        assert contact is not None
        assert _request(session, contact, consent.NOTICE_REQUEST, clock.now) is not None
        session.add(
            Consent(
                shop_id=shop.id,
                contact_id=contact.id,
                channel="email",
                granted=True,
                source="confirmation link",
                assurance=consent.NOTICE_CONFIRMED,
                address=ADDRESS,
                recorded_at=clock.now,
            )
        )
        session.flush()

        # The birthday form's tick is its own request: stored, so its owner can be asked.
        birthday = _request(session, contact, "birthday sign-up", clock.now)
        assert birthday is not None and consent.purpose(birthday) == "marketing"
        # ... and it does not hide the confirmed notices.
        assert consent.allows_requested(session, shop, "email", ADDRESS)
        assert not consent.allows(session, shop, "email", ADDRESS)
        # A second notice sign-up is the same confirmed request: nothing new.
        assert _request(session, contact, consent.NOTICE_REQUEST, clock.now) is None
