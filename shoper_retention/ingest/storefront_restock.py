"""The storefront's "notify me when it is back" sign-up (README, "The storefront contract:
back in stock"), validated field by field into a `RestockRequested`.

The endpoint parses before storing, so a bad sign-up gets a 400 naming the field at fault and
nothing is kept; the worker parses the same bytes again. Only the address of the chosen channel
is kept, in its canonical form; an SMS number must be one we could ever text (a mobile number
in the shop's SMS countries). `occurred_at` is checked but never orders anything: the queue is
in the order we received the sign-ups, which a shopper's clock cannot jump."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from shoper_retention.contacts.phones import sms_refusal, to_e164
from shoper_retention.errors import BadInput
from shoper_retention.ingest.events import ContactInfo, RestockRequested
from shoper_retention.ingest.storefront_events import (
    CHANNELS,
    contact_email,
    text_field,
    timestamp_field,
)
from shoper_retention.ingest.untrusted_json import parse_object

# The contract's deepest value is contact.email (2 levels).
MAX_DEPTH = 4


def parse_restock(
    body: bytes, received_at: datetime, region: str, sms_countries: Collection[str]
) -> RestockRequested:
    data = parse_object(body, max_depth=MAX_DEPTH)
    if data.get("type", "restock") != "restock":
        raise BadInput("unsupported event type", field="type")
    product_id = text_field(data, "product_id", max_len=64, required=True)
    variant_id = text_field(data, "variant_id", max_len=64)
    channel = data.get("channel")
    if channel not in CHANNELS:
        raise BadInput('must be "email" or "sms"', field="channel")
    contact_raw = data.get("contact")
    if not isinstance(contact_raw, dict):
        raise BadInput("must be an object", field="contact")
    consent_raw = data.get("consent")
    if not isinstance(consent_raw, dict):
        raise BadInput("must be an object", field="consent")
    text_version = text_field(
        consent_raw, "text_version", max_len=64, required=True, path="consent.text_version"
    )
    if data.get("occurred_at") is not None:
        timestamp_field(data["occurred_at"], "occurred_at")
    if channel == "email":
        email = contact_email(contact_raw.get("email"))
        if email is None:
            raise BadInput("is required for e-mail notices", field="contact.email")
        contact = ContactInfo(email=email)
    else:
        contact = ContactInfo(phone=_sms_number(contact_raw.get("phone"), region, sms_countries))
    return RestockRequested(
        product_id=product_id,
        variant_id=variant_id,
        channel=channel,
        contact=contact,
        received_at=received_at,
        text_version=text_version,
    )


def _sms_number(raw: Any, region: str, countries: Collection[str]) -> str:
    if raw in (None, ""):
        raise BadInput("is required for SMS notices", field="contact.phone")
    if not isinstance(raw, str):
        raise BadInput("must be a string", field="contact.phone")
    phone = to_e164(raw, region)
    if phone is None:
        raise BadInput("not a valid phone number", field="contact.phone")
    refusal = sms_refusal(phone, countries)
    if refusal:
        raise BadInput(f"cannot get SMS: {refusal}", field="contact.phone")
    return phone
