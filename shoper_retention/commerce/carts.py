"""Carts into state: the snapshot state machine (open -> abandoned -> ordered / recovered /
emptied, runs for a new address or a refill) and closing carts when an order arrives.

Applied by ingest before any scenario sees the event, so a cart's state never depends on a
scenario being switched on. Ending a cart cancels what is planned about it: nothing may be sent
about a cart that is gone."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.orm import Session

from shoper_retention.commerce import catalogue
from shoper_retention.contacts import consent
from shoper_retention.contacts import records as contacts
from shoper_retention.ingest.events import CartChanged
from shoper_retention.messaging import outbox
from shoper_retention.models import Cart, Contact, Message, Order, Shop

OPEN_STATES = ("open", "anonymous", "abandoned")
CLOCK_SKEW = timedelta(minutes=10)  # how far ahead of ours a shopper's clock may run
# An order dated up to this long before the cart started still ends it: the shop's clock is
# not ours, and a local time in the repeated hour of a DST change is an hour ambiguous.
ORDER_SLACK = timedelta(hours=1)


def restore_target(shop: Shop, cart: Cart, cart_page: str) -> str:
    """The storefront's restore URL when the platform or the widget gave one on the shop's own
    origin, else `cart_page` (the platform's cart page carrying our cart token: the widget
    refills the cart from it)."""
    base = shop.shop_url.rstrip("/")
    if cart.restore_url and base and cart.restore_url.startswith(base + "/"):
        return cart.restore_url
    return cart_page


def order_since(session: Session, shop_id: int, cart: Cart) -> Order | None:
    """An order by the same shopper (the cart's contact, e-mail or phone) placed since the cart
    started, or the cart's own order. By contact too: the shop's records may link a cart's
    e-mail to the phone an order gives (only platform data links addresses, contacts.py)."""
    same_shopper: list[ColumnElement[bool]] = []
    if cart.contact_id is not None:
        same_shopper.append(Order.contact_id == cart.contact_id)
    if cart.email:
        same_shopper.append(Order.email == cart.email)
    if cart.phone:
        same_shopper.append(Order.phone == cart.phone)
    conditions: list[ColumnElement[bool]] = []
    if same_shopper:
        conditions.append(or_(*same_shopper) & (Order.placed_at >= cart.started_at - ORDER_SLACK))
    if cart.order_ref:
        conditions.append(Order.platform_order_id == cart.order_ref)
    if not conditions:
        return None
    return session.scalars(
        select(Order).where(Order.shop_id == shop_id, or_(*conditions)).limit(1)
    ).first()


def apply_cart_snapshot(session: Session, shop: Shop, event: CartChanged, now: datetime) -> Cart:
    contact = contacts.upsert_contact(session, shop.id, event.contact, now, trusted=False)
    cart = session.scalars(
        select(Cart).where(Cart.shop_id == shop.id, Cart.platform_cart_id == event.cart_id)
    ).first()
    created = cart is None
    stale = cart is not None and _order_key(event) < cart.snapshot_at
    if cart is None:
        cart = Cart(
            shop_id=shop.id,
            platform_cart_id=event.cart_id,
            status="open",
            token=secrets.token_urlsafe(16),
            started_at=event.received_at,
            last_activity_at=event.received_at,
            snapshot_at=_order_key(event),
        )
        session.add(cart)
        session.flush()  # the consent claims below name the cart
    elif not stale and _names_someone_else(cart, event):
        _restart_for_new_contact(session, shop, cart, event, contact, now)
    owner = contact or (session.get(Contact, cart.contact_id) if cart.contact_id else None)
    if owner is not None and not stale:
        # Applied even from a snapshot whose contents are not newer (the shopper unticked a
        # box and nothing else changed), but never from an older one; for this cart only.
        consent.apply_storefront_claims(
            session,
            shop,
            owner,
            cart.id,
            {c.channel: (c.granted, c.text_version) for c in event.consents},
            {
                "email": event.contact.email or cart.email,
                "sms": event.contact.phone or cart.phone,
            },
            now,
        )
    if not created and _order_key(event) <= cart.snapshot_at:
        return cart  # an older or repeated snapshot: the cart already shows something as new
    if contact is not None and cart.contact_id is None:
        cart.contact_id = contact.id
    cart.email = event.contact.email or cart.email
    cart.phone = event.contact.phone or cart.phone
    cart.first_name = event.contact.first_name[:40] or cart.first_name
    if cart.status in ("ordered", "recovered"):
        return cart  # this cart is done; the shop will start a new cart id
    _apply_contents(session, shop, cart, event, now)
    session.flush()
    if event.order_ref and not event.order_id:
        cart.order_ref = event.order_ref
        order = session.scalars(
            select(Order).where(
                Order.shop_id == shop.id, Order.platform_order_id == event.order_ref
            )
        ).first()
        if order is not None:  # the order came first (webhooks come in any order)
            _close_cart(session, cart, order, now, "order placed")
            return cart
    if event.order_id:
        cart.order_ref = event.order_id
        order = session.scalars(
            select(Order).where(Order.shop_id == shop.id, Order.platform_order_id == event.order_id)
        ).first()
        _close_cart(session, cart, order, now, "order placed")
    elif not cart.items and cart.status in OPEN_STATES:
        cart.status = "emptied"
        cart.closed_at = now
        outbox.cancel_pending(session, shop.id, "cart emptied", now, subject=("cart", cart.id))
    return cart


def _names_someone_else(cart: Cart, event: CartChanged) -> bool:
    given = event.contact
    return bool(
        cart.status not in ("ordered", "recovered")
        and (
            (given.email and cart.email and given.email != cart.email)
            or (given.phone and cart.phone and given.phone != cart.phone)
        )
    )


def _restart_for_new_contact(
    session: Session,
    shop: Shop,
    cart: Cart,
    event: CartChanged,
    contact: Contact | None,
    now: datetime,
) -> None:
    """A later snapshot of this cart gives another e-mail or phone (a typo fixed at checkout,
    or someone who knows the cart id): a new run for the new address, timed afresh. What was
    planned for the first address is cancelled, and nothing of the first run, nor the first
    address's phone or e-mail, goes to the second."""
    outbox.cancel_pending(
        session, shop.id, "the cart's contact changed", now, subject=("cart", cart.id)
    )
    cart.run += 1
    cart.token = secrets.token_urlsafe(16)  # the first run's links no longer open this cart
    cart.email = event.contact.email
    cart.phone = event.contact.phone
    cart.first_name = event.contact.first_name[:40]
    cart.contact_id = contact.id if contact is not None else None
    cart.started_at = event.received_at
    cart.last_activity_at = event.received_at
    cart.abandoned_at = None
    if cart.status in ("abandoned", "anonymous"):
        cart.status = "open"


def _apply_contents(
    session: Session, shop: Shop, cart: Cart, event: CartChanged, now: datetime
) -> None:
    # Ids and quantities only: the page's names, prices and links are not kept (anyone can
    # post a snapshot); messages read them from the shop's catalogue.
    items = [catalogue.item_json(i.product_id, i.variant_id, i.quantity) for i in event.items]
    if event.contact.email or event.contact.phone or cart.email or cart.phone:
        # Read ahead only for a cart someone could be reminded of (a contact-less flood
        # costs no platform calls); `exit_reason` notes the rest before any send.
        catalogue.note_products(session, shop.id, catalogue.product_refs(items), now)
    if cart.status == "anonymous":
        cart.status = "open"
    if cart.status == "emptied" and items:
        cart.status = "open"  # refilled: a new run, planned afresh
        cart.run += 1
        cart.started_at = event.received_at
        cart.abandoned_at = None
    cart.items = items
    cart.last_activity_at = event.received_at
    cart.snapshot_at = _order_key(event)
    if event.restore_url:
        cart.restore_url = event.restore_url


def _order_key(event: CartChanged) -> datetime:
    """The shopper's time orders snapshots, but never far past our own: a clock set days ahead
    would otherwise make every later, real snapshot look older and freeze the cart."""
    return min(event.occurred_at, event.received_at + CLOCK_SKEW)


def close_carts_for_order(session: Session, shop: Shop, order: Order, now: datetime) -> None:
    """An order ends every open run of its contact's carts and of the carts with its e-mail or
    phone, started before it, and its own cart (seen on the thank-you page) in any state."""
    conditions = [(Cart.order_ref == order.platform_order_id) & Cart.order_id.is_(None)]
    same_shopper: list[ColumnElement[bool]] = []
    if order.contact_id is not None:
        same_shopper.append(Cart.contact_id == order.contact_id)
    if order.email:
        same_shopper.append(Cart.email == order.email)
    if order.phone:
        same_shopper.append(Cart.phone == order.phone)
    if same_shopper:
        conditions.append(
            or_(*same_shopper)
            & (Cart.started_at <= order.placed_at + ORDER_SLACK)
            & Cart.status.in_(OPEN_STATES)
        )
    carts = session.scalars(select(Cart).where(Cart.shop_id == shop.id, or_(*conditions))).all()
    for cart in carts:
        _close_cart(session, cart, order, now, "order placed")


def _close_cart(
    session: Session, cart: Cart, order: Order | None, now: datetime, reason: str
) -> None:
    if cart.status in OPEN_STATES:
        cart.status = "ordered"
        cart.closed_at = now
    if order is not None:
        cart.order_id = order.id
        if order.attributed_message_id is not None:
            message = session.get(Message, order.attributed_message_id)
            if (
                message is not None
                and message.subject_type == "cart"
                and message.subject_id == cart.id
            ):
                cart.status = "recovered"
    outbox.cancel_pending(session, cart.shop_id, reason, now, subject=("cart", cart.id))
