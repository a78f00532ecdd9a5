"""The storefront's JSON contract (cart snapshots, contact and consent), validated field by field.

The endpoint validates before storing, so a bad snapshot gets a 400 naming the field at fault;
the worker parses the same bytes again into a `CartChanged`. The contract is in the README.
Anyone can post here (product.md, "The storefront is not trusted"): no string may carry a
control character or a lone surrogate, an e-mail address must be one plain address, and a
first name that does not look like a name is dropped rather than greeted."""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit

from shoper_retention.contacts.emails import canonical_email
from shoper_retention.contacts.phones import to_e164
from shoper_retention.errors import BadInput
from shoper_retention.ingest.events import CartChanged, CartItem, ConsentChange, ContactInfo
from shoper_retention.ingest.untrusted_json import parse_object

MAX_ITEMS = 100
CHANNELS = ("email", "sms")
# The contract's deepest value is items[i].field (3 levels); the rest leaves room for
# additions to the contract without letting a body recurse.
MAX_DEPTH = 6
MAX_NAME_LENGTH = 40
# Inside a word: Anna-Maria, O'Neil, O’Neil (the apostrophe phone keyboards type).
NAME_JOINERS = re.compile("[-'’]")


def parse_snapshot(body: bytes, received_at: datetime, region: str = "PL") -> CartChanged:
    data = parse_object(body, max_depth=MAX_DEPTH)
    kind = data.get("type", "cart")
    if kind != "cart":
        raise BadInput("unsupported event type", field="type")
    cart_id = text_field(data, "cart_id", max_len=128, required=True)
    occurred_at = timestamp_field(data.get("occurred_at"), "occurred_at")
    currency = text_field(data, "currency", max_len=3, required=True).upper()
    if len(currency) != 3 or not currency.isalpha():
        raise BadInput("must be a 3-letter ISO 4217 code", field="currency")
    items_raw = data.get("items")
    if not isinstance(items_raw, list):
        raise BadInput("must be a list", field="items")
    if len(items_raw) > MAX_ITEMS:
        raise BadInput(f"at most {MAX_ITEMS} items", field="items")
    items = tuple(_item(raw, f"items[{i}]") for i, raw in enumerate(items_raw))
    contact_raw = data.get("contact") or {}
    if not isinstance(contact_raw, dict):
        raise BadInput("must be an object", field="contact")
    email = contact_email(contact_raw.get("email"))
    phone_raw = contact_raw.get("phone")
    if phone_raw not in (None, "") and not isinstance(phone_raw, str):
        raise BadInput("must be a string", field="contact.phone")
    phone = to_e164(phone_raw, region) if phone_raw else None
    if phone_raw and phone is None:
        raise BadInput("not a valid phone number", field="contact.phone")
    first_name = _first_name(contact_raw.get("first_name"))
    consent_raw = data.get("consent") or {}
    if not isinstance(consent_raw, dict):
        raise BadInput("must be an object", field="consent")
    text_version = text_field(data, "consent_text_version", max_len=64)
    consents = []
    for channel in CHANNELS:
        value = consent_raw.get(channel)
        if value is None:
            continue
        if not isinstance(value, bool):
            raise BadInput("must be true or false", field=f"consent.{channel}")
        consents.append(ConsentChange(channel, value, "storefront", text_version))
    restore_url = _url(data.get("restore_url"), "restore_url")
    order_id = text_field(data, "order_id", max_len=64) or None
    return CartChanged(
        cart_id=cart_id,
        occurred_at=occurred_at,
        received_at=received_at,
        currency=currency,
        items=items,
        contact=ContactInfo(email=email, phone=phone, first_name=first_name),
        consents=tuple(consents),
        restore_url=restore_url,
        order_id=order_id,
    )


def _item(raw: Any, path: str) -> CartItem:
    if not isinstance(raw, dict):
        raise BadInput("must be an object", field=path)
    product_id = text_field(raw, "product_id", max_len=64, required=True, path=f"{path}.product_id")
    name = text_field(raw, "name", max_len=255, required=True, path=f"{path}.name")
    price_raw = raw.get("price")
    if isinstance(price_raw, bool) or not isinstance(price_raw, (str, int, float)):
        raise BadInput("must be a number or a decimal string", field=f"{path}.price")
    try:
        price = Decimal(str(price_raw))
    except InvalidOperation as exc:
        raise BadInput("must be a number or a decimal string", field=f"{path}.price") from exc
    if not price.is_finite() or price < 0 or price > Decimal("10000000"):
        raise BadInput("must be between 0 and 10000000", field=f"{path}.price")
    quantity = raw.get("quantity", 1)
    if isinstance(quantity, bool) or not isinstance(quantity, int) or not 1 <= quantity <= 10000:
        raise BadInput("must be a whole number from 1 to 10000", field=f"{path}.quantity")
    return CartItem(
        product_id=product_id,
        variant_id=text_field(raw, "variant_id", max_len=64, path=f"{path}.variant_id"),
        name=name,
        price=price.quantize(Decimal("0.01")),
        quantity=quantity,
        image_url=_url(raw.get("image_url"), f"{path}.image_url"),
        product_url=_url(raw.get("product_url"), f"{path}.product_url"),
    )


def text_field(
    data: dict[str, Any], key: str, *, max_len: int, required: bool = False, path: str | None = None
) -> str:
    field = path or key
    value = data.get(key)
    if value is None or value == "":
        if required:
            raise BadInput("is required", field=field)
        return ""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)  # ids are often numbers in shop scripts
    if not isinstance(value, str):
        raise BadInput("must be a string", field=field)
    value = value.strip()
    if len(value) > max_len:
        raise BadInput(f"at most {max_len} characters", field=field)
    if required and not value:
        raise BadInput("is required", field=field)
    return value


def contact_email(value: Any) -> str | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise BadInput("must be an e-mail address", field="contact.email")
    try:
        return canonical_email(value)
    except ValueError as exc:
        raise BadInput(f"must be one plain e-mail address: {exc}", field="contact.email") from None


def _first_name(value: Any) -> str:
    """The name as typed if it looks like one (letters of any script; one to three words
    split by single spaces; a hyphen or an apostrophe inside a word), else "": the greeting
    turns neutral, and the snapshot is kept. A name is shown in messages, so a link, a price
    or a sentence must never get through as one."""
    if not isinstance(value, str):
        return ""
    name = unicodedata.normalize("NFC", value.strip())
    if len(name) > MAX_NAME_LENGTH:
        return ""
    words = name.split(" ")
    if not 1 <= len(words) <= 3:
        return ""
    for word in words:
        for part in NAME_JOINERS.split(word):
            # A letter first, then letters or combining marks (a decomposed accent).
            if not part or not unicodedata.category(part[0]).startswith("L"):
                return ""
            if not all(unicodedata.category(ch)[0] in "LM" for ch in part):
                return ""
    return name


def _url(value: Any, field: str) -> str:
    if value in (None, ""):
        return ""
    if not isinstance(value, str) or len(value) > 2048:
        raise BadInput("must be an http(s) URL", field=field)
    try:
        parts = urlsplit(value)
    except ValueError:  # "https://[x": an unclosed IPv6 bracket
        raise BadInput("must be an http(s) URL", field=field) from None
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise BadInput("must be an http(s) URL", field=field)
    return value


def timestamp_field(value: Any, field: str) -> datetime:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            # Milliseconds (JavaScript's Date.now()) or seconds.
            seconds = value / 1000 if value > 10**11 else value
            return datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError) as exc:
            raise BadInput("not a valid time", field=field) from exc
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError as exc:
            raise BadInput("must be ISO 8601 with a time zone", field=field) from exc
        if parsed.tzinfo is None:
            raise BadInput("must be ISO 8601 with a time zone", field=field)
        try:
            return parsed.astimezone(UTC)
        except OverflowError as exc:  # 0001-01-01T00:00+14:00 has no UTC equivalent
            raise BadInput("not a valid time", field=field) from exc
    raise BadInput("is required (ISO 8601 or unix time)", field=field)
