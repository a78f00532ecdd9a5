"""Per-shop settings: defaults good enough to switch on and forget, overridden by the merchant.

Stored as one JSON document on the shop; read through the typed views below so the rest of the
code never digs in dicts."""

from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass
from datetime import time
from typing import TYPE_CHECKING, Any

from shoper_retention.models import Shop

if TYPE_CHECKING:
    from shoper_retention.scenarios.settings_schema import SettingsSchema

DEFAULTS: dict[str, Any] = {
    "scenarios": {},  # each scenario's own, read through its settings schema
    # The countries SMS may go to (ISO 3166 codes); empty means the shop's own country.
    "sms": {"sender": "", "transliterate": True, "countries": []},
    # confirmed: a storefront tick is followed by one confirmation e-mail, and marketing waits
    # for the owner's click; single: the tick alone allows that cart's reminders (consent.py).
    "consent": {"email_opt_in": "confirmed"},
    "email": {"from": "", "reply_to": ""},
    "quiet_hours": {"sms": ["09:00", "20:00"], "email": ["08:00", "21:00"]},
    "frequency_cap": {"sms": 1, "email": 2},  # per contact per 24 h, across scenarios
    # What the platform reported about the shop's own settings (not the merchant's choice
    # here): whether it sends abandoned-cart reminders of its own (Ecwid can).
    "platform": {"own_cart_reminders": False},
    # The storefront widget (web/widget.py): which forms it shows, and the consent text beside
    # the checkout's e-mail field. Empty texts mean the defaults below; `n` counts the texts
    # the merchant saved (the defaults are 1), so every change gets a new version as proof.
    "widget": {
        "restock_form": False,
        "birthday_form": False,
        "consent": {"pl": "", "en": "", "n": 1, "version": ""},
    },
    # More origins the shop's pages are served from (`https://www.sklep.pl`), besides its
    # shop_url's: web/storefront.py answers their calls too.
    "storefront_origins": [],
}


def merged(stored: dict[str, Any] | None) -> dict[str, Any]:
    """Defaults with the stored values laid over them, key by key."""
    result = copy.deepcopy(DEFAULTS)
    _overlay(result, stored or {})
    return result


def _overlay(base: dict[str, Any], over: dict[str, Any]) -> None:
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _overlay(base[key], value)
        else:
            base[key] = copy.deepcopy(value)


def update(shop: Shop, changes: dict[str, Any]) -> None:
    stored = copy.deepcopy(shop.settings or {})
    _overlay(stored, changes)
    shop.settings = stored  # a new object, so SQLAlchemy sees the change


def scenario_settings(shop: Shop, name: str, schema: SettingsSchema) -> dict[str, Any]:
    """A scenario's stored settings over its schema's defaults."""
    return schema.read(merged(shop.settings)["scenarios"].get(name))


def scenario_enabled(shop: Shop, scenario: str) -> bool:
    """Every scenario the merchant can switch starts off."""
    return bool(merged(shop.settings)["scenarios"].get(scenario, {}).get("enabled"))


def quiet_window(shop: Shop, channel: str) -> tuple[time, time]:
    """The allowed window (start, end) in the shop's local time."""
    start, end = merged(shop.settings)["quiet_hours"][channel]
    return time.fromisoformat(start), time.fromisoformat(end)


def frequency_cap(shop: Shop, channel: str) -> int:
    return int(merged(shop.settings)["frequency_cap"][channel])


def sms_sender(shop: Shop) -> str:
    return str(merged(shop.settings)["sms"]["sender"])


def sms_transliterate(shop: Shop) -> bool:
    return bool(merged(shop.settings)["sms"]["transliterate"])


def sms_countries(shop: Shop) -> frozenset[str]:
    countries = merged(shop.settings)["sms"]["countries"] or [shop.country or "PL"]
    return frozenset(str(c).upper() for c in countries)


EMAIL_OPT_IN = ("confirmed", "single")


def email_opt_in(shop: Shop) -> str:
    value = str(merged(shop.settings)["consent"]["email_opt_in"])
    return value if value in EMAIL_OPT_IN else "confirmed"


def mail_from(shop: Shop, default: str) -> str:
    return str(merged(shop.settings)["email"]["from"]) or default or shop.email


def platform_sends_cart_reminders(shop: Shop) -> bool:
    return bool(merged(shop.settings)["platform"]["own_cart_reminders"])


def customer_birthday_field(shop: Shop) -> int:
    """The platform's customer field the merchant mapped to a birth date (0: none). Set in the
    birthday section of the page, read by the platform adapter whether or not that scenario
    is on, so birthdays are known the day it is switched on."""
    raw = merged(shop.settings)["scenarios"].get("birthday", {}).get("shoper_field", 0)
    try:
        return max(0, int(raw))
    except (TypeError, ValueError):
        return 0


# The consent text a shop shows until its merchant writes its own: what the box beside the
# checkout's e-mail field grants (cart reminders and offers by e-mail), and how to take it back.
DEFAULT_CONSENT_TEXT = {
    "pl": "Chcę otrzymywać od sklepu e-maile z ofertami i przypomnieniami o niedokończonych "
    "zakupach. Zgodę mogę w każdej chwili wycofać, klikając link w wiadomości.",
    "en": "I'd like to receive e-mails from the shop with offers and reminders about purchases "
    "I haven't finished. I can withdraw my consent at any time by clicking the link in any "
    "message.",
}


def default_consent_mark(texts: dict[str, str]) -> str:
    """A short digest of the default texts: it goes into the version of every consent given
    beside a default text, so that version changes whenever our default's words do."""
    joined = "\n".join(texts[lang] for lang in sorted(texts))
    return hashlib.sha256(joined.encode()).hexdigest()[:8]


def default_consent_version() -> str:
    return f"v1-default-{default_consent_mark(DEFAULT_CONSENT_TEXT)}"


@dataclass(frozen=True)
class WidgetSettings:
    restock_form: bool
    birthday_form: bool
    consent_text: dict[str, str]  # per language, the merchant's or the default
    # Names these words: the widget sends it, with the language shown, with every consent it
    # reports (consent_text_version `<version>-<lang>`).
    consent_version: str
    consent_count: int  # texts saved so far (1: still the default)


def widget(shop: Shop) -> WidgetSettings:
    stored = merged(shop.settings)["widget"]
    consent = stored["consent"]
    own = {lang: str(consent.get(lang) or "") for lang in ("pl", "en")}
    texts = {lang: own[lang] or DEFAULT_CONSENT_TEXT[lang] for lang in own}
    version = str(consent.get("version") or "") or default_consent_version()
    mark = default_consent_mark(DEFAULT_CONSENT_TEXT)
    if not all(own.values()) and mark not in version:
        # A language left to our default shows our words, which may change with a release.
        version = f"{version}-default-{mark}"
    return WidgetSettings(
        restock_form=bool(stored["restock_form"]),
        birthday_form=bool(stored["birthday_form"]),
        consent_text=texts,
        consent_version=version,
        consent_count=max(1, int(consent.get("n") or 1)),
    )


def storefront_origins(shop: Shop) -> list[str]:
    """The extra origins the merchant named for the shop's pages (web/storefront.py)."""
    return [str(origin) for origin in merged(shop.settings)["storefront_origins"]]
