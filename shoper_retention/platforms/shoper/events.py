"""Shoper webhook payloads into domain events.

Shoper sends the full order on every order event; numbers and ids arrive as strings, booleans
as "0"/"1", dates as shop-local `YYYY-MM-DD HH:MM:SS`, and webhooks use camelCase
`billingAddress` where REST uses `billing_address` (platforms.md): accept both."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from shoper_retention.contacts.dates import parse_birth_date
from shoper_retention.contacts.emails import canonical_email_or_none
from shoper_retention.contacts.phones import to_e164
from shoper_retention.errors import BadInput
from shoper_retention.ingest.events import (
    CartItem,
    ContactInfo,
    CustomerSeen,
    DomainEvent,
    MarketingConsentReported,
    NewsletterJoined,
    OrderPlaced,
    ProductDeleted,
    StockReported,
)
from shoper_retention.ingest.untrusted_json import parse_object

# Shoper's status types: 1 new, 2 open, 3 closed, 4 unrealised.
STATUS_TYPES = {"1": "new", "2": "open", "3": "closed", "4": "unrealised"}
# An order is about 4 levels deep (products[i].options[j]); well past that is no order.
MAX_DEPTH = 32


def parse_json_object(body: bytes) -> dict[str, Any]:
    """A signed delivery's body. The signature proves Shoper sent it, not that a shopper's
    text inside is sane: free text keeps tabs and line breaks (an order's comment), the rest
    of untrusted_json's rules hold."""
    return parse_object(body, max_depth=MAX_DEPTH, free_text=True)


# The id field of each webhook's object: a customer (`client.*`) is a REST `users` row, keyed
# `user_id` (samples/shoper/GET_users_page1.json).
ID_FIELDS = {"order": "order_id", "client": "user_id", "subscriber": "subscriber_id"}


def object_id(event_name: str, data: dict[str, Any]) -> str:
    """The id of the object a webhook is about (part of the delivery's dedupe key)."""
    prefix = event_name.split(".", 1)[0]  # "order.paid" -> "order"
    field = ID_FIELDS.get(prefix, f"{prefix}_id")
    for key in (field, "id"):
        value = data.get(key)
        if value not in (None, "") and not isinstance(value, (dict, list)):
            return str(value)[:40]
    raise BadInput(f"missing {field}", field=field)


def _order(data: dict[str, Any], timezone: str, region: str, now: datetime) -> OrderPlaced:
    billing = data.get("billingAddress") or data.get("billing_address") or {}
    delivery = data.get("deliveryAddress") or data.get("delivery_address") or {}
    if not isinstance(billing, dict):
        billing = {}
    if not isinstance(delivery, dict):
        delivery = {}
    country = str(billing.get("country_code") or region or "PL").upper()[:2]
    delivery_country = str(delivery.get("country_code") or country).upper()[:2]
    phone = to_e164(str(billing.get("phone") or ""), country) or to_e164(
        str(delivery.get("phone") or ""), delivery_country
    )
    # Signed, but typed by the shopper: an address we could not write to is dropped, the
    # order is kept.
    email = canonical_email_or_none(_text(data.get("email")))
    raw_status = data.get("status")
    status = raw_status if isinstance(raw_status, dict) else {}
    status_type = STATUS_TYPES.get(str(status.get("type", "")), "")
    paid = _flag(data.get("paid")) or _flag(data.get("is_paid")) or _paid_amount(data)
    return OrderPlaced(
        order_id=object_id("order", data),
        placed_at=shop_time(data.get("date"), timezone) or now,
        contact=ContactInfo(
            email=email,
            phone=phone,
            first_name=str(billing.get("firstname") or "")[:100],
            platform_customer_id=str(data.get("user_id") or "")[:64] or None,
        ),
        total=_decimal(data.get("sum")),
        currency=str(data.get("currency_name") or "")[:3].upper(),
        status_id=str(data.get("status_id") or "")[:16],
        status_type=status_type,
        paid=paid,
        items=tuple(_items(data.get("products"))),
    )


def _items(raw: Any) -> list[CartItem]:
    if not isinstance(raw, list):
        return []
    items = []
    for product in raw:
        if not isinstance(product, dict):
            continue
        try:
            quantity = int(Decimal(str(product.get("quantity") or "1")))
        except (InvalidOperation, ValueError, OverflowError):  # "abc", "NaN", "Infinity"
            quantity = 1
        items.append(
            CartItem(
                product_id=str(product.get("product_id") or ""),
                variant_id=str(product.get("stock_id") or ""),
                name=str(product.get("name") or "")[:255],
                price=_decimal(product.get("price")),
                quantity=max(quantity, 1),
            )
        )
    return items


def _paid_amount(data: dict[str, Any]) -> bool:
    paid = _decimal(data.get("paid"))
    total = _decimal(data.get("sum"))
    return total > 0 and paid >= total


def _flag(value: Any) -> bool:
    return str(value).strip().lower() in ("1", "true")


def _decimal(value: Any) -> Decimal:
    try:
        result = Decimal(str(value if value not in (None, "") else "0").replace(",", "."))
    except InvalidOperation:
        return Decimal("0")
    return result if result.is_finite() else Decimal("0")


def shop_time(value: Any, timezone: str) -> datetime | None:
    if not value:
        return None
    try:
        local = datetime.strptime(str(value)[:19], "%Y-%m-%d %H:%M:%S")
        return local.replace(tzinfo=ZoneInfo(timezone)).astimezone(UTC)
    except (ValueError, OverflowError):  # e.g. "0001-01-01 00:30:00" has no UTC equivalent
        return None


def _order_event(event_name: str) -> Callable[..., list[DomainEvent]]:
    def handle(
        data: dict[str, Any], timezone: str, region: str, now: datetime
    ) -> list[DomainEvent]:
        event = _order(data, timezone, region, now)
        if event_name == "order.paid":
            event = replace(event, paid=True)
        if event_name == "order.create":
            event = replace(event, is_creation=True)
        return [event]

    return handle


def _customer(
    data: dict[str, Any], timezone: str, region: str, now: datetime, birthday_field: int = 0
) -> list[DomainEvent]:
    """A customer account (REST `users`): its `newsletter` box ("0"/"1") is the shop's own
    record of e-mail marketing consent. "0" may only mean the customer never ticked it there,
    so it withdraws only a grant that came from this record. `date_add` is when the customer
    joined; `birthday_field` names the shop's own field holding a birth date (0: none)."""
    email = canonical_email_or_none(_text(data.get("email")))
    if email is None:
        return []
    contact = ContactInfo(
        email=email,
        first_name=_text(data.get("firstname"))[:100],
        platform_customer_id=_text(data.get("user_id"))[:64] or None,
    )
    granted = _flag(data.get("newsletter"))
    return [
        CustomerSeen(
            contact,
            joined_at=shop_time(data.get("date_add"), timezone),
            birthday=birthday_of(data.get("additional_fields"), birthday_field, now, timezone),
            source="shoper customer",
        ),
        MarketingConsentReported(
            contact, "email", granted, "shoper customer", withdraws_only_own_grant=True
        ),
    ]


def birthday_of(fields: Any, field_id: int, now: datetime, timezone: str) -> tuple[int, int] | None:
    """The birth date in the customer's `additional_fields` entry `field_id` (entries carry
    `field_id` and `value`, samples/shoper/GET_users_page1.json); None when unmapped, absent
    or not a date we read (contacts/dates.py)."""
    if not field_id or not isinstance(fields, list):
        return None
    for entry in fields:
        if isinstance(entry, dict) and str(entry.get("field_id")) == str(field_id):
            value = entry.get("value")
            if isinstance(value, str):
                return parse_birth_date(value, now.astimezone(ZoneInfo(timezone)).date())
    return None


def _subscriber_event(event_name: str) -> Callable[..., list[DomainEvent]]:
    """The shop's newsletter list. Fields `email` and `active` ("0"/"1") as in the REST
    `subscribers` resource *(unverified: no recorded sample; a missing `active` counts as
    subscribed, since Shoper lists only sign-ups there)*. A deletion or a deactivation is
    the subscriber's sign-off at the shop: a withdrawal."""

    def handle(
        data: dict[str, Any], timezone: str, region: str, now: datetime
    ) -> list[DomainEvent]:
        email = canonical_email_or_none(_text(data.get("email")))
        if email is None:
            return []
        active = data.get("active", "1")
        granted = event_name != "subscriber.delete" and _flag(active)
        events: list[DomainEvent] = [
            MarketingConsentReported(
                ContactInfo(email=email), "email", granted, "shoper newsletter"
            )
        ]
        if event_name == "subscriber.create" and granted:
            # `date_add` as on every Shoper resource *(unverified for subscribers)*; else the
            # webhook's arrival.
            joined_at = shop_time(data.get("date_add"), timezone) or now
            events.append(
                NewsletterJoined(ContactInfo(email=email), joined_at, "shoper newsletter")
            )
        return events

    return handle


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _product(data: dict[str, Any], timezone: str, region: str, now: datetime) -> list[DomainEvent]:
    """A product created or edited: its default stock's units (`stock.stock`, as in the REST
    `products/<id>` answer, samples/shoper/GET_products_36.json). *(unverified: no recorded
    webhook sample; platforms.md gives order webhooks the full REST record, and we assume the
    same here.)* A body without that stock reports nothing; variants' stocks are not in it
    either: the stock re-check (commerce/restock_check.py) reads both from REST."""
    stock = data.get("stock")
    if not isinstance(stock, dict) or stock.get("stock") in (None, ""):
        return []
    try:
        quantity = Decimal(str(stock["stock"]).replace(",", "."))
    except InvalidOperation:
        return []
    if not quantity.is_finite():
        return []
    return [StockReported(object_id("product", data), max(quantity, Decimal("0")), now)]


def _product_deleted(
    data: dict[str, Any], timezone: str, region: str, now: datetime
) -> list[DomainEvent]:
    return [ProductDeleted(object_id("product", data), now)]


# Every webhook event we handle; a test checks this against manifest.json both ways.
HANDLERS: dict[str, Callable[..., list[DomainEvent]]] = {
    "order.create": _order_event("order.create"),
    "order.edit": _order_event("order.edit"),
    "order.paid": _order_event("order.paid"),
    "order.status": _order_event("order.status"),
    "client.create": _customer,
    "client.edit": _customer,
    "subscriber.create": _subscriber_event("subscriber.create"),
    "subscriber.edit": _subscriber_event("subscriber.edit"),
    "subscriber.delete": _subscriber_event("subscriber.delete"),
    "product.create": _product,
    "product.edit": _product,
    "product.delete": _product_deleted,
}


def to_events(
    event_name: str,
    body: bytes,
    *,
    timezone: str,
    region: str,
    now: datetime,
    birthday_field: int = 0,
) -> list[DomainEvent]:
    """`birthday_field`: the customer field the merchant mapped to a birth date (0: none)."""
    handler = HANDLERS.get(event_name)
    if handler is None:
        raise BadInput(f"unhandled event {event_name!r}", field="X-Webhook-Name")
    if handler is _customer:
        return _customer(parse_json_object(body), timezone, region, now, birthday_field)
    return handler(parse_json_object(body), timezone, region, now)
