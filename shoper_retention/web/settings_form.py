"""The merchant's settings form: validate what was typed, then store it on the shop.

Kept out of the view so the rules (what a valid timing, sender name or quiet window is) are
plain functions with plain tests."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, time
from typing import Any

import phonenumbers
from sqlalchemy import delete
from sqlalchemy.orm import Session

from shoper_retention import shop_config
from shoper_retention.contacts.emails import canonical_email
from shoper_retention.credentials import CredentialBox
from shoper_retention.errors import BadInput
from shoper_retention.models import ChannelPause, Shop

SENDER_RE = re.compile(r"[A-Za-z0-9 .\-]{1,11}")  # SMSAPI: at most 11 of a-zA-Z0-9 -.
STEP_LIMIT_HOURS = 24 * 30
COUPON_MODES = ("unique", "static", "none")
# What the merchant sees next to each field, so an error names the field the way the page does.
FIELD_LABELS = {
    "step1_hours": "First reminder",
    "step2_hours": "Second reminder",
    "step3_hours": "Last reminder",
    "step1_channel": "First reminder channel",
    "step2_channel": "Second reminder channel",
    "step3_channel": "Last reminder channel",
    "coupon_mode": "Coupon",
    "coupon_percent": "Discount %",
    "coupon_valid_hours": "Valid for (hours)",
    "coupon_static_code": "My own code",
    "sms_sender": "Sender name",
    "mail_from": "From address",
    "sms_from": "SMS allowed from",
    "sms_until": "SMS allowed until",
    "email_from": "E-mail allowed from",
    "email_until": "E-mail allowed until",
    "sms_countries": "Countries SMS may go to",
    "email_opt_in": "E-mail consent",
}


def apply(
    session: Session, shop: Shop, form: Mapping[str, str], box: CredentialBox, now: datetime
) -> None:
    """Validate everything first (nothing is stored on an error), then store."""
    enabled = form.get("cart_recovery_enabled") == "on"
    # Compared in whole minutes, the unit stored: 1 and 1.005 hours would both be 60 minutes.
    delays = [round(_hours(form, f"step{n}_hours") * 60) for n in (1, 2, 3)]
    for n in (2, 3):  # name the first step that does not come after the one before it
        if not delays[n - 2] < delays[n - 1]:
            raise BadInput("each step must come after the one before", field=f"step{n}_hours")
    channels = [
        form.get(f"step{n}_channel", default)
        for n, default in ((1, "auto"), (2, "email"), (3, "both"))
    ]
    for n, channel in enumerate(channels, start=1):
        if channel not in shop_config.STEP_CHANNELS:
            raise BadInput("unknown channel", field=f"step{n}_channel")
    coupon_mode = form.get("coupon_mode", "unique")
    if coupon_mode not in COUPON_MODES:
        raise BadInput("unknown coupon mode", field="coupon_mode")
    percent = _int(form, "coupon_percent", 1, 90)
    valid_hours = _int(form, "coupon_valid_hours", 1, 24 * 30)
    static_code = form.get("coupon_static_code", "").strip()
    if len(static_code) > 64:
        raise BadInput("at most 64 characters", field="coupon_static_code")
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
    quiet: dict[str, list[str]] = {}
    for channel in ("sms", "email"):
        start = _clock_time(form, f"{channel}_from")
        end = _clock_time(form, f"{channel}_until")
        if not start < end:
            raise BadInput("the window must start before it ends", field=f"{channel}_until")
        quiet[channel] = [start.strftime("%H:%M"), end.strftime("%H:%M")]

    changes: dict[str, Any] = {
        "scenarios": {
            "cart_recovery": {
                "enabled": enabled,
                "steps": [
                    {"delay_minutes": m, "channel": c}
                    for m, c in zip(delays, channels, strict=True)
                ],
                "coupon": {
                    "mode": coupon_mode,
                    "discount_percent": percent,
                    "valid_hours": valid_hours,
                    "static_code": static_code,
                },
            }
        },
        "sms": {
            "sender": sender,
            "transliterate": form.get("sms_transliterate") == "on",
            "countries": sms_countries,
        },
        "consent": {"email_opt_in": email_opt_in},
        "email": {"from": mail_from},
        "quiet_hours": quiet,
    }
    shop_config.update(shop, changes)
    token = form.get("smsapi_token", "").strip()
    if token:
        shop.smsapi_token_enc = box.seal(token)
    if form.get("smsapi_token_clear") == "on":
        shop.smsapi_token_enc = None
    # The merchant changed the configuration: let the paused channels try again.
    session.execute(delete(ChannelPause).where(ChannelPause.shop_id == shop.id))


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


def _hours(form: Mapping[str, str], name: str) -> float:
    try:
        value = float(form.get(name, "").replace(",", "."))
    except ValueError:
        raise BadInput("must be a number of hours", field=name) from None
    if not 0.5 <= value <= STEP_LIMIT_HOURS:
        raise BadInput(f"must be between 0.5 and {STEP_LIMIT_HOURS} hours", field=name)
    return value


def _int(form: Mapping[str, str], name: str, low: int, high: int) -> int:
    try:
        value = int(form.get(name, ""))
    except ValueError:
        raise BadInput("must be a whole number", field=name) from None
    if not low <= value <= high:
        raise BadInput(f"must be between {low} and {high}", field=name)
    return value


def _clock_time(form: Mapping[str, str], name: str) -> time:
    """A wall-clock time in the shop's zone: `09:00`, never one with its own UTC offset."""
    try:
        value = time.fromisoformat(form.get(name, ""))
    except ValueError:
        raise BadInput("must be a time like 09:00", field=name) from None
    if value.tzinfo is not None:
        raise BadInput("must be a time like 09:00", field=name)
    return value
