"""Date anniversaries: a yearly note on the day of the contact's first order (step 1) and of
joining the shop's club, by account or newsletter (step 2), at 10:00 shop time, from the first
anniversary on. Once per contact, kind and year (the run is the year, the kind is the step);
29 February is kept on 28 February in a common year.

The dates are state kept by ingest (contacts/dates.py): the earliest order, the earliest
joining, whatever order the events came in."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import or_
from sqlalchemy.orm import InstrumentedAttribute, Session

from shoper_retention import shop_config
from shoper_retention.commerce import history
from shoper_retention.contacts import dates
from shoper_retention.messaging.coupons import CouponPolicy
from shoper_retention.models import Contact, Message, Shop
from shoper_retention.scenarios import celebrations
from shoper_retention.scenarios.base import SendServices
from shoper_retention.scenarios.settings_schema import (
    CHANNEL_CHOICES,
    Choice,
    Coupon,
    SettingsSchema,
    Switch,
    coupon_policy,
)

NAME = "anniversaries"
FIRST_ORDER = 1  # the step of each kind
CLUB = 2


@dataclass(frozen=True, eq=False)
class Kind:
    step: int
    setting: str
    md: InstrumentedAttribute[int | None]
    on: InstrumentedAttribute[date | None]


KINDS = (
    Kind(FIRST_ORDER, "first_order", Contact.first_order_md, Contact.first_order_on),
    Kind(CLUB, "club", Contact.joined_md, Contact.joined_on),
)

SETTINGS = SettingsSchema(
    title={"pl": "Rocznice", "en": "Anniversaries"},
    description={
        "pl": "Wiadomość o 10:00 w rocznicę pierwszego zamówienia klienta i w rocznicę jego "
        "dołączenia do sklepu (konto lub newsletter), od pierwszej rocznicy. Każda raz w roku.",
        "en": "A message at 10:00 on the anniversary of a customer's first order and of their "
        "joining your shop (an account or the newsletter), from the first anniversary on. "
        "Each one once a year.",
    },
    fields=(
        Switch("enabled", {"pl": "Wysyłaj wiadomości rocznicowe", "en": "Send anniversary notes"}),
        Switch(
            "first_order",
            {"pl": "Rocznica pierwszego zamówienia", "en": "First order anniversary"},
            on=True,
        ),
        Switch(
            "club",
            {"pl": "Rocznica dołączenia do sklepu", "en": "Anniversary of joining"},
            on=True,
        ),
        Choice("channel", {"pl": "Kanał", "en": "Channel"}, "email", CHANNEL_CHOICES),
        Coupon(
            "coupon",
            {"pl": "Kupon w wiadomości rocznicowej", "en": "Coupon in the anniversary note"},
            mode="none",
            valid=7,
            valid_unit="days",
        ),
    ),
)


@dataclass(frozen=True)
class Config:
    enabled: bool
    kinds: tuple[Kind, ...]
    channel: str
    coupon: CouponPolicy


def read_config(shop: Shop) -> Config:
    raw = shop_config.scenario_settings(shop, NAME, SETTINGS)
    return Config(
        enabled=bool(raw["enabled"]),
        kinds=tuple(k for k in KINDS if raw[k.setting]),
        channel=str(raw["channel"]),
        coupon=coupon_policy(raw["coupon"]),
    )


def _kind(step: int) -> Kind:
    return next(k for k in KINDS if k.step == step)


def _date_of(contact: Contact, kind: Kind) -> tuple[int | None, date | None]:
    return getattr(contact, kind.md.key), getattr(contact, kind.on.key)


class Anniversaries(celebrations.Celebration):
    name = NAME
    settings = SETTINGS

    def scan(self, session: Session, shop: Shop, now: datetime) -> int:
        config = read_config(shop)
        if not config.enabled:
            return 0
        today = dates.local_today(shop, now)
        known_since = history.orders_known_since(session, shop)
        planned = 0
        for kind in config.kinds:
            # From the first anniversary: never on the day itself.
            conditions = [kind.on < date(today.year, 1, 1)]
            if kind.step == FIRST_ORDER and known_since is not None:
                # Only a first order we can vouch for: none may hide before the imported
                # history (a wrong "a year since your first order" to a customer of five).
                conditions.append(Contact.first_order_on >= known_since)
                conditions.append(
                    or_(Contact.joined_on.is_(None), Contact.joined_on >= known_since)
                )
            planned += celebrations.plan_day(
                session, shop, NAME, kind.step, config.channel, kind.md, today, now, *conditions
            )
        return planned

    def exit_reason(
        self, session: Session, shop: Shop, message: Message, now: datetime
    ) -> str | None:
        contact = celebrations.contact_of(session, shop, message)
        if contact is None:
            return "contact deleted"
        kind = _kind(message.step)
        if all(k.step != kind.step for k in read_config(shop).kinds):
            return "this anniversary switched off"
        md, _ = _date_of(contact, kind)
        if celebrations.date_changed(shop, md, message):
            return "anniversary date changed"
        return None

    def context(
        self, session: Session, shop: Shop, message: Message, now: datetime, services: SendServices
    ) -> dict[str, Any]:
        contact = celebrations.contact_of(session, shop, message)
        assert contact is not None  # exit_reason ran first
        _, since = _date_of(contact, _kind(message.step))
        policy = read_config(shop).coupon
        coupon = None
        if policy.mode != "none":
            key = f"{NAME}:contact:{contact.id}:{message.run}:{message.step}"
            coupon = services.coupon(shop, key, policy, now)
        return {"years": message.run - since.year if since else 1, "coupon": coupon}
