"""What shoppers do in the shop: carts (captured on the storefront), orders (from webhooks),
stock levels and "notify me" sign-ups (for back in stock, next)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from shoper_retention.db import Base, Money, UTCDateTime


class Cart(Base):
    __tablename__ = "carts"
    __table_args__ = (UniqueConstraint("shop_id", "platform_cart_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    platform_cart_id: Mapped[str] = mapped_column(String(128))
    contact_id: Mapped[int | None] = mapped_column(
        ForeignKey("contacts.id", ondelete="SET NULL"), default=None
    )
    # open -> abandoned -> (ordered | recovered | emptied); open -> anonymous (idle, but no
    # contact to remind) -> open on the next snapshot; an update of an abandoned cart
    # keeps it abandoned (the steps go on with the current items); refilling an emptied cart
    # starts a new run, so its steps are planned afresh.
    status: Mapped[str] = mapped_column(String(16), default="open")
    run: Mapped[int] = mapped_column(default=1)
    items: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    restore_url: Mapped[str] = mapped_column(Text, default="")
    # A random token naming this cart in restore links, so links never carry our row ids.
    token: Mapped[str] = mapped_column(String(32), unique=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # When we received the newest snapshot: steps are timed from it (our clock, not the
    # shopper's, which may be hours off).
    last_activity_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The shopper's clock time of the newest snapshot applied; an older one is ignored, so
    # snapshots that arrive out of order cannot roll the cart back.
    snapshot_at: Mapped[datetime] = mapped_column(UTCDateTime)
    abandoned_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    order_id: Mapped[int | None] = mapped_column(
        ForeignKey("orders.id", ondelete="SET NULL", use_alter=True), default=None
    )
    # The storefront saw this cart become this platform order (thank-you page), even if the
    # order webhook has not arrived yet.
    order_ref: Mapped[str | None] = mapped_column(String(64), default=None)
    # The addresses given with this cart's own snapshots. Its reminders go only there: the
    # storefront is unauthenticated, so a snapshot naming someone else's e-mail must not
    # redirect that person's messages, nor read their carts.
    email: Mapped[str | None] = mapped_column(String(255), default=None)
    phone: Mapped[str | None] = mapped_column(String(20), default=None)
    # The first name this cart's snapshots gave (one that looks like a name): it greets only
    # in this cart's messages, never on the contact.
    first_name: Mapped[str] = mapped_column(String(40), default="")


class Order(Base):
    __tablename__ = "orders"
    __table_args__ = (UniqueConstraint("shop_id", "platform_order_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    platform_order_id: Mapped[str] = mapped_column(String(64))
    contact_id: Mapped[int | None] = mapped_column(
        ForeignKey("contacts.id", ondelete="SET NULL"), default=None
    )
    email: Mapped[str | None] = mapped_column(String(255), default=None)
    phone: Mapped[str | None] = mapped_column(String(20), default=None)
    status_id: Mapped[str] = mapped_column(String(16), default="")
    status_type: Mapped[str] = mapped_column(
        String(16), default=""
    )  # new, open, closed, unrealised
    paid: Mapped[bool] = mapped_column(default=False)
    total: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"))
    currency: Mapped[str] = mapped_column(String(3), default="")
    placed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Attribution: the message that preceded this order within its window (see attribution.py).
    attributed_message_id: Mapped[int | None] = mapped_column(
        ForeignKey("messages.id", ondelete="SET NULL", use_alter=True), default=None
    )
    attributed_scenario: Mapped[str | None] = mapped_column(String(32), default=None)


class CatalogueProduct(Base):
    """What the shop's own catalogue says of a product or variant, read over the platform's
    REST API: a storefront post names products by id only, and only these names, prices,
    images and links reach a message (the page could claim anything)."""

    __tablename__ = "catalogue_products"
    __table_args__ = (UniqueConstraint("shop_id", "product_id", "variant_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    product_id: Mapped[str] = mapped_column(String(64))
    variant_id: Mapped[str] = mapped_column(String(64), default="")
    # found | missing (the platform does not know it: dropped from messages) | pending
    status: Mapped[str] = mapped_column(String(16), default="pending")
    name: Mapped[str] = mapped_column(String(255), default="")
    price: Mapped[Decimal | None] = mapped_column(Money, default=None)
    image_url: Mapped[str] = mapped_column(Text, default="")
    product_url: Mapped[str] = mapped_column(Text, default="")
    fetched_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    attempts: Mapped[int] = mapped_column(default=0)
    # When to read it (again): at once for a new id, then on a cache lifetime or a back-off.
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ProductStock(Base):
    """Last known stock per product/variant, to see the 0 -> >0 edge of back in stock."""

    __tablename__ = "product_stocks"
    __table_args__ = (UniqueConstraint("shop_id", "product_id", "variant_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    product_id: Mapped[str] = mapped_column(String(64))
    variant_id: Mapped[str] = mapped_column(String(64), default="")
    quantity: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # A stock change may fire no webhook: products someone waits for are re-read from the
    # platform's REST API when this comes (None: nobody waits).
    recheck_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    # When the platform last told us this stock (a webhook or a read): an older report that
    # arrives later is not applied, and a notice sent later than planned asks for a fresh read.
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class HistoryImport(Base):
    """One import of a shop's past customers or orders through the platform's REST API, page by
    page; `next_page` is committed with each page's rows, so a crash resumes where it stopped."""

    __tablename__ = "history_imports"
    __table_args__ = (UniqueConstraint("shop_id", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))  # customers | orders
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending, done, failed
    since: Mapped[datetime] = mapped_column(UTCDateTime)
    next_page: Mapped[int] = mapped_column(default=1)
    pages: Mapped[int | None] = mapped_column(default=None)  # known after the first page
    rows: Mapped[int] = mapped_column(default=0)
    attempts: Mapped[int] = mapped_column(default=0)
    error: Mapped[str] = mapped_column(Text, default="")
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)  # the next page's turn (pacing)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class RestockSubscription(Base):
    """A shopper asked to be told when a product/variant is back; it is its own consent."""

    __tablename__ = "restock_subscriptions"

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    product_id: Mapped[str] = mapped_column(String(64))
    variant_id: Mapped[str] = mapped_column(String(64), default="")
    channel: Mapped[str] = mapped_column(String(8))
    address: Mapped[str] = mapped_column(String(255), default="")  # e-mail/E.164
    # waiting -> notified, or expired / cancelled (product deleted, unsubscribed)
    status: Mapped[str] = mapped_column(String(16), default="waiting")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    reason: Mapped[str] = mapped_column(String(120), default="")


Index("ix_carts_shop_id_status_last_activity_at", Cart.shop_id, Cart.status, Cart.last_activity_at)
Index("ix_carts_status_last_activity_at", Cart.status, Cart.last_activity_at)
Index("ix_carts_contact_id", Cart.contact_id)
Index("ix_carts_shop_id_email", Cart.shop_id, Cart.email)
Index("ix_catalogue_products_due_at", CatalogueProduct.due_at)
Index("ix_carts_shop_id_phone", Cart.shop_id, Cart.phone)
Index("ix_orders_shop_id_contact_id_placed_at", Order.shop_id, Order.contact_id, Order.placed_at)
Index(
    "ix_restock_subscriptions_shop_id_product_id_variant_id_status",
    RestockSubscription.shop_id,
    RestockSubscription.product_id,
    RestockSubscription.variant_id,
    RestockSubscription.status,
)
Index("ix_product_stocks_recheck_at", ProductStock.recheck_at)
Index(
    "ix_restock_subscriptions_status_expires_at",
    RestockSubscription.status,
    RestockSubscription.expires_at,
)
Index("ix_history_imports_status_due_at", HistoryImport.status, HistoryImport.due_at)
# One waiting subscription per product, channel and address: a second sign-up is the same wish.
Index(
    "uq_restock_subscriptions_waiting",
    RestockSubscription.shop_id,
    RestockSubscription.product_id,
    RestockSubscription.variant_id,
    RestockSubscription.channel,
    RestockSubscription.address,
    unique=True,
    postgresql_where=RestockSubscription.status == "waiting",
    sqlite_where=RestockSubscription.status == "waiting",
)
