"""Events into state, before any scenario sees them: orders, carts, consent and the dates
and stock the scenarios read. Whatever scenarios are switched on, the state is the same."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from shoper_retention.commerce import carts, orders
from shoper_retention.contacts import consent
from shoper_retention.contacts import records as contacts
from shoper_retention.ingest.events import (
    CartChanged,
    DomainEvent,
    MarketingConsentReported,
    OrderPlaced,
    ShopUninstalled,
)
from shoper_retention.messaging import outbox
from shoper_retention.models import Shop


def apply(session: Session, shop: Shop, event: DomainEvent, now: datetime) -> None:
    if isinstance(event, OrderPlaced):
        order = orders.apply_order(session, shop.id, event, now)
        carts.close_carts_for_order(session, shop, order, now)
    elif isinstance(event, CartChanged):
        carts.apply_cart_snapshot(session, shop, event, now)
    elif isinstance(event, MarketingConsentReported):
        _apply_platform_consent(session, shop, event, now)
    elif isinstance(event, ShopUninstalled):
        outbox.cancel_pending(session, shop.id, "shop uninstalled", now)


def _apply_platform_consent(
    session: Session, shop: Shop, event: MarketingConsentReported, now: datetime
) -> None:
    address = event.contact.email if event.channel == "email" else event.contact.phone
    contact = contacts.upsert_contact(session, shop.id, event.contact, now, trusted=True)
    if contact is None or not address:
        return
    consent.apply_platform(
        session,
        contact,
        event.channel,
        address,
        event.granted,
        now,
        source=event.source,
        withdraws_only_own_grant=event.withdraws_only_own_grant,
    )
