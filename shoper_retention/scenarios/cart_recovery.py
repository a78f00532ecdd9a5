"""Cart recovery: a cart with items and a known contact, idle for 30 minutes, gets up to three
reminders (+1 h SMS or e-mail, +24 h e-mail with photos, +72 h e-mail and SMS with a coupon).

Any order by that contact, or from that cart, since the cart started ends the run; so does an
emptied cart or an unsubscribe. Steps are timed from the cart's last activity."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, or_, select, update
from sqlalchemy.orm import Session

from shoper_retention import shop_config
from shoper_retention.commerce import catalogue
from shoper_retention.contacts import consent
from shoper_retention.contacts import records as contacts
from shoper_retention.ingest.events import CartChanged, DomainEvent, OrderPlaced
from shoper_retention.messaging import outbox
from shoper_retention.models import Cart, Contact, Message, Order, Shop
from shoper_retention.models.outbox import PENDING_STATUSES
from shoper_retention.scenarios.base import SendServices

NAME = "cart_recovery"
SCAN_BATCH = 500
OPEN_STATES = ("open", "anonymous", "abandoned")
CLOCK_SKEW = timedelta(minutes=10)  # how far ahead of ours a shopper's clock may run
# An order dated up to this long before the cart started still ends it: the shop's clock is
# not ours, and a local time in the repeated hour of a DST change is an hour ambiguous.
ORDER_SLACK = timedelta(hours=1)
# A message whose products are not read from the shop's catalogue yet waits at most this long
# past its step's time, re-checked every CATALOGUE_RECHECK; then it goes with what is known.
CATALOGUE_WAIT = timedelta(hours=2)
CATALOGUE_RECHECK = timedelta(minutes=5)


class CartRecovery:
    name = NAME
    title = "Cart recovery"
    marketing = True
    switchable = True

    # --- reacting to events -------------------------------------------------------------
    def on_event(self, session: Session, shop: Shop, event: DomainEvent, now: datetime) -> None:
        if isinstance(event, CartChanged):
            apply_cart_snapshot(session, shop, event, now)
        elif isinstance(event, OrderPlaced):
            order = session.scalars(
                select(Order).where(
                    Order.shop_id == shop.id, Order.platform_order_id == event.order_id
                )
            ).one()
            close_carts_for_order(session, shop, order, now)

    # --- clock-driven -------------------------------------------------------------------
    def scan(self, session: Session, shop: Shop, now: datetime) -> int:
        """Carts gone idle become abandoned and get their steps planned."""
        config = shop_config.cart_recovery(shop)
        if not config.enabled:
            return 0
        idle_carts = session.scalars(
            select(Cart)
            .where(
                Cart.shop_id == shop.id,
                Cart.status == "open",
                Cart.last_activity_at <= now - config.idle,
            )
            .order_by(Cart.last_activity_at)
            .limit(SCAN_BATCH)
            .with_for_update(skip_locked=True)
        ).all()
        planned = 0
        for cart in idle_carts:
            planned += self._abandon(session, shop, cart, config, now)
        return planned

    def _abandon(
        self,
        session: Session,
        shop: Shop,
        cart: Cart,
        config: shop_config.CartRecoveryConfig,
        now: datetime,
    ) -> int:
        contact = session.get(Contact, cart.contact_id) if cart.contact_id else None
        if not cart.items:
            cart.status = "emptied"
            return 0
        if contact is None:
            # Nobody to remind. Parked, so the scan does not pick it up again every pass; a
            # later snapshot (e.g. with the e-mail typed at checkout) opens it again.
            cart.status = "anonymous"
            return 0
        if order_since(session, shop.id, cart) is not None:
            cart.status = "ordered"
            cart.closed_at = now
            return 0
        cart.status = "abandoned"
        cart.abandoned_at = now
        planned = 0
        steps = config.steps
        for index, step in enumerate(steps):
            due = cart.last_activity_at + step.delay
            later = steps[index + 1] if index + 1 < len(steps) else None
            if later is not None and cart.last_activity_at + later.delay <= now:
                continue  # the worker was down so long that a later step is due: skip this one
            for channel in _channels(session, shop, cart, step.channel):
                plan = outbox.Plan(
                    shop_id=shop.id,
                    contact_id=contact.id,
                    scenario=NAME,
                    subject_type="cart",
                    subject_id=cart.id,
                    step=step.number,
                    channel=channel,
                    due_at=max(due, now),
                    marketing=True,
                    run=cart.run,
                )
                if outbox.schedule(session, plan, now) is not None:
                    planned += 1
        return planned

    # --- right before a send -------------------------------------------------------------
    def exit_reason(
        self, session: Session, shop: Shop, message: Message, now: datetime
    ) -> str | None:
        cart = session.get(Cart, message.subject_id)
        if cart is None or cart.shop_id != shop.id:
            return "cart deleted"
        if message.run != cart.run:
            # Planned for an earlier run (another address, or before the cart was emptied),
            # and claimed before that run's messages were cancelled.
            return "the cart started again"
        if cart.status in ("ordered", "recovered"):
            return "order placed"
        if cart.status == "emptied" or not cart.items:
            return "cart emptied"
        order = order_since(session, shop.id, cart)
        if order is not None:
            close_carts_for_order(session, shop, order, now)
            return "order placed"
        if _later_step_due(session, message, now):
            # After an outage several steps are due at once: send only the latest, not three
            # reminders in one minute (and keep the SMS frequency cap for the coupon SMS).
            return "superseded by a later step"
        # Names, prices and photos come only from the shop's catalogue (see catalogue.py).
        catalogue.note_products(
            session, shop.id, catalogue.product_refs(cart.items), now, urgent=True
        )
        lines, unresolved = catalogue.cart_lines(session, shop, cart)
        if not lines and (not unresolved or now >= _catalogue_deadline(shop, cart, message)):
            if unresolved:
                return "the shop's catalogue could not be read for this cart"
            return "no product of this cart is in the shop's catalogue"
        return None

    def wait_until(
        self, session: Session, shop: Shop, message: Message, now: datetime
    ) -> tuple[datetime, str] | None:
        """Asked after `exit_reason`: hold the message (until when, and why) while some of its
        products were never read from the shop's catalogue, up to CATALOGUE_WAIT."""
        cart = session.get(Cart, message.subject_id)
        if cart is None:
            return None
        _, unresolved = catalogue.cart_lines(session, shop, cart)
        deadline = _catalogue_deadline(shop, cart, message)
        if not unresolved or now >= deadline:
            return None
        return min(now + CATALOGUE_RECHECK, deadline), "waiting for the shop's catalogue"

    def context(
        self, session: Session, shop: Shop, message: Message, now: datetime, services: SendServices
    ) -> dict[str, Any]:
        cart = session.get(Cart, message.subject_id)
        assert cart is not None  # exit_reason ran first
        coupon = None
        config = shop_config.cart_recovery(shop)
        if message.step == len(config.steps) and config.coupon.mode != "none":
            coupon = services.coupon(shop, f"{NAME}:cart:{cart.id}:{cart.run}", config.coupon, now)
        # Only catalogue data: the storefront's own words never reach a message.
        lines, _ = catalogue.cart_lines(session, shop, cart)
        contact = session.get(Contact, message.contact_id)
        # The shop's own record of the name first; else the one this cart's snapshot gave.
        first_name = (contact.first_name if contact else "") or cart.first_name
        return {
            "contact": {"first_name": first_name},
            "cart": {
                "lines": lines,  # not "items": that is a dict method in Jinja
                "total": catalogue.lines_total(lines),
                "currency": shop.currency,  # the catalogue's prices are in the shop's currency
                "item_count": sum(line.quantity for line in lines),
            },
            "coupon": coupon,
            "step": message.step,
        }

    def recipient(self, session: Session, shop: Shop, message: Message) -> str | None:
        cart = session.get(Cart, message.subject_id)
        if cart is None or cart.shop_id != shop.id or message.run != cart.run:
            return None
        return cart.phone if message.channel == "sms" else cart.email

    def link_target(self, session: Session, shop: Shop, message: Message, link: str) -> str | None:
        if link != "cart":
            return None
        cart = session.get(Cart, message.subject_id)
        if cart is None or cart.shop_id != shop.id or message.run != cart.run:
            return None  # an earlier run's link: the cart may be someone else's now
        return restore_target(shop, cart)


def _channels(session: Session, shop: Shop, cart: Cart, choice: str) -> list[str]:
    """The step's channels that may carry it by its send time: consent granted, or claimed by
    this cart and still awaiting the owner's confirmation (the send re-checks)."""
    sms = consent.state(session, shop, "sms", cart.phone, cart_id=cart.id)
    email = consent.state(session, shop, "email", cart.email, cart_id=cart.id)
    possible = {"sms": sms != "refused", "email": email != "refused"}
    if choice == "auto":
        # SMS where the number's owner already confirmed it, else e-mail; a number still
        # awaiting its confirmation only when there is no e-mail to write to.
        if sms == "granted":
            return ["sms"]
        if possible["email"]:
            return ["email"]
        return ["sms"] if possible["sms"] else []
    if choice == "both":
        return [c for c in ("email", "sms") if possible[c]]
    return [choice] if possible.get(choice) else []


def _catalogue_deadline(shop: Shop, cart: Cart, message: Message) -> datetime:
    """Until when a message may wait for the catalogue: CATALOGUE_WAIT past its step's time
    (the step's delay from the cart's last activity, or its planning if that was later)."""
    due = message.planned_at
    for step in shop_config.cart_recovery(shop).steps:
        if step.number == message.step:
            due = max(due, cart.last_activity_at + step.delay)
    return due + CATALOGUE_WAIT


def _later_step_due(session: Session, message: Message, now: datetime) -> bool:
    later = session.scalars(
        select(Message.id)
        .where(
            Message.shop_id == message.shop_id,
            Message.scenario == NAME,
            Message.subject_type == "cart",
            Message.subject_id == message.subject_id,
            Message.run == message.run,
            Message.step > message.step,
            Message.status.in_(PENDING_STATUSES),
            Message.due_at <= now,
        )
        .limit(1)
    ).first()
    return later is not None


def restore_target(shop: Shop, cart: Cart) -> str:
    """The storefront's restore URL when the widget gave one on the shop's own origin, else the
    shop's basket with our cart token (the widget refills the cart from it)."""
    base = shop.shop_url.rstrip("/")
    if cart.restore_url and base and cart.restore_url.startswith(base + "/"):
        return cart.restore_url
    return f"{base}/basket?sr_cart={cart.token}"


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


def apply_cart_snapshot(session: Session, shop: Shop, event: CartChanged, now: datetime) -> None:
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
        return  # an older or repeated snapshot: the cart already shows something as new
    if contact is not None and cart.contact_id is None:
        cart.contact_id = contact.id
    cart.email = event.contact.email or cart.email
    cart.phone = event.contact.phone or cart.phone
    cart.first_name = event.contact.first_name[:40] or cart.first_name
    if cart.status in ("ordered", "recovered"):
        return  # this cart is done; the shop will start a new cart id
    _apply_contents(session, shop, cart, event, now)
    session.flush()
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
    if cart.status == "abandoned" and items:
        _defer_while_active(session, shop, cart, event.received_at, now)


def _defer_while_active(
    session: Session, shop: Shop, cart: Cart, active_at: datetime, now: datetime
) -> None:
    """The shopper is back in the cart: no reminder until they have been idle again."""
    earliest = active_at + shop_config.cart_recovery(shop).idle
    session.execute(
        update(Message)
        .where(
            Message.shop_id == shop.id,
            Message.subject_type == "cart",
            Message.subject_id == cart.id,
            Message.status == "scheduled",
            Message.due_at < earliest,
        )
        .values(due_at=earliest, reason="shopper active again", updated_at=now)
        .execution_options(synchronize_session=False)
    )


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
