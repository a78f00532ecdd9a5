"""What the yearly date scenarios (birthday, anniversaries) share: finding today's contacts
through a per-shop MMDD index, planning one run per contact and year, and noticing at send
time that the date a message celebrates is no longer the contact's date.

A run is the year: its plan key (outbox.Plan) is what makes "once a year" hold, however often
the scan runs or the date changes. Dates live on the contact (contacts/dates.py)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, exists, or_, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from shoper_retention.contacts import consent, dates
from shoper_retention.ingest.events import DomainEvent
from shoper_retention.models import Consent, Contact, Message, Shop
from shoper_retention.scenarios import planning

PAGE = 1000


def plan_day(
    session: Session,
    shop: Shop,
    scenario: str,
    step: int,
    channel_choice: str,
    md_column: InstrumentedAttribute[int | None],
    today: date,
    now: datetime,
    *extra: ColumnElement[bool],
) -> int:
    """Plan one step for every contact celebrating `today`, at 10:00 shop time (at once if that
    is past), a page at a time: a shop with a million contacts has thousands on a day, each
    page's consent is read and its messages inserted in a few statements."""
    due = dates.celebration_time(shop, today)
    return sum(
        planning.plan_messages(
            session,
            shop,
            [
                planning.Wish(subject(scenario, contact, today), step, channel_choice, due)
                for contact in page
            ],
            now,
        )
        for page in todays_pages(session, shop, scenario, step, md_column, today, *extra)
    )


def todays_pages(
    session: Session,
    shop: Shop,
    scenario: str,
    step: int,
    md_column: InstrumentedAttribute[int | None],
    today: date,
    *extra: ColumnElement[bool],
) -> Iterator[Sequence[Contact]]:
    """Contacts whose date (`md_column`) is celebrated `today` and who have no message of this
    scenario, step and year yet, in pages by id. A scan every tick costs one index range per
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
    # One EXISTS whose OR names both channels: each branch is an index look-up on (shop,
    # channel, address) per contact. (Two EXISTS in an OR let PostgreSQL hash every SMS grant
    # of the shop once per page instead.)
    reachable = exists().where(
        Consent.shop_id == shop.id,
        or_(
            and_(Consent.channel == "email", Consent.address == Contact.email),
            and_(Consent.channel == "sms", Consent.address == Contact.phone),
        ),
        Consent.cart_id.is_(None),
        Consent.assurance.not_in(consent.REQUEST_SCOPE),
        Consent.granted.is_(True),
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
        if page:
            yield page
        if len(page) < PAGE:
            return
        after = page[-1].id


def subject(scenario: str, contact: Contact, today: date) -> planning.Subject:
    """A contact's run of a yearly scenario: the run is the year."""
    return planning.Subject(
        scenario=scenario,
        type="contact",
        id=contact.id,
        run=today.year,
        contact_id=contact.id,
        email=contact.email,
        phone=contact.phone,
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


class Celebration:
    """What a yearly celebration of a contact's date shares: the clock decides (the dates are
    state, kept by ingest), a message never waits, it goes to the contact's own address, and
    it links only to the shop."""

    marketing = True
    switchable = True
    opt_out = True
    reacts_to: tuple[type, ...] = ()

    def on_event(self, session: Session, shop: Shop, event: DomainEvent, now: datetime) -> None:
        return None

    def wait_until(
        self, session: Session, shop: Shop, message: Message, now: datetime
    ) -> tuple[datetime, str] | None:
        return None

    def recipient(self, session: Session, shop: Shop, message: Message) -> str | None:
        return recipient(session, shop, message)

    def link_target(self, session: Session, shop: Shop, message: Message, link: str) -> str | None:
        return None
