"""Installed shops, their (encrypted) credentials, settings and paused channels."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from shoper_retention.db import Base, UTCDateTime


class Shop(Base):
    __tablename__ = "shops"
    __table_args__ = (UniqueConstraint("platform", "platform_shop_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    platform: Mapped[str] = mapped_column(String(16))  # "shoper", "ecwid", "demo"
    platform_shop_id: Mapped[str] = mapped_column(String(64))  # Shoper licence id, Ecwid store id
    # Random, URL-safe, used in our webhook URL; not guessable from the licence id.
    ref: Mapped[str] = mapped_column(String(32), unique=True)
    # Non-secret key the storefront widget uses; it identifies, it does not authenticate.
    public_key: Mapped[str] = mapped_column(String(32), unique=True)
    # Secret part of the SMSAPI delivery-report URL.
    report_token: Mapped[str] = mapped_column(String(48), unique=True)
    status: Mapped[str] = mapped_column(String(16), default="active")  # active | uninstalled
    shop_url: Mapped[str] = mapped_column(String(255), default="")
    name: Mapped[str] = mapped_column(String(255), default="")
    email: Mapped[str] = mapped_column(String(255), default="")
    language: Mapped[str] = mapped_column(String(8), default="pl")  # "pl" or "en"
    currency: Mapped[str] = mapped_column(String(3), default="PLN")
    timezone: Mapped[str] = mapped_column(String(64), default="Europe/Warsaw")
    country: Mapped[str] = mapped_column(String(2), default="PL")
    app_version: Mapped[str] = mapped_column(String(32), default="")
    access_token_enc: Mapped[str | None] = mapped_column(Text, default=None)
    refresh_token_enc: Mapped[str | None] = mapped_column(Text, default=None)
    token_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    scopes: Mapped[str] = mapped_column(Text, default="")
    webhook_secret_enc: Mapped[str | None] = mapped_column(Text, default=None)
    webhook_ids: Mapped[list[Any]] = mapped_column(JSON, default=list)
    webhooks_registered: Mapped[bool] = mapped_column(default=False)
    setup_error: Mapped[str] = mapped_column(Text, default="")
    smsapi_token_enc: Mapped[str | None] = mapped_column(Text, default=None)
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    last_callback_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    # When the worker first processed a delivery from the shop's pages: the settings page
    # says so, or that none has arrived yet.
    widget_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    # The latest such delivery, to within an hour (ingest/pipeline.note_widget_seen).
    widget_last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    installed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    uninstalled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)

    @property
    def active(self) -> bool:
        return self.status == "active"

    @classmethod
    def new(cls, platform: str, platform_shop_id: str, now: datetime) -> Shop:
        """A shop installing for the first time, with its own random webhook ref, storefront
        key and report token (none derived from the platform's id)."""
        return cls(
            platform=platform,
            platform_shop_id=platform_shop_id,
            ref=secrets.token_urlsafe(12),
            public_key=secrets.token_urlsafe(12),
            report_token=secrets.token_urlsafe(24),
            installed_at=now,
            settings={},
        )


class ChannelPause(Base):
    """A channel a shop cannot use until the merchant fixes its configuration.

    Dispatch skips claiming these shops' messages, so they stay pending, not failed."""

    __tablename__ = "channel_pauses"

    shop_id: Mapped[int] = mapped_column(
        ForeignKey("shops.id", ondelete="CASCADE"), primary_key=True
    )
    channel: Mapped[str] = mapped_column(String(8), primary_key=True)
    reason: Mapped[str] = mapped_column(Text)
    since: Mapped[datetime] = mapped_column(UTCDateTime)


Index("ix_shops_status", Shop.status)


class WorkerHeartbeat(Base):
    """When each worker last finished a pass: /healthz and the settings page show it, so a
    scheduler that stopped is seen, not discovered when carts go unrecovered."""

    __tablename__ = "worker_heartbeats"

    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    beat_at: Mapped[datetime] = mapped_column(UTCDateTime)


class HealthProbe(Base):
    """A row each web process rewrites on /healthz: a read cannot tell that writes fail (a full
    disk, a read-only file), and every delivery we take is a write."""

    __tablename__ = "health_probes"

    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    probed_at: Mapped[datetime] = mapped_column(UTCDateTime)
