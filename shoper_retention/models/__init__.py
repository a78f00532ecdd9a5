"""The schema. Models are the source of truth; Alembic revisions in migrations/ follow them."""

from shoper_retention.db import Base
from shoper_retention.models.commerce import (
    Cart,
    CatalogueProduct,
    HistoryImport,
    Order,
    ProductStock,
    RestockSubscription,
)
from shoper_retention.models.contacts import Consent, Contact, Suppression
from shoper_retention.models.inbox import InboxDelivery
from shoper_retention.models.outbox import Coupon, DevOutboxEntry, Message
from shoper_retention.models.shops import ChannelPause, HealthProbe, Shop, WorkerHeartbeat
from shoper_retention.models.tracking import LinkClick

__all__ = [
    "Base",
    "Cart",
    "CatalogueProduct",
    "HistoryImport",
    "ChannelPause",
    "Consent",
    "Contact",
    "Coupon",
    "DevOutboxEntry",
    "HealthProbe",
    "InboxDelivery",
    "LinkClick",
    "Message",
    "Order",
    "ProductStock",
    "RestockSubscription",
    "Shop",
    "Suppression",
    "WorkerHeartbeat",
]
