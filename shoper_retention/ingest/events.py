"""Domain events: what platform adapters turn deliveries into.

Scenarios react to these, never to a platform's payload, so they do not know where a cart or an
order came from."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal


@dataclass(frozen=True)
class ContactInfo:
    email: str | None = None  # lower-cased
    phone: str | None = None  # E.164
    first_name: str = ""
    language: str = ""
    platform_customer_id: str | None = None


@dataclass(frozen=True)
class ConsentChange:
    channel: str  # "sms" | "email"
    granted: bool
    source: str
    text_version: str = ""


@dataclass(frozen=True)
class CartItem:
    product_id: str
    name: str
    price: Decimal
    quantity: int
    image_url: str = ""
    product_url: str = ""
    variant_id: str = ""


@dataclass(frozen=True)
class CartChanged:
    cart_id: str
    occurred_at: datetime  # the shopper's clock: orders snapshots of one cart
    received_at: datetime  # ours: times the reminders
    currency: str
    items: tuple[CartItem, ...]
    contact: ContactInfo
    consents: tuple[ConsentChange, ...] = ()
    restore_url: str = ""
    order_id: str | None = None  # the storefront saw this cart become an order
    # The order this cart will become, once placed (Ecwid's unfinished order keeps its id):
    # that order closes the cart whenever it arrives, however late either delivery is.
    order_ref: str | None = None


@dataclass(frozen=True)
class OrderPlaced:
    """An order was created or changed (created, paid, status): the full current picture."""

    order_id: str
    placed_at: datetime
    contact: ContactInfo
    total: Decimal
    currency: str
    status_id: str = ""
    status_type: str = ""
    paid: bool = False
    items: tuple[CartItem, ...] = field(default=())
    # A creation event describes the order as it was first: arriving after a status change
    # (webhooks come in any order), it must not set the status back.
    is_creation: bool = False


@dataclass(frozen=True)
class MarketingConsentReported:
    """The shop's own records say whether an address takes marketing (a customer's newsletter
    box, a newsletter subscription). `withdraws_only_own_grant`: a "no" that may only mean
    "never signed up there" (consent.apply_platform)."""

    contact: ContactInfo
    channel: str
    granted: bool
    source: str
    withdraws_only_own_grant: bool = False


@dataclass(frozen=True)
class CustomerSeen:
    """The shop's own customer record (a webhook or the history import): trusted data. Sets
    when the customer joined the loyalty club and, where the shop keeps one, the birthday."""

    contact: ContactInfo
    joined_at: datetime | None = None  # account created
    birthday: tuple[int, int] | None = None  # (month, day)
    source: str = ""


@dataclass(frozen=True)
class NewsletterJoined:
    """A newsletter sign-up at the shop (trusted): joining the loyalty club by another door."""

    contact: ContactInfo
    joined_at: datetime
    source: str = ""


@dataclass(frozen=True)
class BirthdaySignup:
    """A storefront "a gift on your birthday" sign-up: month and day, with the consent claims
    the form carried. Untrusted, like a cart snapshot."""

    contact: ContactInfo
    month: int
    day: int
    received_at: datetime
    consents: tuple[ConsentChange, ...] = ()


@dataclass(frozen=True)
class StockReported:
    """A product's or variant's stock as the platform reports it now (webhook or REST)."""

    product_id: str
    quantity: Decimal
    at: datetime
    variant_id: str = ""


@dataclass(frozen=True)
class ProductDeleted:
    product_id: str
    at: datetime


@dataclass(frozen=True)
class RestockRequested:
    """A storefront sign-up for a back-in-stock notice: the request is the shopper's consent to
    that one notice (untrusted: the same address rules as a cart snapshot apply)."""

    product_id: str
    variant_id: str
    channel: str  # email | sms
    contact: ContactInfo
    received_at: datetime
    text_version: str = ""


@dataclass(frozen=True)
class ShopUninstalled:
    at: datetime


DomainEvent = (
    CartChanged
    | OrderPlaced
    | MarketingConsentReported
    | CustomerSeen
    | NewsletterJoined
    | BirthdaySignup
    | StockReported
    | ProductDeleted
    | RestockRequested
    | ShopUninstalled
)
