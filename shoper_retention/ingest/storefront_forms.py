"""What the shop's pages may send us, in one table: each form's path under
`/storefront/<public_key>/`, the name its deliveries are stored under, its parser and its dedupe
key. The endpoint and the ingest pipeline both read it, so a new storefront form is one entry."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from shoper_retention import shop_config
from shoper_retention.errors import DomainError
from shoper_retention.ingest import inbox
from shoper_retention.ingest.events import BirthdaySignup, CartChanged, RestockRequested
from shoper_retention.ingest.storefront_birthday import parse_birthday_signup
from shoper_retention.ingest.storefront_events import parse_snapshot
from shoper_retention.ingest.storefront_restock import parse_restock
from shoper_retention.models import Shop

StorefrontEvent = CartChanged | RestockRequested | BirthdaySignup


@dataclass(frozen=True)
class Form:
    path: str  # /storefront/<public_key>/<path>
    event_name: str  # InboxDelivery.event_name of its deliveries
    # The body as an event; BadInput (a 400 naming the field) when it is not one.
    parse: Callable[[bytes, datetime, Shop], StorefrontEvent]
    dedupe_key: Callable[[StorefrontEvent, bytes], str]


def _cart_key(event: StorefrontEvent, body: bytes) -> str:
    """The same snapshot sent twice is stored once. The key column holds 128 characters and a
    cart id may have 128 itself, so the id is cut short, never the body hash (which covers the
    whole id): cutting the hash would drop every later change of a long-id cart as a repeat."""
    assert isinstance(event, CartChanged)
    return f"cart:{event.cart_id[:64]}:{inbox.body_digest(body)}"


FORMS = (
    Form(
        "events",
        "cart",
        lambda body, now, shop: parse_snapshot(body, now, shop.country),
        _cart_key,
    ),
    Form(
        "restock",
        "restock",
        lambda body, now, shop: parse_restock(
            body, now, shop.country, shop_config.sms_countries(shop)
        ),
        lambda event, body: f"restock:{inbox.body_digest(body)}",
    ),
    Form(
        "birthday",
        "birthday",
        lambda body, now, shop: parse_birthday_signup(body, now, shop.country),
        lambda event, body: f"birthday:{inbox.body_digest(body)}",
    ),
)
BY_PATH = {form.path: form for form in FORMS}
BY_EVENT_NAME = {form.event_name: form for form in FORMS}


def to_events(
    shop: Shop, event_name: str, body: bytes, received_at: datetime
) -> list[StorefrontEvent]:
    form = BY_EVENT_NAME.get(event_name)
    if form is None:
        raise DomainError(f"unknown storefront delivery {event_name!r}")
    return [form.parse(body, received_at, shop)]
