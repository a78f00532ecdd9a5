"""Raw deliveries (webhooks, storefront events) stored before we answer 2xx.

The web process only verifies and inserts; the worker claims rows and turns them into state.
A unique dedupe key per shop makes the same delivery stored once, however often it arrives."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from shoper_retention.db import Base, UTCDateTime


class InboxDelivery(Base):
    __tablename__ = "inbox"
    __table_args__ = (UniqueConstraint("shop_id", "dedupe_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    source: Mapped[str] = mapped_column(String(16))  # shoper, storefront, ecwid
    event_name: Mapped[str] = mapped_column(String(64))
    dedupe_key: Mapped[str] = mapped_column(String(128))
    headers: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    body: Mapped[bytes] = mapped_column(LargeBinary)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # pending -> processed | failed ; a claim is a lease, so a dead worker's rows come back.
    status: Mapped[str] = mapped_column(String(16), default="pending")
    claim_token: Mapped[str | None] = mapped_column(String(32), default=None)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    attempts: Mapped[int] = mapped_column(default=0)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    error: Mapped[str] = mapped_column(Text, default="")
    # When the raw body (and headers) were dropped, a retention period after processing: a
    # flood of storefront posts must not grow the database for ever.
    purged_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


Index("ix_inbox_status_id", InboxDelivery.status, InboxDelivery.id)
Index("ix_inbox_claim_token", InboxDelivery.claim_token)
Index("ix_inbox_purged_at_processed_at", InboxDelivery.purged_at, InboxDelivery.processed_at)
