"""The dates on a contact (contacts/dates.py), kept by ingest/state.py: birth dates as people
write them, 29 February, which source may set a birthday, and first order and joining dates
that come out the same whatever order their events arrive in."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import select

from shoper_retention.contacts import dates
from shoper_retention.ingest import state
from shoper_retention.ingest.events import (
    BirthdaySignup,
    ContactInfo,
    CustomerSeen,
    DomainEvent,
    NewsletterJoined,
    OrderPlaced,
)
from shoper_retention.models import Contact, Shop
from tests.support import make_shop

ANNA = ContactInfo(email="anna@example.com")
TODAY = date(2026, 3, 3)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1990-02-28", (2, 28)),
        ("1992-02-29", (2, 29)),
        ("28.02.1990", (2, 28)),
        ("3.7.1985", (7, 3)),
        ("28.02", (2, 28)),
        ("29.02.", (2, 29)),
        ("--12-24", (12, 24)),
        (" 1990-2-8 ", (2, 8)),
    ],
)
def test_birth_dates_are_read_in_the_forms_shops_write_them(text, expected):
    assert dates.parse_birth_date(text, TODAY) == expected


@pytest.mark.parametrize(
    "text",
    [
        "02-03",  # 2 March or 3 February: refused, never guessed
        "1990-02-29",  # no such day that year
        "31.04.1990",
        "30.02",
        "2026-12-24",  # in the future
        "1850-01-01",
        "13.13",
        "",
        "jutro",
        "1990/02/28",
        "28.02.1990 12:00",
    ],
)
def test_anything_else_is_not_a_birth_date(text):
    assert dates.parse_birth_date(text, TODAY) is None


def test_29_february_is_celebrated_on_28_february_in_a_common_year_only():
    assert dates.celebrated_on(date(2027, 2, 28)) == [228, 229]
    assert dates.celebrated_on(date(2028, 2, 28)) == [228]
    assert dates.celebrated_on(date(2028, 2, 29)) == [229]
    assert dates.celebrated_on(date(2027, 3, 1)) == [301]
    assert dates.celebration_day(229, 2027) == date(2027, 2, 28)
    assert dates.celebration_day(229, 2028) == date(2028, 2, 29)


def test_the_celebration_is_at_ten_in_the_shops_zone_across_dst(factory, settings, clock):
    shop = Shop(timezone="Europe/Warsaw")
    assert dates.celebration_time(shop, date(2026, 1, 15)).astimezone(UTC).hour == 9
    assert dates.celebration_time(shop, date(2026, 7, 15)).astimezone(UTC).hour == 8


def test_the_storefront_only_fills_an_empty_birthday_and_the_shops_records_overwrite_it():
    contact = Contact()
    assert dates.set_birthday(contact, 6, 15, dates.STOREFRONT)
    assert (contact.birthday_md, contact.birthday_source) == (615, "storefront")
    # Not even its own: a stranger's "correction" would look just like the owner's.
    assert not dates.set_birthday(contact, 6, 16, dates.STOREFRONT)
    assert contact.birthday_md == 615
    assert dates.set_birthday(contact, 1, 2, dates.PLATFORM)
    assert not dates.set_birthday(contact, 1, 1, dates.STOREFRONT)
    assert (contact.birthday_md, contact.birthday_source) == (102, "platform")
    assert dates.set_birthday(contact, 3, 4, dates.IMPORT)  # the merchant's file: latest wins
    assert not dates.set_birthday(contact, 2, 30, dates.IMPORT)
    assert (contact.birthday_md, contact.birthday_source) == (304, "import")


def _order(order_id: str, placed_at: datetime) -> OrderPlaced:
    return OrderPlaced(
        order_id=order_id,
        placed_at=placed_at,
        contact=ANNA,
        total=Decimal("10"),
        currency="PLN",
        is_creation=True,
    )


def _apply_all(factory, settings, clock, events: list[DomainEvent]) -> Contact:  # type: ignore[no-untyped-def]
    handle = make_shop(factory, settings, now=clock.now)
    with factory() as session, session.begin():
        shop = session.get(Shop, handle.id)
        assert shop is not None
        for event in events:
            state.apply(session, shop, event, clock.now)
    with factory() as session:
        return session.scalars(select(Contact).where(Contact.shop_id == handle.id)).one()


def test_the_first_order_date_is_the_earliest_order_in_shop_time_in_any_arrival_order(
    factory, settings, clock
):
    orders = [
        _order("1", datetime(2024, 5, 10, 12, 0, tzinfo=UTC)),
        # 23:30 UTC on 31 December is already 1 January in Warsaw.
        _order("2", datetime(2023, 12, 31, 23, 30, tzinfo=UTC)),
        _order("3", datetime(2025, 1, 1, 12, 0, tzinfo=UTC)),
    ]
    results = {
        (c.first_order_on, c.first_order_md)
        for c in (
            _apply_all(factory, settings, clock, list(p)) for p in itertools.permutations(orders)
        )
    }
    assert results == {(date(2024, 1, 1), 101)}


def test_joined_is_the_earliest_of_the_account_and_the_newsletter_in_any_order(
    factory, settings, clock
):
    events: list[DomainEvent] = [
        CustomerSeen(ANNA, joined_at=datetime(2022, 8, 20, 10, tzinfo=UTC)),
        NewsletterJoined(ANNA, datetime(2021, 3, 5, 10, tzinfo=UTC)),
        CustomerSeen(ANNA, joined_at=None, birthday=(7, 1)),
    ]
    results = {
        (c.joined_on, c.joined_md, c.birthday_md, c.birthday_source)
        for c in (
            _apply_all(factory, settings, clock, list(p)) for p in itertools.permutations(events)
        )
    }
    assert results == {(date(2021, 3, 5), 305, 701, "platform")}


def test_a_storefront_sign_up_and_the_shops_record_give_the_shops_birthday_in_any_order(
    factory, settings, clock
):
    events: list[DomainEvent] = [
        BirthdaySignup(ANNA, 1, 1, clock.now),
        CustomerSeen(ANNA, birthday=(6, 15)),
        BirthdaySignup(ANNA, 2, 2, clock.now),
    ]
    results = {
        (c.birthday_md, c.birthday_source)
        for c in (
            _apply_all(factory, settings, clock, list(p)) for p in itertools.permutations(events)
        )
    }
    assert results == {(615, "platform")}
