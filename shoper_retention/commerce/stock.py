"""Stock levels and "notify me" sign-ups into state: the last known stock per product/variant,
the moment it comes back, and the subscriptions waiting for it.

`ProductStock.updated_at` is when the stock last crossed zero (ran out, or came back): a restock
is "quantity > 0 since updated_at", so whoever plans notices sees the same round however often
it looks, and a round starts again only after the stock ran out in between. Subscriptions wait
until notified, expired or cancelled; ending one calls off what is planned about it."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Protocol

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shoper_retention.commerce import catalogue
from shoper_retention.contacts import consent
from shoper_retention.contacts import records as contacts
from shoper_retention.ingest.events import ProductDeleted, RestockRequested, StockReported
from shoper_retention.messaging import outbox
from shoper_retention.models import Message, ProductStock, RestockSubscription, Shop

SUBJECT = "restock"  # Message.subject_type of a notice: its subject is a RestockSubscription
DEFAULT_EXPIRY = timedelta(days=90)  # until the scenario sets the shop's own (its on_event)
SENT_STATUSES = ("sent", "delivered", "undelivered")


class StockUnavailable(Exception):
    """The platform could not be asked now (credentials, an outage): try again later."""


class StockReader(Protocol):
    def __call__(self, shop: Shop, product_id: str, variant_id: str) -> Decimal | None:
        """Units in stock now; None when the platform does not know the product (or variant);
        raises `StockUnavailable` when it cannot tell now."""


def apply_stock(session: Session, shop: Shop, event: StockReported, now: datetime) -> ProductStock:
    """The stock as the platform reported it at `event.at`; a report older than the one
    applied last (webhooks come in any order) changes nothing."""
    row = stock_row(session, shop.id, event.product_id, event.variant_id)
    if row is None:
        row = ProductStock(
            shop_id=shop.id,
            product_id=event.product_id,
            variant_id=event.variant_id,
            quantity=event.quantity,
            updated_at=event.at,
        )
        session.add(row)
    elif row.read_at is not None and event.at < row.read_at:
        return row
    elif (row.quantity > 0) != (event.quantity > 0):
        row.updated_at = event.at
    row.quantity = event.quantity
    row.read_at = event.at
    session.flush()
    return row


def apply_product_deleted(
    session: Session, shop: Shop, event: ProductDeleted, now: datetime
) -> int:
    session.execute(
        update(ProductStock)
        .where(ProductStock.shop_id == shop.id, ProductStock.product_id == event.product_id)
        .values(recheck_at=None)
        .execution_options(synchronize_session=False)
    )
    return end_waiting(
        session, shop.id, event.product_id, None, "cancelled", "product deleted", now
    )


def apply_restock_request(
    session: Session, shop: Shop, event: RestockRequested, now: datetime
) -> RestockSubscription | None:
    """The sign-up is the shopper's request for this one notice, but anyone can post any
    address: it is recorded as a claim of no cart, and unless the address may already get the
    notice (confirmed, or single opt-in e-mail) its owner is asked to confirm, once, as for a
    cart's claim (consent.py). A repeat sign-up is the same subscription."""
    contact = contacts.upsert_contact(session, shop.id, event.contact, now, trusted=False)
    address = event.contact.email if event.channel == "email" else event.contact.phone
    if contact is None or not address:
        return None
    claim = consent.record(
        session,
        contact,
        event.channel,
        address,
        True,
        now,
        source=consent.NOTICE_REQUEST,
        assurance=consent.REQUESTED,
        text_version=event.text_version,
    )
    if claim is not None and not consent.allows_requested(session, shop, event.channel, address):
        consent.request_confirmation(session, shop, contact, claim, now)
    # Names, prices and photos for the notice come from the shop's catalogue only.
    catalogue.note_products(session, shop.id, [(event.product_id, event.variant_id)], now)
    _watch(session, shop.id, event.product_id, event.variant_id, now)
    existing = waiting_subscription(session, shop.id, event, address)
    if existing is not None and not _notice_sent(session, existing):
        return existing
    if existing is not None:
        # Notified a moment ago (the scan marks it on its next pass): this is a new wish.
        existing.status, existing.ended_at = "notified", now
        session.flush()
    subscription = RestockSubscription(
        shop_id=shop.id,
        contact_id=contact.id,
        product_id=event.product_id,
        variant_id=event.variant_id,
        channel=event.channel,
        address=address,
        status="waiting",
        created_at=event.received_at,
        expires_at=event.received_at + DEFAULT_EXPIRY,
    )
    try:
        with session.begin_nested():  # the same sign-up ingested twice at once
            session.add(subscription)
    except IntegrityError:
        return waiting_subscription(session, shop.id, event, address)
    return subscription


def waiting_subscription(
    session: Session, shop_id: int, event: RestockRequested, address: str
) -> RestockSubscription | None:
    return session.scalars(
        select(RestockSubscription).where(
            RestockSubscription.shop_id == shop_id,
            RestockSubscription.product_id == event.product_id,
            RestockSubscription.variant_id == event.variant_id,
            RestockSubscription.channel == event.channel,
            RestockSubscription.address == address,
            RestockSubscription.status == "waiting",
        )
    ).first()


def _notice_sent(session: Session, subscription: RestockSubscription) -> bool:
    return (
        session.scalars(
            select(Message.id)
            .where(
                Message.shop_id == subscription.shop_id,
                Message.subject_type == SUBJECT,
                Message.subject_id == subscription.id,
                Message.status.in_(SENT_STATUSES),
            )
            .limit(1)
        ).first()
        is not None
    )


def _watch(session: Session, shop_id: int, product_id: str, variant_id: str, now: datetime) -> None:
    """Someone waits for this product: its stock is read from the platform soon (a stock
    change may fire no webhook), and from then on at the re-check's pace."""
    row = stock_row(session, shop_id, product_id, variant_id)
    if row is None:
        session.add(
            ProductStock(
                shop_id=shop_id,
                product_id=product_id,
                variant_id=variant_id,
                quantity=Decimal("0"),
                updated_at=now,
                recheck_at=now,
            )
        )
        session.flush()
    elif row.recheck_at is None:
        row.recheck_at = now


def stock_row(
    session: Session, shop_id: int, product_id: str, variant_id: str
) -> ProductStock | None:
    return session.scalars(
        select(ProductStock).where(
            ProductStock.shop_id == shop_id,
            ProductStock.product_id == product_id,
            ProductStock.variant_id == variant_id,
        )
    ).first()


def has_waiting(session: Session, shop_id: int, product_id: str, variant_id: str) -> bool:
    return (
        session.scalars(
            select(RestockSubscription.id)
            .where(
                RestockSubscription.shop_id == shop_id,
                RestockSubscription.product_id == product_id,
                RestockSubscription.variant_id == variant_id,
                RestockSubscription.status == "waiting",
            )
            .limit(1)
        ).first()
        is not None
    )


def end_waiting(
    session: Session,
    shop_id: int,
    product_id: str,
    variant_id: str | None,
    status: str,
    reason: str,
    now: datetime,
) -> int:
    """End the waiting subscriptions of a product (`variant_id` None: all its variants too)
    and call off their planned notices. Returns how many ended."""
    conditions = [
        RestockSubscription.shop_id == shop_id,
        RestockSubscription.product_id == product_id,
        RestockSubscription.status == "waiting",
    ]
    if variant_id is not None:
        conditions.append(RestockSubscription.variant_id == variant_id)
    subscriptions = session.scalars(select(RestockSubscription).where(*conditions)).all()
    for subscription in subscriptions:
        end(session, subscription, status, reason, now)
    return len(subscriptions)


def end(
    session: Session, subscription: RestockSubscription, status: str, reason: str, now: datetime
) -> None:
    subscription.status = status
    subscription.reason = reason[:120]
    subscription.ended_at = now
    outbox.cancel_pending(
        session, subscription.shop_id, reason, now, subject=(SUBJECT, subscription.id)
    )


def expire_due(session: Session, shop_id: int, now: datetime, limit: int = 500) -> int:
    expired = session.scalars(
        select(RestockSubscription)
        .where(
            RestockSubscription.shop_id == shop_id,
            RestockSubscription.status == "waiting",
            RestockSubscription.expires_at <= now,
        )
        .limit(limit)
    ).all()
    for subscription in expired:
        end(session, subscription, "expired", "expired", now)
    return len(expired)


def mark_notified(session: Session, shop_id: int, now: datetime, limit: int = 500) -> int:
    """A waiting subscription whose notice went out is done. Read from the outbox after the
    send, so dispatch needs no hook and a notice that failed leaves the subscription waiting."""
    # From the waiting subscriptions (an index range that stays as small as the live wishes),
    # each looked up in the outbox by its subject: never a read of the outbox's history.
    sent = (
        select(Message.id)
        .where(
            Message.shop_id == shop_id,
            Message.subject_type == SUBJECT,
            Message.subject_id == RestockSubscription.id,
            Message.status.in_(SENT_STATUSES),
        )
        .exists()
    )
    notified = session.scalars(
        select(RestockSubscription)
        .where(
            RestockSubscription.status == "waiting",
            RestockSubscription.shop_id == shop_id,
            sent,
        )
        .limit(limit)
    ).all()
    for subscription in set(notified):
        subscription.status = "notified"
        subscription.ended_at = now
    return len(set(notified))
