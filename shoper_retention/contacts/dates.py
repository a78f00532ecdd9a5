"""The dates the celebrations read, kept on the contact in the shop's own calendar: the
birthday (month and day, with where it came from), the first order and joining the club.

Events arrive in any order (webhooks, the storefront, the history import), so every rule here
gives the same result whatever the order: the first order and the joining date are minima, and
a birthday's owner is decided by its source's rank, not by which event came last."""

from __future__ import annotations

import calendar
import re
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from shoper_retention.models import Contact, Shop

# Where a birthday came from. The shop's own records (its customer field, the merchant's CSV)
# outrank what anyone can post from the storefront.
PLATFORM = "platform"
IMPORT = "import"
STOREFRONT = "storefront"

CELEBRATION_HOUR = time(10, 0)

_YMD = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")
_DMY = re.compile(r"(\d{1,2})\.(\d{1,2})\.(\d{4})")
_DM = re.compile(r"(\d{1,2})\.(\d{1,2})\.?")
_NO_YEAR = re.compile(r"--(\d{2})-(\d{2})")  # ISO 8601 without a year


def month_day(month: int, day: int) -> int:
    """MMDD as one number: a day's contacts are one index range (models/contacts.py)."""
    return month * 100 + day


def is_month_day(month: int, day: int) -> bool:
    """A day that exists in some year (29 February included)."""
    return 1 <= month <= 12 and 1 <= day <= calendar.monthrange(2000, month)[1]


def parse_birth_date(text: str, today: date) -> tuple[int, int] | None:
    """(month, day) from the forms people and shops write a birth date in: 1990-02-28,
    28.02.1990, 28.02 and --02-28. Day and month with a dash alone (02-03) is refused: it
    reads as 2 March in Poland and 3 February elsewhere. A full date must exist and not lie
    in the future."""
    text = text.strip()
    if match := _YMD.fullmatch(text):
        year, month, day = (int(g) for g in match.groups())
    elif match := _DMY.fullmatch(text):
        day, month, year = (int(g) for g in match.groups())
    elif match := _DM.fullmatch(text) or _NO_YEAR.fullmatch(text):
        first, second = (int(g) for g in match.groups())
        month, day = (second, first) if text[0] != "-" else (first, second)
        return (month, day) if is_month_day(month, day) else None
    else:
        return None
    try:
        born = date(year, month, day)
    except ValueError:
        return None
    return (month, day) if date(1900, 1, 1) <= born <= today else None


def celebration_day(md: int, year: int) -> date:
    """The day a yearly date falls on in `year`: 29 February is kept on 28 February when the
    year has none."""
    month, day = divmod(md, 100)
    if (month, day) == (2, 29) and not calendar.isleap(year):
        day = 28
    return date(year, month, day)


def celebrated_on(day: date) -> list[int]:
    """The MMDD values celebrated on `day` (28 February of a common year takes 29 February's)."""
    mds = [month_day(day.month, day.day)]
    if (day.month, day.day) == (2, 28) and not calendar.isleap(day.year):
        mds.append(month_day(2, 29))
    return mds


def local_today(shop: Shop, now: datetime) -> date:
    return now.astimezone(ZoneInfo(shop.timezone)).date()


def celebration_time(shop: Shop, day: date) -> datetime:
    """10:00 on `day` in the shop's time zone (a time every zone has on every day)."""
    return datetime.combine(day, CELEBRATION_HOUR, tzinfo=ZoneInfo(shop.timezone))


def set_birthday(contact: Contact, month: int, day: int, source: str) -> bool:
    """Record a birthday unless a better source holds one; True if it changed.

    The shop's records always win over the storefront, and between themselves the latest
    wins. The storefront may only give a birthday to a contact that has none: anyone can post
    anyone's address, so a form must never move a date someone already has (not even one a
    form gave: the stranger's correction would look just like the owner's). A wrong date from
    the form is corrected through the shop's records or the CSV import."""
    if not is_month_day(month, day):
        return False
    if source == STOREFRONT and contact.birthday_md is not None:
        return False
    md = month_day(month, day)
    if contact.birthday_md == md and contact.birthday_source == source:
        return False
    contact.birthday_md, contact.birthday_source = md, source
    return True


def note_first_order(contact: Contact, shop: Shop, placed_at: datetime) -> None:
    """The earliest order's shop-local date: an older order arriving late moves it back."""
    placed_on = placed_at.astimezone(ZoneInfo(shop.timezone)).date()
    if contact.first_order_on is None or placed_on < contact.first_order_on:
        contact.first_order_on = placed_on
        contact.first_order_md = month_day(placed_on.month, placed_on.day)


def note_joined(contact: Contact, shop: Shop, joined_at: datetime) -> None:
    """Joined the club: the earliest of the account's creation and the newsletter sign-up."""
    joined_on = joined_at.astimezone(ZoneInfo(shop.timezone)).date()
    if contact.joined_on is None or joined_on < contact.joined_on:
        contact.joined_on = joined_on
        contact.joined_md = month_day(joined_on.month, joined_on.day)
