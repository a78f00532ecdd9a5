"""Orders into state: upsert from any order event, whatever order the events arrive in."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from shoper_retention.commerce import attribution
from shoper_retention.contacts import records as contacts
from shoper_retention.ingest.events import OrderPlaced
from shoper_retention.models import Order


def apply_order(session: Session, shop_id: int, event: OrderPlaced, now: datetime) -> Order:
    contact = contacts.upsert_contact(session, shop_id, event.contact, now, trusted=True)
    order = session.scalars(
        select(Order).where(Order.shop_id == shop_id, Order.platform_order_id == event.order_id)
    ).first()
    if order is None:
        order = Order(
            shop_id=shop_id,
            platform_order_id=event.order_id,
            placed_at=event.placed_at,
            received_at=now,
            paid=False,
        )
        session.add(order)
    if contact is not None:
        order.contact_id = contact.id
    order.email = event.contact.email or order.email
    order.phone = event.contact.phone or order.phone
    order.total = event.total
    order.currency = event.currency or order.currency
    is_new = order.id is None
    if is_new or not event.is_creation:
        order.status_id = event.status_id or order.status_id
        order.status_type = event.status_type or order.status_type
    # Payment never goes back: an `order.create` that arrives after `order.paid` must not
    # unpay the order.
    order.paid = order.paid or event.paid
    order.placed_at = min(order.placed_at, event.placed_at)
    order.updated_at = now
    session.flush()
    attribution.attribute(session, order)
    return order
