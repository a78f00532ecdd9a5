"""Finding and updating the contact behind an event, and the suppression list.

A contact is known by e-mail or phone within one shop; every query here is scoped by shop."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shoper_retention.events import ContactInfo
from shoper_retention.models import Contact, Suppression


def upsert_contact(
    session: Session, shop_id: int, info: ContactInfo, now: datetime, *, trusted: bool
) -> Contact | None:
    """The contact for `info`, created or filled in; None when it names nobody reachable.

    Only `trusted` data (a platform's signed order or customer record) changes a known
    contact: the storefront, which anyone can post to, never adds a phone, an e-mail or a name
    to someone (a phone planted on a stranger's contact would let an order with that phone end
    her reminders, and a name would greet her in every message). What a cart's snapshot says
    stays on the cart."""
    if not info.email and not info.phone:
        return None
    contact = None
    if info.email:
        contact = _by(session, shop_id, Contact.email, info.email)
    if contact is None and info.phone:
        contact = _by(session, shop_id, Contact.phone, info.phone)
    if contact is not None and not trusted:
        return contact
    if contact is None:
        contact = Contact(shop_id=shop_id, created_at=now, updated_at=now)
        session.add(contact)
    if info.email and not contact.email:
        contact.email = info.email
    # A phone moves to this contact only if no other contact of the shop has it (unique).
    if info.phone and contact.phone != info.phone and (trusted or not contact.phone):
        owner = _by(session, shop_id, Contact.phone, info.phone)
        if owner is None or owner is contact:
            contact.phone = info.phone
    if info.first_name and trusted:
        contact.first_name = info.first_name[:100]
    if info.language:
        contact.language = info.language
    if info.platform_customer_id:
        contact.platform_customer_id = info.platform_customer_id
    contact.updated_at = now
    session.flush()
    return contact


def names_someone_new(session: Session, shop_id: int, info: ContactInfo) -> bool:
    """True when `info` gives an e-mail or phone the shop has no contact for yet (one look-up
    on each of the contacts' unique (shop, address) indexes)."""
    conditions = []
    if info.email:
        conditions.append(Contact.email == info.email)
    if info.phone:
        conditions.append(Contact.phone == info.phone)
    if not conditions:
        return False
    known = session.execute(
        select(Contact.email, Contact.phone).where(Contact.shop_id == shop_id, or_(*conditions))
    ).all()
    return bool(
        (info.email and info.email not in {row.email for row in known})
        or (info.phone and info.phone not in {row.phone for row in known})
    )


def _by(session: Session, shop_id: int, column: object, value: str) -> Contact | None:
    return session.scalars(
        select(Contact).where(Contact.shop_id == shop_id, column == value)  # type: ignore[arg-type]
    ).first()


def is_suppressed(session: Session, shop_id: int, channel: str, address: str) -> bool:
    return (
        session.scalars(
            select(Suppression.id).where(
                Suppression.shop_id == shop_id,
                Suppression.channel == channel,
                Suppression.address == address,
            )
        ).first()
        is not None
    )


def suppress(
    session: Session, shop_id: int, channel: str, address: str, reason: str, now: datetime
) -> bool:
    """Add the address to the suppression list; False if it was there already."""
    if is_suppressed(session, shop_id, channel, address):
        return False
    try:
        # A savepoint: two unsubscribes racing hit the unique key, and that is fine.
        with session.begin_nested():
            session.add(
                Suppression(
                    shop_id=shop_id, channel=channel, address=address, reason=reason, created_at=now
                )
            )
    except IntegrityError:
        return False
    return True
