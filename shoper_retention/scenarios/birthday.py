"""Birthday: on the contact's birthday, at 10:00 shop time, wishes with a unique coupon valid
for N days. Once per contact and year (the run is the year); 29 February is celebrated on
28 February in a common year.

Birthdays come from the shop's customer field, the merchant's CSV and the storefront sign-up;
which of them wins is contacts/dates.py's rule. The scan reads only the day's contacts through
the (shop, birthday_md) index (celebrations.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from shoper_retention import shop_config
from shoper_retention.contacts import dates
from shoper_retention.messaging.coupons import CouponPolicy
from shoper_retention.models import Contact, Message, Shop
from shoper_retention.scenarios import celebrations
from shoper_retention.scenarios.base import SendServices
from shoper_retention.scenarios.settings_schema import (
    CHANNEL_CHOICES,
    Choice,
    Coupon,
    Number,
    SettingsSchema,
    Switch,
    coupon_policy,
)

NAME = "birthday"
STEP = 1

SETTINGS = SettingsSchema(
    title={"pl": "Urodziny", "en": "Birthdays"},
    description={
        "pl": "Życzenia urodzinowe z kuponem w prezencie, raz w roku o 10:00 w dniu urodzin "
        "klienta. Daty urodzin pochodzą z pola klienta w Shoperze, z importu CSV i z formularza "
        "„prezent na urodziny” w sklepie.",
        "en": "Birthday wishes with a gift coupon, once a year at 10:00 on the customer's "
        "birthday. Birthdays come from a Shoper customer field, a CSV import and the shop's "
        "‘birthday gift’ form.",
    },
    fields=(
        Switch("enabled", {"pl": "Wysyłaj życzenia urodzinowe", "en": "Send birthday wishes"}),
        Choice("channel", {"pl": "Kanał", "en": "Channel"}, "auto", CHANNEL_CHOICES),
        Coupon(
            "coupon",
            {"pl": "Kupon urodzinowy", "en": "Birthday coupon"},
            valid=7,
            valid_unit="days",
        ),
        Number(
            "shoper_field",
            {
                "pl": "Numer (ID) pola klienta w Shoperze z datą urodzin",
                "en": "ID of the Shoper customer field with the date of birth",
            },
            0,
            0,
            10**9,
            {
                "pl": "0, jeśli nie ma takiego pola. Daty: 1990-02-28, 28.02.1990 lub 28.02.",
                "en": "0 if there is no such field. Dates like 1990-02-28, 28.02.1990 or 28.02.",
            },
        ),
    ),
)


@dataclass(frozen=True)
class Config:
    enabled: bool
    channel: str
    coupon: CouponPolicy


def read_config(shop: Shop) -> Config:
    raw = shop_config.scenario_settings(shop, NAME, SETTINGS)
    return Config(
        enabled=bool(raw["enabled"]),
        channel=str(raw["channel"]),
        coupon=coupon_policy(raw["coupon"]),
    )


class Birthday(celebrations.Celebration):
    name = NAME
    settings = SETTINGS

    def scan(self, session: Session, shop: Shop, now: datetime) -> int:
        config = read_config(shop)
        if not config.enabled:
            return 0
        today = dates.local_today(shop, now)
        return celebrations.plan_day(
            session, shop, NAME, STEP, config.channel, Contact.birthday_md, today, now
        )

    def exit_reason(
        self, session: Session, shop: Shop, message: Message, now: datetime
    ) -> str | None:
        contact = celebrations.contact_of(session, shop, message)
        if contact is None:
            return "contact deleted"
        if contact.birthday_md is None:
            return "birthday removed"
        if celebrations.date_changed(shop, contact.birthday_md, message):
            return "birthday changed"
        return None

    def context(
        self, session: Session, shop: Shop, message: Message, now: datetime, services: SendServices
    ) -> dict[str, Any]:
        policy = read_config(shop).coupon
        coupon = None
        if policy.mode != "none":
            # One coupon per contact and year: the e-mail and the SMS share it.
            key = f"{NAME}:contact:{message.subject_id}:{message.run}"
            coupon = services.coupon(shop, key, policy, now)
        return {"coupon": coupon}
