"""Events into state, before any scenario sees them: orders, carts, consent and the dates
and stock the scenarios read. Whatever scenarios are switched on, the state is the same."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from shoper_retention.commerce import carts, orders, stock
from shoper_retention.contacts import consent, dates
from shoper_retention.contacts import records as contacts
from shoper_retention.ingest.events import (
    BirthdaySignup,
    CartChanged,
    CustomerSeen,
    DomainEvent,
    MarketingConsentReported,
    NewsletterJoined,
    OrderPlaced,
    ProductDeleted,
    RestockRequested,
    ShopUninstalled,
    StockReported,
)
from shoper_retention.messaging import outbox
from shoper_retention.models import Contact, Shop


def apply(session: Session, shop: Shop, event: DomainEvent, now: datetime) -> None:
    if isinstance(event, OrderPlaced):
        order = orders.apply_order(session, shop.id, event, now)
        carts.close_carts_for_order(session, shop, order, now)
        _note_first_order(session, shop, order.contact_id, order.placed_at)
    elif isinstance(event, CartChanged):
        carts.apply_cart_snapshot(session, shop, event, now)
    elif isinstance(event, MarketingConsentReported):
        _apply_platform_consent(session, shop, event, now)
    elif isinstance(event, CustomerSeen):
        _apply_customer(session, shop, event, now)
    elif isinstance(event, NewsletterJoined):
        _apply_newsletter_join(session, shop, event, now)
    elif isinstance(event, BirthdaySignup):
        _apply_birthday_signup(session, shop, event, now)
    elif isinstance(event, (StockReported, ProductDeleted, RestockRequested)):
        _apply_stock_event(session, shop, event, now)
    elif isinstance(event, ShopUninstalled):
        uninstall(session, shop, now)


def uninstall(session: Session, shop: Shop, now: datetime) -> None:
    """The merchant removed the app: nothing more goes out, and no credential of theirs is
    kept. Data already stored stays until the operator deletes the shop (a re-install picks up
    where it left off)."""
    shop.status = "uninstalled"
    shop.uninstalled_at = now
    shop.access_token_enc = shop.refresh_token_enc = shop.webhook_secret_enc = None
    shop.token_expires_at = None
    shop.webhook_ids = []
    shop.webhooks_registered = False
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


def _note_first_order(
    session: Session, shop: Shop, contact_id: int | None, placed_at: datetime
) -> None:
    contact = session.get(Contact, contact_id) if contact_id is not None else None
    if contact is not None:
        dates.note_first_order(contact, shop, placed_at)


def _apply_customer(session: Session, shop: Shop, event: CustomerSeen, now: datetime) -> None:
    contact = contacts.upsert_contact(session, shop.id, event.contact, now, trusted=True)
    if contact is None:
        return
    if event.joined_at is not None:
        dates.note_joined(contact, shop, event.joined_at)
    if event.birthday is not None:
        dates.set_birthday(contact, *event.birthday, source=dates.PLATFORM)


def _apply_newsletter_join(
    session: Session, shop: Shop, event: NewsletterJoined, now: datetime
) -> None:
    contact = contacts.upsert_contact(session, shop.id, event.contact, now, trusted=True)
    if contact is not None:
        dates.note_joined(contact, shop, event.joined_at)


def _apply_birthday_signup(
    session: Session, shop: Shop, event: BirthdaySignup, now: datetime
) -> None:
    """Untrusted, like a cart snapshot: it may name a new contact by one address, never
    change a known one's addresses or name, and never outrank the shop's own birthday. A
    ticked box is a request with no cart (consent.py: never a grant at the address level),
    and the address's owner is asked to confirm it.
    An unticked one is ignored: a stranger's form must not stop anyone's messages."""
    contact = contacts.upsert_contact(session, shop.id, event.contact, now, trusted=False)
    if contact is None:
        return
    dates.set_birthday(contact, event.month, event.day, source=dates.STOREFRONT)
    for change in event.consents:
        address = event.contact.email if change.channel == "email" else event.contact.phone
        if not change.granted or not address:
            continue
        claim = consent.record(
            session,
            contact,
            change.channel,
            address,
            True,
            now,
            source="birthday sign-up",
            assurance=consent.REQUESTED,
            text_version=change.text_version,
        )
        if claim is not None:
            consent.request_confirmation(session, shop, contact, claim, now)


def _apply_stock_event(
    session: Session,
    shop: Shop,
    event: StockReported | ProductDeleted | RestockRequested,
    now: datetime,
) -> None:
    if isinstance(event, StockReported):
        stock.apply_stock(session, shop, event, now)
    elif isinstance(event, ProductDeleted):
        stock.apply_product_deleted(session, shop, event, now)
    else:
        stock.apply_restock_request(session, shop, event, now)
