"""Back in stock: shoppers who asked on the storefront to be told when a product or variant is
back get one notice, by the channel they chose, when its stock goes from 0 to more than 0.

At most `per_unit` subscribers per unit in stock are told, in sign-up order; the rest wait for
the next restock. Notices go out STAGGER apart per unit, so the first to sign up are first to
buy, and each re-checks the stock right before it goes: once the stock is gone again, the rest
are not sent and their subscriptions keep waiting. Stock and subscriptions are state
(commerce/stock.py); this module decides whom to tell and when.

Not marketing: the shopper asked for this one notice, so the frequency cap neither holds it nor
counts it. But anyone can post anyone's address, so a notice goes only to an address whose owner
confirmed (or, for e-mail, under the shop's single opt-in): the rule for cart claims
(consent.allows_requested). It still carries the unsubscribe link."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shoper_retention import shop_config
from shoper_retention.commerce import catalogue, stock
from shoper_retention.contacts import consent
from shoper_retention.ingest.events import DomainEvent, RestockRequested, StockReported
from shoper_retention.messaging import outbox
from shoper_retention.models import (
    CatalogueProduct,
    Message,
    ProductStock,
    RestockSubscription,
    Shop,
)
from shoper_retention.models.outbox import PENDING_STATUSES
from shoper_retention.scenarios.base import SendServices
from shoper_retention.scenarios.settings_schema import Number, SettingsSchema, Switch

NAME = "back_in_stock"
STAGGER = timedelta(minutes=10)  # between the notices for one unit and those for the next
MAX_STAGGER = timedelta(hours=4)  # a large restock's last notices go no later than this
CATALOGUE_WAIT = timedelta(hours=2)  # a notice waits this long for the product's first read
CATALOGUE_RECHECK = timedelta(minutes=5)
SCAN_BATCH = 200
# A notice that goes out later than the restock was reported (a staggered one) first asks the
# platform again: an order may have used the stock up without any webhook. It waits for a read
# at most FRESH_READ_WAIT past its time, then goes on what is known.
FRESH_READ_AGE = timedelta(minutes=5)
FRESH_READ_WAIT = timedelta(hours=1)
FRESH_READ_RECHECK = timedelta(minutes=1)
# Notices that hold a unit of the current restock: planned, on their way, or sent.
TAKING_STATUSES = (*PENDING_STATUSES, *stock.SENT_STATUSES)

SETTINGS = SettingsSchema(
    title={"pl": "Powiadomienia o dostępności", "en": "Back in stock"},
    description={
        "pl": "Klienci, którzy na stronie niedostępnego produktu poprosili o powiadomienie, "
        "dostają jedną wiadomość, gdy produkt wróci do sprzedaży, w kolejności zapisów.",
        "en": "Shoppers who asked to be notified on an out-of-stock product's page get one "
        "message when it is back in stock, in the order they signed up.",
    },
    fields=(
        Switch(
            "enabled",
            {
                "pl": "Powiadamiaj klientów, gdy produkt wróci do sprzedaży",
                "en": "Tell shoppers when a product is back in stock",
            },
        ),
        Number(
            "per_unit",
            {
                "pl": "Ile osób powiadomić na każdą dostępną sztukę",
                "en": "People to notify per unit in stock",
            },
            3,
            1,
            50,
            {
                "pl": "Nie każdy powiadomiony kupi. Pozostali czekają na kolejną dostawę.",
                "en": "Not everyone who is notified buys. The rest wait for the next delivery.",
            },
        ),
        Number(
            "expiry_days",
            {
                "pl": "Ważność zapisu (dni)",
                "en": "Sign-ups expire after (days)",
            },
            90,
            1,
            365,
        ),
    ),
)


@dataclass(frozen=True)
class Config:
    enabled: bool
    per_unit: int
    expiry: timedelta


def read_config(shop: Shop) -> Config:
    raw = shop_config.scenario_settings(shop, NAME, SETTINGS)
    return Config(
        enabled=bool(raw["enabled"]),
        per_unit=int(raw["per_unit"]),
        expiry=timedelta(days=int(raw["expiry_days"])),
    )


class BackInStock:
    name = NAME
    marketing = False
    switchable = True
    opt_out = True
    settings = SETTINGS
    reacts_to: tuple[type, ...] = (StockReported, RestockRequested)

    def on_event(self, session: Session, shop: Shop, event: DomainEvent, now: datetime) -> None:
        config = read_config(shop)
        if isinstance(event, RestockRequested):
            _set_expiry(session, shop, event, config)
            return
        assert isinstance(event, StockReported)
        if not config.enabled:
            return
        row = stock.stock_row(session, shop.id, event.product_id, event.variant_id)
        if row is not None:
            _plan_restock(session, shop, row, config, now)

    def scan(self, session: Session, shop: Shop, now: datetime) -> int:
        """Upkeep whatever the switch says (expiry, notices sent), then any restock whose
        allotment is not used up (a notice that failed frees its unit for the next in line)."""
        stock.expire_due(session, shop.id, now)
        stock.mark_notified(session, shop.id, now)
        config = read_config(shop)
        if not config.enabled:
            return 0
        rows = session.scalars(
            select(ProductStock)
            .where(
                ProductStock.shop_id == shop.id,
                ProductStock.quantity > 0,
                select(RestockSubscription.id)
                .where(
                    RestockSubscription.shop_id == shop.id,
                    RestockSubscription.product_id == ProductStock.product_id,
                    RestockSubscription.variant_id == ProductStock.variant_id,
                    RestockSubscription.status == "waiting",
                    RestockSubscription.created_at <= ProductStock.updated_at,
                )
                .exists(),
            )
            .order_by(ProductStock.id)
            .limit(SCAN_BATCH)
        ).all()
        return sum(_plan_restock(session, shop, row, config, now) for row in rows)

    def exit_reason(
        self, session: Session, shop: Shop, message: Message, now: datetime
    ) -> str | None:
        subscription = _subscription(session, shop, message)
        if subscription is None:
            return "subscription deleted"
        if subscription.status != "waiting":
            return f"subscription {subscription.status}"
        if subscription.expires_at <= now:
            return "subscription expired"  # the scan's upkeep ends it
        row = stock.stock_row(session, shop.id, subscription.product_id, subscription.variant_id)
        if row is None or row.quantity <= 0:
            return "stock back to 0"  # the subscription keeps waiting for the next restock
        if not consent.allows_requested(session, shop, message.channel, subscription.address):
            return "the address's owner has not confirmed"
        product = _product(session, shop, subscription)
        if product is not None and product.status == "missing":
            stock.end(session, subscription, "cancelled", "no such product", now)
            return "no such product in the shop's catalogue"
        if (product is None or product.status != "found") and now >= _catalogue_deadline(message):
            return "the shop's catalogue could not be read for this product"
        return None

    def wait_until(
        self, session: Session, shop: Shop, message: Message, now: datetime
    ) -> tuple[datetime, str] | None:
        """Hold the notice while the stock it goes on is older than its time (a staggered
        notice), and while its product was never read from the shop's catalogue (the photo,
        price and link come only from there), up to CATALOGUE_WAIT."""
        subscription = _subscription(session, shop, message)
        if subscription is None:
            return None
        row = stock.stock_row(session, shop.id, subscription.product_id, subscription.variant_id)
        if row is not None and _stale_for(row, message) and now < message.due_at + FRESH_READ_WAIT:
            if row.recheck_at is None or row.recheck_at > now:
                row.recheck_at = now  # the next pass's re-check reads it
            return now + FRESH_READ_RECHECK, "reading the stock again before the notice"
        product = _product(session, shop, subscription)
        if product is not None and product.status == "found":
            return None
        ref = (subscription.product_id, subscription.variant_id)
        catalogue.note_products(session, shop.id, [ref], now, urgent=True)
        deadline = _catalogue_deadline(message)
        return min(now + CATALOGUE_RECHECK, deadline), "waiting for the shop's catalogue"

    def context(
        self, session: Session, shop: Shop, message: Message, now: datetime, services: SendServices
    ) -> dict[str, Any]:
        subscription = _subscription(session, shop, message)
        assert subscription is not None  # exit_reason ran first
        product = _product(session, shop, subscription)
        assert product is not None  # found: exit_reason and wait_until ran first
        # Only catalogue data: nothing the storefront sent reaches the notice.
        return {
            "product": {
                "name": product.name,
                "price": product.price,
                "image_url": product.image_url,
                "currency": shop.currency,
            },
            "product_url": services.link_url(message.id, "product"),
        }

    def recipient(self, session: Session, shop: Shop, message: Message) -> str | None:
        subscription = _subscription(session, shop, message)
        if subscription is None or subscription.channel != message.channel:
            return None
        return subscription.address

    def link_target(self, session: Session, shop: Shop, message: Message, link: str) -> str | None:
        if link != "product":
            return None
        subscription = _subscription(session, shop, message)
        product = _product(session, shop, subscription) if subscription else None
        if product is None or product.status != "found" or not product.product_url:
            return None
        return product.product_url


def _plan_restock(
    session: Session, shop: Shop, row: ProductStock, config: Config, now: datetime
) -> int:
    """Plan notices for this restock (stock > 0 since `row.updated_at`) up to `per_unit` per
    unit in stock, in sign-up order, to confirmed addresses; planning again plans only what
    the allotment still has room for."""
    if row.quantity <= 0:
        return 0
    allotment = config.per_unit * int(row.quantity)
    taken = _taken(session, shop, row)
    if taken >= allotment:
        return 0
    candidates = session.scalars(
        select(RestockSubscription)
        .where(
            RestockSubscription.shop_id == shop.id,
            RestockSubscription.product_id == row.product_id,
            RestockSubscription.variant_id == row.variant_id,
            RestockSubscription.status == "waiting",
            RestockSubscription.created_at <= row.updated_at,
        )
        .order_by(RestockSubscription.created_at, RestockSubscription.id)
    )
    planned = 0
    for subscription in candidates:
        if taken >= allotment:
            break
        if _pending_notice(session, shop, subscription):
            continue
        if not consent.allows_requested(session, shop, subscription.channel, subscription.address):
            continue  # not confirmed: no unit goes to it; it keeps waiting
        due = now + min(STAGGER * (taken // config.per_unit), MAX_STAGGER)
        plan = outbox.Plan(
            shop_id=shop.id,
            contact_id=subscription.contact_id,
            scenario=NAME,
            subject_type=stock.SUBJECT,
            subject_id=subscription.id,
            step=1,
            channel=subscription.channel,
            due_at=due,
            marketing=False,
            # A notice called off (the stock ran out first) is planned afresh next time.
            run=_notices(session, shop, subscription) + 1,
        )
        if outbox.schedule(session, plan, now) is not None:
            planned += 1
            taken += 1
    return planned


def _stale_for(row: ProductStock, message: Message) -> bool:
    """The last stock report is older than this notice's own time, by more than a read's
    worth: the notices of the first unit go on the report that planned them."""
    return row.read_at is None or row.read_at < message.due_at - FRESH_READ_AGE


def _taken(session: Session, shop: Shop, row: ProductStock) -> int:
    """Notices of this restock that hold a unit: planned since it came back, not called off."""
    return int(
        session.scalar(
            select(func.count(Message.id))
            .join(RestockSubscription, RestockSubscription.id == Message.subject_id)
            .where(
                Message.shop_id == shop.id,
                Message.scenario == NAME,
                Message.subject_type == stock.SUBJECT,
                Message.planned_at >= row.updated_at,
                Message.status.in_(TAKING_STATUSES),
                RestockSubscription.product_id == row.product_id,
                RestockSubscription.variant_id == row.variant_id,
            )
        )
        or 0
    )


def _pending_notice(session: Session, shop: Shop, subscription: RestockSubscription) -> bool:
    return (
        session.scalars(
            select(Message.id)
            .where(
                Message.shop_id == shop.id,
                Message.subject_type == stock.SUBJECT,
                Message.subject_id == subscription.id,
                Message.status.in_(TAKING_STATUSES),
            )
            .limit(1)
        ).first()
        is not None
    )


def _notices(session: Session, shop: Shop, subscription: RestockSubscription) -> int:
    return int(
        session.scalar(
            select(func.count(Message.id)).where(
                Message.shop_id == shop.id,
                Message.subject_type == stock.SUBJECT,
                Message.subject_id == subscription.id,
            )
        )
        or 0
    )


def _set_expiry(session: Session, shop: Shop, event: RestockRequested, config: Config) -> None:
    """A new sign-up waits as long as the shop's setting says (state set a default)."""
    address = event.contact.email if event.channel == "email" else event.contact.phone
    if not address:
        return
    subscription = stock.waiting_subscription(session, shop.id, event, address)
    if subscription is not None and subscription.created_at == event.received_at:
        subscription.expires_at = event.received_at + config.expiry


def _subscription(session: Session, shop: Shop, message: Message) -> RestockSubscription | None:
    if message.subject_type != stock.SUBJECT:
        return None
    subscription = session.get(RestockSubscription, message.subject_id)
    return subscription if subscription is not None and subscription.shop_id == shop.id else None


def _product(
    session: Session, shop: Shop, subscription: RestockSubscription
) -> CatalogueProduct | None:
    return session.scalars(
        select(CatalogueProduct).where(
            CatalogueProduct.shop_id == shop.id,
            CatalogueProduct.product_id == subscription.product_id,
            CatalogueProduct.variant_id == subscription.variant_id,
        )
    ).first()


def _catalogue_deadline(message: Message) -> datetime:
    return message.planned_at + CATALOGUE_WAIT
