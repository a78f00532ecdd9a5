"""Ecwid webhooks into domain events, every fact read back over REST.

An Ecwid delivery signs only "<eventCreated>.<eventId>"; its `storeId`, `entityId` and `data`
ride along unsigned (platforms.md, Webhooks), and Ecwid itself says not to act on a webhook
but on the entity it names, fetched from the API (github.com/Ecwid/ecwid-api-docs,
includes/_webhooks.md, "Processing webhooks"). So from a body we take the event's ids and
nothing else: the cart, order, product or customer is whatever the store's REST API says now.
A delivery retried a day later is therefore read as the entity is today, which is what we
want from every event here.

Ids: abandoned-cart events carry `data.cartId` (a UUID) and `data.orderId`, the id the order
keeps once placed ("app receives `unfinished_order.created` webhook about order A, waits for
`order.created` webhook about order A", github.com/Ecwid/ecwid-api-docs, includes/_webhooks.md);
order events `data.orderId` ("XJ12H"), with the internal number in `entityId` (an older store's
order number, usable as the id when `data` has none); product and customer events `entityId`
(docs.ecwid.com/webhook-automations/learn-ecwid-webhooks/event-data-in-webhooks).

Consent: only the store's customer record (the account) is the store's word on an address.
An order's or cart's e-mail is typed by whoever checks out, so an order says nothing about
consent and a cart's marketing box is a claim for that cart only (contacts/consent.py).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import quote

from shoper_retention.contacts.emails import canonical_email_or_none
from shoper_retention.contacts.phones import to_e164
from shoper_retention.errors import BadInput
from shoper_retention.ingest.events import (
    CartChanged,
    CartItem,
    ConsentChange,
    ContactInfo,
    CustomerSeen,
    DomainEvent,
    MarketingConsentReported,
    OrderPlaced,
    ProductDeleted,
    ShopUninstalled,
    StockReported,
)
from shoper_retention.models import Shop
from shoper_retention.platforms.ecwid.api import EcwidClient, EcwidNotFound
from shoper_retention.platforms.ecwid.catalogue import http_url
from shoper_retention.platforms.ecwid.stock import product_units, variant_units

SOURCE = "ecwid"
CHECKOUT_CLAIM = "ecwid checkout"  # the source of a cart's marketing box (ConsentChange)
# Cart UUIDs, order ids with the store's prefix and suffix ("MYSTORE-X8UYE"), numbers.
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_NUMBER = re.compile(r"[0-9]{1,19}")
_COUNTRY = re.compile(r"[A-Za-z]{2}")
_CURRENCY = re.compile(r"[A-Za-z]{3}")
_LANGUAGE = re.compile(r"[A-Za-z]{2}(?:[-_][A-Za-z]{2})?")
# Ecwid's date strings: "2014-06-06 18:57:19 +0000" (includes/_orders.md, createDate).
_DATE_FORMAT = "%Y-%m-%d %H:%M:%S %z"
# Times outside these bounds are no order's or cart's: a value no database column or
# arithmetic should meet.
_EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
_LATEST = datetime(2200, 1, 1, tzinfo=UTC)
MAX_QUANTITY = 1_000_000
MAX_MONEY = Decimal("1e10")  # the money columns hold up to 10 digits before the point
MAX_RESTORE_URL = 2000  # a longer link may be cut on its way; the shop's own page goes instead
_URI_SAFE = "-_.!~*'()"  # what encodeURIComponent leaves as it is


def to_events(
    client: EcwidClient,
    shop: Shop,
    event_type: str,
    body: dict[str, Any],
    received_at: datetime,
) -> Sequence[DomainEvent]:
    """The domain events of one verified delivery. BadInput for a body we cannot act on
    (unknown event, missing or odd ids, another store's id, an unreadable time in the API's
    answer); `EcwidUnavailable` and `EcwidAuthError` come through for the caller to wait on
    (platform.py)."""
    if not isinstance(body, dict):
        raise BadInput("body is not a JSON object")
    handler = HANDLERS.get(event_type) if isinstance(event_type, str) else None
    if handler is None:
        raise BadInput(f"unhandled event {str(event_type)[:64]!r}", field="eventType")
    store = body.get("storeId")
    if store is not None and _id_text(store) != shop.platform_shop_id:
        raise BadInput("storeId names another store", field="storeId")
    return handler(client, shop, event_type, body, received_at)


# --- carts ---------------------------------------------------------------------------------


def _cart_changed(
    client: EcwidClient, shop: Shop, event_type: str, body: dict[str, Any], received_at: datetime
) -> list[DomainEvent]:
    """An abandoned cart as the API shows it. One the merchant hid (Ecwid's "delete" in the
    admin sets `hidden`, includes/_webhooks.md, "When 'unfinished_order.deleted' event type is
    sent?") or that the API no longer knows is a stopped cart: emptied, so nothing more is
    sent about it."""
    cart_id, order_ref = _cart_id(body), _order_ref(body)
    try:
        cart = client.cart(cart_id)
    except EcwidNotFound:
        return [_stopped(shop, cart_id, order_ref, received_at, received_at)]
    if cart.get("hidden") is True:
        return [_stopped(shop, cart_id, order_ref, _later(cart, received_at), received_at)]
    recovered = _recovered_order(client, cart)
    return cart_events(cart, cart_id, shop, received_at, order_ref=order_ref, order_id=recovered)


def _cart_deleted(
    client: EcwidClient, shop: Shop, event_type: str, body: dict[str, Any], received_at: datetime
) -> list[DomainEvent]:
    """A deletion counts only when the API confirms it (gone, or hidden): the body is not
    signed, and a live cart must not be silenced by a forged one."""
    cart_id, order_ref = _cart_id(body), _order_ref(body)
    try:
        cart = client.cart(cart_id)
    except EcwidNotFound:
        return [_stopped(shop, cart_id, order_ref, received_at, received_at)]
    if cart.get("hidden") is True:
        return [_stopped(shop, cart_id, order_ref, _later(cart, received_at), received_at)]
    return []


def cart_events(
    cart: dict[str, Any],
    cart_id: str,
    shop: Shop,
    received_at: datetime,
    *,
    order_ref: str | None = None,
    order_id: str | None = None,
) -> list[DomainEvent]:
    """A cart of `GET /carts/{cartId}` (includes/_cart.md, "Get abandoned cart"). `order_ref`:
    the order it becomes once paid (the delivery's `data.orderId`); `order_id`: the order it
    was recovered as, already placed.

    Its `acceptMarketing` is the checkout's box, ticked or not by whoever typed the e-mail:
    a claim for this cart's reminders, confirmed by the address's owner under confirmed
    opt-in like a storefront tick, never the store's word on the address."""
    contact = _contact(cart, shop)
    occurred_at = (
        _time(cart, "updateTimestamp", "updateDate")
        or _time(cart, "createTimestamp", "createDate")
        or received_at
    )
    ticked = cart.get("acceptMarketing")
    claims = (
        (ConsentChange("email", ticked, CHECKOUT_CLAIM),)
        if isinstance(ticked, bool) and contact.email
        else ()
    )
    event = CartChanged(
        cart_id=same_cart_key(cart_id),
        occurred_at=occurred_at,
        received_at=received_at,
        currency=_currency(cart, shop),
        items=tuple(_items(cart.get("items"))),
        contact=contact,
        consents=claims,
        restore_url=restore_url(shop, cart, contact.email),
        order_id=order_id,
        order_ref=order_ref,
    )
    return [event]


def _stopped(
    shop: Shop, cart_id: str, order_ref: str | None, occurred_at: datetime, received_at: datetime
) -> CartChanged:
    return CartChanged(
        cart_id=same_cart_key(cart_id),
        occurred_at=occurred_at,
        received_at=received_at,
        currency=shop.currency or "",
        items=(),
        contact=ContactInfo(),
        order_ref=order_ref,
    )


def _recovered_order(client: EcwidClient, cart: dict[str, Any]) -> str | None:
    """The id of the order the cart was recovered as. The cart gives `recoveredOrderId`, an
    order *number* ("Order number. Is present if the abandoned cart was successfully
    recovered", includes/_cart.md), while orders are stored under their `id` ("XJ12H"):
    `GET /orders/{number}` answers with it (older stores' numbers are their ids). None when
    the cart was not recovered or Ecwid no longer knows that order."""
    number = _number(cart.get("recoveredOrderId"))
    if not number:
        return None
    try:
        order = client.order(number)
    except EcwidNotFound:
        return None
    return (_id_text(order.get("id")) or number)[:64]


def _later(cart: dict[str, Any], received_at: datetime) -> datetime:
    """When a hidden cart stopped. Hiding it may leave `updateTimestamp` as it was, and a stop
    dated like the last snapshot would be taken for a repeat of it: never before we heard."""
    updated = _time(cart, "updateTimestamp", "updateDate")
    return max(updated, received_at) if updated is not None else received_at


def restore_url(shop: Shop, cart: dict[str, Any], email: str | None) -> str:
    """A link that fills a new cart with this one's products and goes to checkout, or ''.

    The REST cart has no recovery URL (its fields, includes/_cart.md, list
    `recoveryEmailSentTimestamp` and `recoveredOrderId` but no link; Ecwid's own reminder
    builds its link inside Ecwid). Ecwid documents pre-filled cart links instead:
    `{store page}#!/~/cart/create=<encodeURIComponent(JSON {gotoCheckout, products: [{id,
    quantity, options}], profile: {email}})>`
    (docs.ecwid.com/storefronts/manage-cart-and-checkout/create-pre-filled-shopping-carts).
    *(unverified on a live store: that page asks for Ecwid's cart-app script on the site; if
    a store ignores the link, the shopper still lands on the store.)* A `recoveryUrl`, which
    is not among the documented fields, is taken as it is should an answer carry one."""
    given = http_url(cart.get("recoveryUrl"))
    if given and len(given) <= MAX_RESTORE_URL:
        return given
    base = shop.shop_url.rstrip("/")
    if not http_url(base):
        return ""
    products: list[dict[str, Any]] = []
    items = cart.get("items")
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict):
            continue
        product_id = _number(item.get("productId"))
        if not product_id:
            continue
        line: dict[str, Any] = {"id": int(product_id), "quantity": _quantity(item.get("quantity"))}
        options = _chosen_options(item.get("selectedOptions"))
        if options:
            line["options"] = options
        products.append(line)
    if not products:
        return ""
    payload: dict[str, Any] = {"gotoCheckout": True, "products": products}
    if email:
        payload["profile"] = {"email": email}
    text = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
    link = f"{base}/#!/~/cart/create={quote(text, safe=_URI_SAFE)}"
    return link if len(link) <= MAX_RESTORE_URL else ""


def _chosen_options(raw: Any) -> dict[str, str]:
    """{option name: chosen value} of an item's `selectedOptions`; uploaded files cannot be
    carried in a link and are left out."""
    if not isinstance(raw, list):
        return {}
    chosen: dict[str, str] = {}
    for option in raw:
        if not isinstance(option, dict) or option.get("type") == "FILES":
            continue
        name, value = option.get("name"), option.get("value")
        if isinstance(name, str) and name and isinstance(value, str):
            chosen[name] = value
    return chosen


# --- orders --------------------------------------------------------------------------------


def _order_changed(
    client: EcwidClient, shop: Shop, event_type: str, body: dict[str, Any], received_at: datetime
) -> list[DomainEvent]:
    order_id = _order_id(body)
    try:
        order = client.order(order_id)
    except EcwidNotFound:
        return []  # deleted since: nothing to tell
    return order_events(
        order, shop, received_at, is_creation=event_type == "order.created", known_id=order_id
    )


def order_events(
    order: dict[str, Any],
    shop: Shop,
    received_at: datetime,
    *,
    is_creation: bool = False,
    known_id: str = "",
) -> list[DomainEvent]:
    """An order of `GET /orders/{orderId}` or of the order search (same shape,
    api-docs.ecwid.com/reference/get-order). An unfinished order (`INCOMPLETE`) is an
    abandoned cart, not a purchase: nothing. `known_id` is the id the order was asked for."""
    payment = _text(order.get("paymentStatus")).upper()
    if payment == "INCOMPLETE":
        return []
    order_id = _id_text(order.get("id")) or known_id or _id_text(order.get("orderNumber"))
    if not order_id:
        return []
    fulfilment = _text(order.get("fulfillmentStatus")).upper()
    contact = _contact(order, shop)
    event = OrderPlaced(
        order_id=order_id[:64],
        placed_at=_time(order, "createTimestamp", "createDate") or received_at,
        contact=contact,
        total=_money(order.get("total")),
        currency=_currency(order, shop),
        status_id=payment[:16],
        status_type=_status_type(payment, fulfilment),
        paid=payment == "PAID",
        items=tuple(_items(order.get("items"))),
        is_creation=is_creation,
    )
    # No consent: whoever checks out types the order's e-mail and ticks its box, paid or not.
    return [event]


def _status_type(payment: str, fulfilment: str) -> str:
    """Payment AWAITING_PAYMENT, PAID, CANCELLED, REFUNDED, PARTIALLY_REFUNDED; fulfilment
    AWAITING_PROCESSING, PROCESSING, SHIPPED, DELIVERED, WILL_NOT_DELIVER, RETURNED,
    READY_FOR_PICKUP (includes/_orders.md)."""
    if payment in ("CANCELLED", "REFUNDED") or fulfilment in ("WILL_NOT_DELIVER", "RETURNED"):
        return "unrealised"
    if fulfilment == "DELIVERED":
        return "closed"
    return "open"


# --- products ------------------------------------------------------------------------------


def _product_changed(
    client: EcwidClient, shop: Shop, event_type: str, body: dict[str, Any], received_at: datetime
) -> list[DomainEvent]:
    """`product.updated` fires on any change, stock included, and carries no stock
    (includes/_webhooks.md): the product's and each variation's units as the API shows them."""
    product_id = _entity_id(body)
    try:
        product = client.product(product_id)
    except EcwidNotFound:
        return [ProductDeleted(product_id, received_at)]
    return stock_reports(product, product_id, received_at)


def _product_deleted(
    client: EcwidClient, shop: Shop, event_type: str, body: dict[str, Any], received_at: datetime
) -> list[DomainEvent]:
    product_id = _entity_id(body)
    try:
        client.product(product_id)
    except EcwidNotFound:
        return [ProductDeleted(product_id, received_at)]
    return []  # the API still has it: not deleted, whatever the body says


def stock_reports(product: dict[str, Any], product_id: str, at: datetime) -> list[DomainEvent]:
    """The product's units, then one report per variation (`combinations[].id`). A disabled
    product is out of the storefront, so none of it can be bought: 0 throughout."""
    enabled = product.get("enabled") is not False
    base = product_units(product)
    reports: list[DomainEvent] = [StockReported(product_id, base if enabled else Decimal(0), at)]
    combinations = product.get("combinations")
    for variation in combinations if isinstance(combinations, list) else []:
        if not isinstance(variation, dict):
            continue
        variant_id = _number(variation.get("id"))
        if not variant_id:
            continue
        units = variant_units(variation, base) if enabled else Decimal(0)
        reports.append(StockReported(product_id, units, at, variant_id=variant_id))
    return reports


# --- customers -----------------------------------------------------------------------------


def _customer_changed(
    client: EcwidClient, shop: Shop, event_type: str, body: dict[str, Any], received_at: datetime
) -> list[DomainEvent]:
    customer_id = _entity_id(body)
    try:
        customer = client.customer(customer_id)
    except EcwidNotFound:
        return []  # deleted since
    seen = customer_seen(customer, shop, SOURCE)
    if seen is None:
        return []
    return [seen, *_account_consent(customer, seen.contact)]


def customer_seen(customer: dict[str, Any], shop: Shop, source: str) -> CustomerSeen | None:
    """A `GET /customers/{id}` record (includes/_customers.md): `registered` is when the
    account was opened ("2014-09-01 23:25:27 +0400"). Ecwid keeps no birth date."""
    contact = _contact(customer, shop)
    if contact.email is None:
        return None  # an account we could not write to
    contact = replace(
        contact,
        first_name=contact.first_name or _first_word(customer.get("name")),
        platform_customer_id=contact.platform_customer_id
        or (_id_text(customer.get("id"))[:64] or None),
    )
    return CustomerSeen(contact, joined_at=_time(customer, "registered"), source=source)


def _customer_deleted(
    client: EcwidClient, shop: Shop, event_type: str, body: dict[str, Any], received_at: datetime
) -> list[DomainEvent]:
    """Nothing: an account closed at the shop says nothing about orders, consents or the
    loyalty club; erasure requests have their own path."""
    _entity_id(body)
    return []


def _uninstalled(
    client: EcwidClient, shop: Shop, event_type: str, body: dict[str, Any], received_at: datetime
) -> list[DomainEvent]:
    return [ShopUninstalled(at=received_at)]


Handler = Callable[[EcwidClient, Shop, str, dict[str, Any], datetime], list[DomainEvent]]

# Every webhook event we handle.
HANDLERS: dict[str, Handler] = {
    "unfinished_order.created": _cart_changed,
    "unfinished_order.updated": _cart_changed,
    "unfinished_order.deleted": _cart_deleted,
    "order.created": _order_changed,
    "order.updated": _order_changed,
    "product.created": _product_changed,
    "product.updated": _product_changed,
    "product.deleted": _product_deleted,
    "customer.created": _customer_changed,
    "customer.updated": _customer_changed,
    "customer.deleted": _customer_deleted,
    "application.uninstalled": _uninstalled,
}


# --- shared fields -------------------------------------------------------------------------


def _account_consent(customer: dict[str, Any], contact: ContactInfo) -> list[DomainEvent]:
    """`acceptMarketing` of a customer account: the store's record of its "send me offers"
    box. Ecwid reads null as "may market" (includes/_customers.md, "How to find customer
    emails I can use for promotions?"); Polish law wants an explicit yes, so null says nothing
    either way. A false may only mean the box was left unticked at one checkout: it withdraws
    only a yes that came from the store itself, never one the owner confirmed with us.
    The event names the address and the account only: the customer's phone and name come
    with CustomerSeen, not with a consent."""
    granted = customer.get("acceptMarketing")
    if not isinstance(granted, bool) or contact.email is None:
        return []
    who = ContactInfo(email=contact.email, platform_customer_id=contact.platform_customer_id)
    return [MarketingConsentReported(who, "email", granted, SOURCE, withdraws_only_own_grant=True)]


def _contact(record: dict[str, Any], shop: Shop) -> ContactInfo:
    """Who a cart, order or customer record names: `email`, phones of `billingPerson` then
    `shippingPerson` read in their own `countryCode`, the first name, `customerId`."""
    billing = _dict(record.get("billingPerson"))
    shipping = _dict(record.get("shippingPerson"))
    customer_id = _id_text(record.get("customerId"))
    return ContactInfo(
        email=canonical_email_or_none(_text(record.get("email"))),
        phone=_phone(billing, shop) or _phone(shipping, shop),
        first_name=(_first_name(billing) or _first_name(shipping))[:100],
        language=_language(record.get("lang")),
        platform_customer_id=customer_id[:64] if customer_id not in ("", "0") else None,
    )


def _phone(person: dict[str, Any], shop: Shop) -> str | None:
    country = _text(person.get("countryCode"))
    region = country.upper() if _COUNTRY.fullmatch(country) else (shop.country or "PL")
    return to_e164(_text(person.get("phone")), region)


def _first_name(person: dict[str, Any]) -> str:
    first = " ".join(_text(person.get("firstName")).split())
    return first or _first_word(person.get("name"))


def _first_word(value: Any) -> str:
    words = _text(value).split()
    return words[0][:100] if words else ""


def _language(value: Any) -> str:
    text = _text(value)
    return text[:2].lower() if _LANGUAGE.fullmatch(text) else ""


def _currency(record: dict[str, Any], shop: Shop) -> str:
    """Carts and orders name no currency in the docs (the store's one applies,
    `formatsAndUnits.currency` of the profile); taken when an answer does give one."""
    value = _text(record.get("currency"))
    return value.upper() if _CURRENCY.fullmatch(value) else (shop.currency or "")


def _items(raw: Any) -> list[CartItem]:
    """Order and cart items: `productId, name, price, quantity, imageUrl` (includes/_cart.md,
    OrderItem); `combinationId` names the variation when the answer gives it. Lines with no
    product id (a custom item) are left out: no catalogue can tell about them."""
    if not isinstance(raw, list):
        return []
    items = []
    for item in raw:
        if not isinstance(item, dict):
            continue
        product_id = _number(item.get("productId"))
        if not product_id:
            continue
        items.append(
            CartItem(
                product_id=product_id,
                name=" ".join(_text(item.get("name")).split())[:255],
                price=_money(item.get("price")),
                quantity=_quantity(item.get("quantity")),
                image_url=http_url(item.get("imageUrl")),
                product_url=http_url(item.get("url")),
                variant_id=_number(item.get("combinationId")),
            )
        )
    return items


def same_cart_key(cart_id: str) -> str:
    """The key a cart is stored under: the storefront widget sends Ecwid's JS `cartId` for the
    same cart (widget.js, lower-cased there too), and one cart must never be two reminder
    series because two APIs spell a UUID in different cases."""
    return cart_id.lower()


def _cart_id(body: dict[str, Any]) -> str:
    data = body.get("data")
    cart_id = data.get("cartId") if isinstance(data, dict) else None
    if not isinstance(cart_id, str) or not _ID.fullmatch(cart_id):
        raise BadInput("missing or malformed data.cartId", field="data.cartId")
    return cart_id


def _order_ref(body: dict[str, Any]) -> str | None:
    """An unfinished order's `data.orderId`, the id its order will have; None when the body
    has none we can use (the cart alone is still worth reading)."""
    data = body.get("data")
    order_id = data.get("orderId") if isinstance(data, dict) else None
    return order_id if isinstance(order_id, str) and _ID.fullmatch(order_id) else None


def _order_id(body: dict[str, Any]) -> str:
    data = body.get("data")
    order_id = data.get("orderId") if isinstance(data, dict) else None
    if isinstance(order_id, str) and _ID.fullmatch(order_id):
        return order_id
    if order_id is None:
        # Older stores: the order number in `entityId` is the id (includes/_webhooks.md).
        number = _number(body.get("entityId"))
        if number and number != "0":
            return number
    raise BadInput("missing or malformed data.orderId", field="data.orderId")


def _entity_id(body: dict[str, Any]) -> str:
    entity_id = _number(body.get("entityId"))
    if not entity_id or entity_id == "0":
        raise BadInput("missing or malformed entityId", field="entityId")
    return entity_id


def _number(value: Any) -> str:
    """A positive integer id as text ('' if it is not one)."""
    if isinstance(value, bool):
        return ""
    if isinstance(value, int):
        return str(value) if 0 < value < 10**19 else ""
    if isinstance(value, str) and _NUMBER.fullmatch(value.strip()):
        return value.strip()
    return ""


def _id_text(value: Any) -> str:
    """An id that may be a number or a string, as text ('' for anything else)."""
    if isinstance(value, bool):
        return ""
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str) and _ID.fullmatch(value.strip()):
        return value.strip()
    return ""


def _time(record: dict[str, Any], *keys: str) -> datetime | None:
    """The first of `keys` present: UNIX seconds (`createTimestamp`) or Ecwid's
    "yyyy-MM-dd HH:mm:ss Z" string (`createDate`). Present but unreadable is BadInput: an
    answer we misread must not date an order or order a cart's snapshots."""
    for key in keys:
        value = record.get(key)
        if value is None or value == "":
            continue
        return _parse_time(value, key)
    return None


def _parse_time(value: Any, key: str) -> datetime:
    try:
        if isinstance(value, bool):
            raise ValueError("a boolean")
        if isinstance(value, int | float):
            when = datetime.fromtimestamp(value, UTC)
        elif isinstance(value, str) and _NUMBER.fullmatch(value.strip()):
            when = datetime.fromtimestamp(int(value.strip()), UTC)
        elif isinstance(value, str):
            when = datetime.strptime(value.strip(), _DATE_FORMAT).astimezone(UTC)
        else:
            raise ValueError("not a time")
    except (ValueError, OverflowError, OSError):  # NaN, 1e300, year 0, "yesterday"
        raise BadInput(f"unreadable {key}", field=key) from None
    if not _EARLIEST <= when < _LATEST:
        raise BadInput(f"{key} out of range", field=key)
    return when


def _money(value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return Decimal(0)
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        return Decimal(0)
    if not number.is_finite() or number < 0 or number >= MAX_MONEY:
        return Decimal(0)
    return number


def _quantity(value: Any) -> int:
    if isinstance(value, bool):
        return 1
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str) and _NUMBER.fullmatch(value.strip()):
        value = int(value.strip())
    if isinstance(value, int) and value >= 1:
        return min(value, MAX_QUANTITY)
    return 1


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
