"""Messages planned by scenarios, waiting, being sent or done; coupons; the dev outbox."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from shoper_retention.db import Base, UTCDateTime

# Statuses a message can still leave; every other status is final.
PENDING_STATUSES = ("scheduled", "claimed")


class Message(Base):
    """One message to one contact on one channel for one step of one scenario run.

    `plan_key` is unique per shop: planning the same step twice (a repeated webhook, two
    workers scanning at once) hits the constraint instead of creating a second message."""

    __tablename__ = "messages"
    __table_args__ = (UniqueConstraint("shop_id", "plan_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    scenario: Mapped[str] = mapped_column(String(32))
    subject_type: Mapped[str] = mapped_column(String(16))  # cart, order, product, contact
    subject_id: Mapped[int] = mapped_column()
    step: Mapped[int] = mapped_column(default=1)
    # The subject's run this message belongs to (a cart started again is a new run): a
    # message of an earlier run must not go out, whatever state its claim was in.
    run: Mapped[int] = mapped_column(default=1)
    channel: Mapped[str] = mapped_column(String(8))
    marketing: Mapped[bool] = mapped_column(default=True)
    plan_key: Mapped[str] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16), default="scheduled")
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    planned_at: Mapped[datetime] = mapped_column(UTCDateTime)
    claim_token: Mapped[str | None] = mapped_column(String(32), default=None)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    attempts: Mapped[int] = mapped_column(default=0)
    reason: Mapped[str] = mapped_column(Text, default="")
    to_address: Mapped[str] = mapped_column(String(255), default="")
    subject: Mapped[str] = mapped_column(Text, default="")
    body_text: Mapped[str] = mapped_column(Text, default="")
    segments: Mapped[int | None] = mapped_column(default=None)
    connector: Mapped[str] = mapped_column(String(16), default="")
    provider_id: Mapped[str] = mapped_column(String(128), default="")
    provider_status: Mapped[str] = mapped_column(String(32), default="")
    coupon_id: Mapped[int | None] = mapped_column(
        ForeignKey("coupons.id", ondelete="SET NULL"), default=None
    )
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    clicked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    # Set when a worker hands the message to a provider, cleared when the outcome is recorded.
    # Still set on a later claim means a worker died mid-send: the outcome is unknown.
    in_flight_since: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    @property
    def idempotency_key(self) -> str:
        """Deterministic per message: SMSAPI idx and e-mail Message-ID local part."""
        return f"sr-{self.shop_id}-{self.id}"


class Coupon(Base):
    """A code we put in a message: unique ones are created at the platform, once per run."""

    __tablename__ = "coupons"
    # One coupon per scenario run: the e-mail and the SMS of a step share it, and a retried
    # send reuses it instead of creating another code at the platform.
    __table_args__ = (UniqueConstraint("shop_id", "plan_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    plan_key: Mapped[str] = mapped_column(String(128))  # e.g. cart_recovery:cart:12
    code: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))  # unique | static | none (could not get one)
    discount_percent: Mapped[int] = mapped_column(default=0)
    platform_id: Mapped[str] = mapped_column(String(64), default="")
    valid_until: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class DevOutboxEntry(Base):
    """What the dev outbox connector "sent": listed at /dev/outbox and in the settings page."""

    __tablename__ = "dev_outbox"

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int | None] = mapped_column(
        ForeignKey("shops.id", ondelete="CASCADE"), default=None
    )
    message_id: Mapped[int | None] = mapped_column(default=None)
    idempotency_key: Mapped[str] = mapped_column(String(128), unique=True)
    channel: Mapped[str] = mapped_column(String(8))
    to_address: Mapped[str] = mapped_column(String(255))
    sender: Mapped[str] = mapped_column(String(255), default="")
    subject: Mapped[str] = mapped_column(Text, default="")
    body_text: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str] = mapped_column(Text, default="")
    headers: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


Index("ix_messages_status_due_at", Message.status, Message.due_at)
Index("ix_messages_claim_token", Message.claim_token)
Index("ix_messages_shop_id_subject", Message.shop_id, Message.subject_type, Message.subject_id)
Index(
    "ix_messages_contact_id_channel_sent_at", Message.contact_id, Message.channel, Message.sent_at
)
Index("ix_messages_shop_id_provider_id", Message.shop_id, Message.provider_id)
Index(
    "ix_messages_shop_id_channel_to_address",
    Message.shop_id,
    Message.channel,
    Message.to_address,
)
Index("ix_messages_shop_id_id", Message.shop_id, Message.id)
