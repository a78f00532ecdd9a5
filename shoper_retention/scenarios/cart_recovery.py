"""Cart recovery: a cart with items and a known contact, idle for 30 minutes, gets up to three
reminders (+1 h SMS or e-mail, +24 h e-mail with photos, +72 h e-mail and SMS with a coupon).

Any order by that contact, or from that cart, since the cart started ends the run; so does an
emptied cart or an unsubscribe. Steps are timed from the cart's last activity. The cart's state
machine is commerce/carts.py; this module only decides what to send, when, and why to stop."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from shoper_retention import shop_config
from shoper_retention.commerce import carts, catalogue
from shoper_retention.ingest.events import CartChanged, DomainEvent
from shoper_retention.models import Cart, Contact, Message, Shop
from shoper_retention.platforms.registry import platform_of
from shoper_retention.scenarios import planning
from shoper_retention.scenarios.base import SendServices
from shoper_retention.scenarios.settings_schema import (
    Coupon,
    CouponPolicy,
    Number,
    SettingsSchema,
    StepDefault,
    Steps,
    Switch,
    coupon_policy,
    step_delays,
)

NAME = "cart_recovery"
SCAN_BATCH = 500
# A message whose products are not read from the shop's catalogue yet waits at most this long
# past its step's time, re-checked every CATALOGUE_RECHECK; then it goes with what is known.
CATALOGUE_WAIT = timedelta(hours=2)
CATALOGUE_RECHECK = timedelta(minutes=5)

SETTINGS = SettingsSchema(
    title={"pl": "Porzucone koszyki", "en": "Abandoned carts"},
    description={
        "pl": "Do trzech przypomnień o koszyku, z którego klient nie złożył zamówienia. "
        "Zamówienie, opróżnienie koszyka lub wypisanie się kończy przypomnienia.",
        "en": "Up to three reminders about a cart the shopper left without ordering. An order, "
        "an emptied cart or an unsubscribe ends them.",
    },
    fields=(
        Switch(
            "enabled",
            {
                "pl": "Wysyłaj przypomnienia o porzuconych koszykach",
                "en": "Send reminders for abandoned carts",
            },
        ),
        Number(
            "idle_minutes",
            {
                "pl": "Koszyk porzucony po (minutach bez zmian)",
                "en": "A cart counts as abandoned after (minutes idle)",
            },
            30,
            10,
            24 * 60,
        ),
        Steps(
            "steps",
            {
                "pl": "Przypomnienia (godziny od ostatniej zmiany koszyka)",
                "en": "Reminders (hours after the cart was last changed)",
            },
            (
                StepDefault(60, "auto", {"pl": "Pierwsze przypomnienie", "en": "First reminder"}),
                StepDefault(
                    24 * 60,
                    "email",
                    {"pl": "Drugie przypomnienie", "en": "Second reminder"},
                    {"pl": "ze zdjęciami produktów", "en": "with product photos"},
                ),
                StepDefault(
                    72 * 60,
                    "both",
                    {"pl": "Ostatnie przypomnienie", "en": "Last reminder"},
                    {"pl": "z kuponem", "en": "with a coupon"},
                ),
            ),
        ),
        Coupon(
            "coupon",
            {"pl": "Kupon w ostatnim przypomnieniu", "en": "Coupon in the last reminder"},
            valid=48,
            valid_unit="hours",
        ),
    ),
)


@dataclass(frozen=True)
class Config:
    enabled: bool
    idle: timedelta
    steps: tuple[planning.Step, ...]
    coupon: CouponPolicy


def read_config(shop: Shop) -> Config:
    raw = shop_config.scenario_settings(shop, NAME, SETTINGS)
    return Config(
        enabled=bool(raw["enabled"]),
        idle=timedelta(minutes=int(raw["idle_minutes"])),
        steps=tuple(planning.Step(*s) for s in step_delays(raw["steps"])),
        coupon=coupon_policy(raw["coupon"]),
    )


class CartRecovery:
    name = NAME
    marketing = True
    switchable = True
    opt_out = True
    settings = SETTINGS
    reacts_to: tuple[type, ...] = (CartChanged,)

    def on_event(self, session: Session, shop: Shop, event: DomainEvent, now: datetime) -> None:
        """The shopper is back in a cart already reminded of: no reminder until they have
        been idle again (the cart's state is applied already)."""
        assert isinstance(event, CartChanged)
        cart = session.scalars(
            select(Cart).where(Cart.shop_id == shop.id, Cart.platform_cart_id == event.cart_id)
        ).first()
        if cart is None or cart.status != "abandoned" or not cart.items:
            return
        if cart.last_activity_at != event.received_at:
            return  # an older or repeated snapshot: no new activity
        earliest = event.received_at + read_config(shop).idle
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

    def scan(self, session: Session, shop: Shop, now: datetime) -> int:
        """Carts gone idle become abandoned and get their steps planned."""
        config = read_config(shop)
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
        return sum(self._abandon(session, shop, cart, config, now) for cart in idle_carts)

    def _abandon(
        self, session: Session, shop: Shop, cart: Cart, config: Config, now: datetime
    ) -> int:
        if not cart.items:
            cart.status = "emptied"
            return 0
        if cart.contact_id is None:
            # Nobody to remind. Parked, so the scan does not pick it up again every pass; a
            # later snapshot (e.g. with the e-mail typed at checkout) opens it again.
            cart.status = "anonymous"
            return 0
        if carts.order_since(session, shop.id, cart) is not None:
            cart.status = "ordered"
            cart.closed_at = now
            return 0
        cart.status = "abandoned"
        cart.abandoned_at = now
        subject = planning.Subject(
            scenario=NAME,
            type="cart",
            id=cart.id,
            run=cart.run,
            contact_id=cart.contact_id,
            email=cart.email,
            phone=cart.phone,
            cart_id=cart.id,
        )
        return planning.plan_steps(session, shop, subject, cart.last_activity_at, config.steps, now)

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
        order = carts.order_since(session, shop.id, cart)
        if order is not None:
            carts.close_carts_for_order(session, shop, order, now)
            return "order placed"
        if planning.later_step_due(session, message, now):
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
        """Hold the message while some of its products were never read from the shop's
        catalogue, up to CATALOGUE_WAIT."""
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
        config = read_config(shop)
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
            "cart_url": services.link_url(message.id, "cart"),
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
        return carts.restore_target(
            shop, cart, platform_of(shop.platform).cart_link(shop, cart.token)
        )


def _catalogue_deadline(shop: Shop, cart: Cart, message: Message) -> datetime:
    """Until when a message may wait for the catalogue: CATALOGUE_WAIT past its step's time
    (the step's delay from the cart's last activity, or its planning if that was later)."""
    due = message.planned_at
    for step in read_config(shop).steps:
        if step.number == message.step:
            due = max(due, cart.last_activity_at + step.delay)
    return due + CATALOGUE_WAIT
