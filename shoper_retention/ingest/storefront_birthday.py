"""The storefront's "a gift on your birthday" sign-up, validated field by field (README, "The
storefront contract (birthday sign-ups)").

Anyone can post it, so it carries only what cannot put words in front of a stranger: one
address (canonical e-mail, or a phone in E.164), a month and a day, and consent claims. No
name: a greeting must come from the shop's own records."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from shoper_retention.contacts.dates import is_month_day
from shoper_retention.contacts.phones import to_e164
from shoper_retention.errors import BadInput
from shoper_retention.ingest.events import BirthdaySignup, ConsentChange, ContactInfo
from shoper_retention.ingest.storefront_events import contact_email
from shoper_retention.ingest.untrusted_json import parse_object

CHANNELS = ("email", "sms")
MAX_DEPTH = 4  # {"contact": {...}} is two levels; the rest leaves room for additions


def parse_birthday_signup(body: bytes, received_at: datetime, region: str = "PL") -> BirthdaySignup:
    data = parse_object(body, max_depth=MAX_DEPTH)
    if data.get("type", "birthday") != "birthday":
        raise BadInput("unsupported event type", field="type")
    contact = _object(data, "contact")
    email = contact_email(contact.get("email"))
    phone = _phone(contact.get("phone"), region)
    if email is None and phone is None:
        raise BadInput("an e-mail address or a phone number is required", field="contact")
    birthday = _object(data, "birthday")
    month = _whole(birthday.get("month"), "birthday.month", 12)
    day = _whole(birthday.get("day"), "birthday.day", 31)
    if not is_month_day(month, day):
        raise BadInput("no such day in that month", field="birthday.day")
    text_version = data.get("consent_text_version") or ""
    if not isinstance(text_version, str) or len(text_version) > 64:
        raise BadInput("a string of at most 64 characters", field="consent_text_version")
    claims = _object(data, "consent")
    consents = []
    for channel in CHANNELS:
        value = claims.get(channel)
        if value is None:
            continue
        if not isinstance(value, bool):
            raise BadInput("must be true or false", field=f"consent.{channel}")
        consents.append(ConsentChange(channel, value, "storefront", text_version.strip()))
    return BirthdaySignup(
        contact=ContactInfo(email=email, phone=phone),
        month=month,
        day=day,
        received_at=received_at,
        consents=tuple(consents),
    )


def _object(data: dict[str, Any], key: str) -> dict[str, Any]:
    value = data.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadInput("must be an object", field=key)
    return value


def _whole(value: Any, field: str, high: int) -> int:
    if isinstance(value, str) and re.fullmatch(r"[0-9]{1,2}", value):
        value = int(value)  # a <select>'s value arrives as text
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= high:
        raise BadInput(f"must be a whole number from 1 to {high}", field=field)
    return value


def _phone(value: Any, region: str) -> str | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str) or len(value) > 32:
        raise BadInput("must be a phone number", field="contact.phone")
    phone = to_e164(value, region)
    if phone is None:
        raise BadInput("not a valid phone number", field="contact.phone")
    return phone
