"""The merchant's settings form: validate what was typed, then store it on the shop.

Kept out of the view so the rules (what a valid timing, sender name or quiet window is) are
plain functions with plain tests."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, time
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import phonenumbers
from sqlalchemy import delete
from sqlalchemy.orm import Session

from shoper_retention import shop_config
from shoper_retention.contacts.emails import canonical_email
from shoper_retention.credentials import CredentialBox
from shoper_retention.errors import BadInput
from shoper_retention.models import ChannelPause, Shop
from shoper_retention.scenarios import registry
from shoper_retention.scenarios.base import Scenario
from shoper_retention.scenarios.settings_schema import LANGUAGES, Text, say
from shoper_retention.web.page_texts import FIELD_LABELS

SENDER_RE = re.compile(r"[A-Za-z0-9 .\-]{1,11}")  # SMSAPI: at most 11 of a-zA-Z0-9 -.
CONSENT_TEXT_MAX = 500
CONSENT_HISTORY = 50  # earlier consent texts kept with their versions, as proof
STOREFRONT_ORIGINS_MAX = 10
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
# A host name of letters, digits and dashes (IDNA "xn--" included), at least two labels.
_HOSTNAME = re.compile(r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}")


def switchable() -> list[Scenario]:
    """The scenarios with a section on the page, in the registry's order."""
    return [s for s in registry.REGISTRY.values() if s.switchable]


def field_label(name: str) -> Text:
    """What the page calls a form field, so an error names it the way the page does; a
    scenario's field is named with its section, as two scenarios may both have a discount."""
    if name in FIELD_LABELS:
        return FIELD_LABELS[name]
    for scenario in switchable():
        label = scenario.settings.labels(scenario.name).get(name)
        if label is not None:
            return {
                lang: f"{say(scenario.settings.title, lang)} › {say(label, lang)}"
                for lang in LANGUAGES
            }
    return {"en": name}


def apply(
    session: Session, shop: Shop, form: Mapping[str, str], box: CredentialBox, now: datetime
) -> None:
    """Validate everything first (nothing is stored on an error), then store."""
    scenario_changes = {
        s.name: s.settings.parse(s.name, form) for s in switchable() if _on_the_form(s, form)
    }
    sender = form.get("sms_sender", "").strip()
    if sender and not SENDER_RE.fullmatch(sender):
        raise BadInput("at most 11 letters, digits, spaces, dots or dashes", field="sms_sender")
    mail_from = form.get("mail_from", "").strip()
    if mail_from:
        try:
            mail_from = canonical_email(mail_from)
        except ValueError as exc:
            raise BadInput(f"must be one plain e-mail address: {exc}", field="mail_from") from None
    sms_countries = _countries(form, "sms_countries")
    email_opt_in = form.get("email_opt_in", "confirmed")
    if email_opt_in not in shop_config.EMAIL_OPT_IN:
        raise BadInput("unknown choice", field="email_opt_in")
    widget = _widget(shop, form, now) if "widget__section" in form else None
    quiet: dict[str, list[str]] = {}
    for channel in ("sms", "email"):
        start = _clock_time(form, f"{channel}_from")
        end = _clock_time(form, f"{channel}_until")
        if not start < end:
            raise BadInput("the window must start before it ends", field=f"{channel}_until")
        quiet[channel] = [start.strftime("%H:%M"), end.strftime("%H:%M")]

    changes: dict[str, Any] = {
        "scenarios": scenario_changes,
        "sms": {
            "sender": sender,
            "transliterate": form.get("sms_transliterate") == "on",
            "countries": sms_countries,
        },
        "consent": {"email_opt_in": email_opt_in},
        "email": {"from": mail_from},
        "quiet_hours": quiet,
    }
    if widget is not None:
        changes["widget"], changes["storefront_origins"] = widget
    shop_config.update(shop, changes)
    token = form.get("smsapi_token", "").strip()
    if token:
        shop.smsapi_token_enc = box.seal(token)
    if form.get("smsapi_token_clear") == "on":
        shop.smsapi_token_enc = None
    # The merchant changed the configuration: let the paused channels try again.
    session.execute(delete(ChannelPause).where(ChannelPause.shop_id == shop.id))


def _widget(shop: Shop, form: Mapping[str, str], now: datetime) -> tuple[dict[str, Any], list[str]]:
    """The storefront widget's section. A changed consent text gets the next version
    (`v3-2026-12-04`, the date in the shop's zone): the widget sends it with every consent, and
    the texts it replaced stay listed with their versions, so each consent names its words. A
    text left as our default (the field shows it) is stored blank: it stays ours, and follows
    our default with its own version (shop_config.widget)."""
    current = shop_config.widget(shop)
    texts: dict[str, str] = {}
    for language in LANGUAGES:
        name = f"widget_consent_{language}"
        text = " ".join(form.get(name, "").split())  # one paragraph, however it was typed
        if len(text) > CONSENT_TEXT_MAX or _CONTROL.search(text):
            raise BadInput(f"one line of at most {CONSENT_TEXT_MAX} characters", field=name)
        texts[language] = "" if text == shop_config.DEFAULT_CONSENT_TEXT[language] else text
    effective = {lang: texts[lang] or shop_config.DEFAULT_CONSENT_TEXT[lang] for lang in texts}
    stored = shop_config.merged(shop.settings)["widget"]["consent"]
    history: list[dict[str, str]] = list(stored.get("history") or [])
    consent: dict[str, Any] = {
        **texts,
        "n": current.consent_count,
        "version": str(stored.get("version") or ""),
        "history": history,
    }
    if effective != current.consent_text:
        count = current.consent_count + 1
        day = now.astimezone(ZoneInfo(shop.timezone)).date().isoformat()
        history.append({"version": current.consent_version, **current.consent_text})
        consent.update(n=count, version=f"v{count}-{day}", history=history[-CONSENT_HISTORY:])
    widget = {
        "restock_form": form.get("widget_restock") == "on",
        "birthday_form": form.get("widget_birthday") == "on",
        "consent": consent,
    }
    return widget, _origins(form, "widget_origins")


def _origins(form: Mapping[str, str], name: str) -> list[str]:
    """More addresses the shop's pages open at (`https://www.sklep.pl`, a second domain), one
    per line or comma-separated: each becomes its origin, and the storefront endpoints answer
    pages there as the shop's own. HTTPS only: a shop's checkout is never served over http."""
    origins: list[str] = []
    for raw in form.get(name, "").replace(",", " ").split():
        origin = _https_origin(raw)
        if origin is None:
            raise BadInput(f"not an https address of a site: {raw[:60]!r}", field=name)
        if origin not in origins:
            origins.append(origin)
    if len(origins) > STOREFRONT_ORIGINS_MAX:
        raise BadInput(f"at most {STOREFRONT_ORIGINS_MAX} addresses", field=name)
    return origins


def _https_origin(raw: str) -> str | None:
    """`https://Sklep.pl/` -> `https://sklep.pl`; None for anything but a site's address. A
    name in Polish letters becomes its punycode, the form browsers send as the Origin."""
    try:
        parts = urlsplit(raw)
        port = parts.port  # a port that is no number raises here
        host = (parts.hostname or "").encode("idna").decode("ascii")
    except ValueError:  # UnicodeError included
        return None
    if (
        parts.scheme.lower() != "https"
        or parts.username is not None
        or parts.password is not None
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
        or not _HOSTNAME.fullmatch(host)
    ):
        return None
    return f"https://{host}" + (f":{port}" if port not in (None, 443) else "")


def _on_the_form(scenario: Scenario, form: Mapping[str, str]) -> bool:
    """Whether the submitted page had this scenario's section (each section sends a hidden
    `<scenario>__section`): a page opened before a scenario was added leaves it as stored,
    instead of refusing fields the merchant never saw."""
    prefix = f"{scenario.name}__"
    return any(name.startswith(prefix) for name in form)


def _countries(form: Mapping[str, str], name: str) -> list[str]:
    """ISO 3166 codes phonenumbers knows, e.g. "PL, de"; empty means the shop's own country."""
    codes = [c.strip().upper() for c in form.get(name, "").replace(";", ",").split(",")]
    codes = [c for c in codes if c]
    unknown = [c for c in codes if c not in phonenumbers.SUPPORTED_REGIONS]
    if unknown:
        raise BadInput(f"unknown country code {unknown[0][:8]!r}", field=name)
    if len(codes) > 30:
        raise BadInput("at most 30 countries", field=name)
    return sorted(set(codes))


def _clock_time(form: Mapping[str, str], name: str) -> time:
    """A wall-clock time in the shop's zone: `09:00`, never one with its own UTC offset."""
    try:
        value = time.fromisoformat(form.get(name, ""))
    except ValueError:
        raise BadInput("must be a time like 09:00", field=name) from None
    if value.tzinfo is not None:
        raise BadInput("must be a time like 09:00", field=name)
    return value
