"""Finding and updating the contact behind an event, and the suppression list.

A contact is known by e-mail or phone within one shop; every query here is scoped by shop."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shoper_retention.ingest.events import ContactInfo
from shoper_retention.models import Cart, Contact, Suppression


def upsert_contact(
    session: Session, shop_id: int, info: ContactInfo, now: datetime, *, trusted: bool
) -> Contact | None:
    """The contact for `info`, created or filled in; None when it names nobody reachable.

    Only `trusted` data (a platform's signed order or customer record) links addresses or
    names a contact. The storefront, which anyone can post to, never changes a known contact,
    and a contact it creates holds one address (the e-mail, else the phone): a phone planted
    next to a stranger's e-mail would let an order with that phone end her reminders, and a
    name would greet her in every message. What a cart's snapshot says stays on the cart."""
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
    if not trusted:
        contact.email, contact.phone = info.email, None if info.email else info.phone
        session.flush()
        return contact
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
    """True when `info` gives an e-mail or phone the shop has seen neither on a contact nor on
    a cart (index look-ups on (shop, address)): a cart's phone stays on the cart, and its
    every later snapshot must not count as a new person."""

    def unseen(on_contact: ColumnElement[bool], on_cart: ColumnElement[bool]) -> bool:
        known = session.scalars(
            select(Contact.id).where(Contact.shop_id == shop_id, on_contact).limit(1)
        ).first()
        if known is None:
            known = session.scalars(
                select(Cart.id).where(Cart.shop_id == shop_id, on_cart).limit(1)
            ).first()
        return known is None

    return bool(
        (info.email and unseen(Contact.email == info.email, Cart.email == info.email))
        or (info.phone and unseen(Contact.phone == info.phone, Cart.phone == info.phone))
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
