"""Language, money and dates as the shop's customers read them."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from babel.dates import format_datetime
from babel.numbers import format_currency

SUPPORTED = ("pl", "en")
BABEL_LOCALES = {"pl": "pl_PL", "en": "en_GB"}


def language_of(locale_name: str | None) -> str:
    """`pl_PL`, `pl`, `Polski`... -> "pl"; anything we have no texts for -> "en"."""
    if not locale_name:
        return "en"
    code = locale_name.replace("-", "_").split("_")[0].lower()[:2]
    if locale_name.lower().startswith("pol"):
        code = "pl"
    return code if code in SUPPORTED else "en"


def money(amount: Decimal, currency: str, language: str) -> str:
    return format_currency(amount, currency, locale=BABEL_LOCALES.get(language, "en_GB"))


def local_datetime(value: datetime, timezone: str, language: str) -> str:
    local = value.astimezone(ZoneInfo(timezone))
    return format_datetime(local, "d MMMM yyyy, HH:mm", locale=BABEL_LOCALES.get(language, "en_GB"))
