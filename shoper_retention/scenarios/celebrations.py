"""What the yearly date scenarios (birthday, anniversaries) share: finding today's contacts
through a per-shop MMDD index, planning one run per contact and year, and noticing at send
time that the date a message celebrates is no longer the contact's date.

A run is the year: its plan key (outbox.Plan) is what makes "once a year" hold, however often
the scan runs or the date changes. Dates live on the contact (contacts/dates.py)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, exists, or_, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from shoper_retention.contacts import consent, dates
from shoper_retention.models import Consent, Contact, Message, Shop
from shoper_retention.scenarios import planning

PAGE = 1000


def todays_contacts(
    session: Session,
    shop: Shop,
    scenario: str,
    step: int,
    md_column: InstrumentedAttribute[int | None],
    today: date,
    *extra: ColumnElement[bool],
) -> Iterator[Contact]:
    """Contacts whose date (`md_column`) is celebrated `today` and who have no message of this
    scenario, step and year yet, paged by id. A scan every tick costs one index range per
    page: contacts planned already drop out in SQL, and so do contacts with no address-level
    grant on any channel (nothing could be sent to them: a storefront sign-up's request is
    never a grant at the address level)."""
    planned = exists().where(
        Message.shop_id == shop.id,
        Message.subject_type == "contact",
        Message.subject_id == Contact.id,
        Message.scenario == scenario,
        Message.run == today.year,
        Message.step == step,
    )
    # One EXISTS per channel, so each is an index look-up on (shop, channel, address).
    reachable = or_(
        *(
            exists().where(
                Consent.shop_id == shop.id,
                Consent.channel == channel,
                Consent.address == address,
                Consent.cart_id.is_(None),
                Consent.assurance != consent.REQUESTED,
                Consent.granted.is_(True),
            )
            for channel, address in (("email", Contact.email), ("sms", Contact.phone))
        )
    )
    after = 0
    while True:
        page = session.scalars(
            select(Contact)
            .where(
                Contact.shop_id == shop.id,
                md_column.in_(dates.celebrated_on(today)),
                Contact.id > after,
                ~planned,
                reachable,
                *extra,
            )
            .order_by(Contact.id)
            .limit(PAGE)
        ).all()
        yield from page
        if len(page) < PAGE:
            return
        after = page[-1].id


def plan(
    session: Session,
    shop: Shop,
    scenario: str,
    contact: Contact,
    step: int,
    channel: str,
    today: date,
    now: datetime,
) -> int:
    """One step for `contact` at 10:00 shop time `today` (at once if that is past)."""
    subject = planning.Subject(
        scenario=scenario,
        type="contact",
        id=contact.id,
        run=today.year,
        contact_id=contact.id,
        email=contact.email,
        phone=contact.phone,
    )
    return planning.plan_message(
        session, shop, subject, step, channel, dates.celebration_time(shop, today), now
    )


def date_changed(shop: Shop, md: int | None, message: Message) -> bool:
    """The contact's date no longer falls on the day the message was planned (scans plan only
    on the day itself): removed, corrected, or moved back by an older order."""
    if md is None:
        return True
    planned_on = message.planned_at.astimezone(ZoneInfo(shop.timezone)).date()
    return dates.celebration_day(md, message.run) != planned_on


def contact_of(session: Session, shop: Shop, message: Message) -> Contact | None:
    contact = session.get(Contact, message.subject_id)
    return contact if contact is not None and contact.shop_id == shop.id else None


def recipient(session: Session, shop: Shop, message: Message) -> str | None:
    contact = contact_of(session, shop, message)
    if contact is None:
        return None
    return contact.phone if message.channel == "sms" else contact.email
