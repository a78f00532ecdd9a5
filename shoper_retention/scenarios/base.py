"""What a scenario is. The ingest step, the scans, dispatch and the settings page iterate the
registry in scenarios/__init__.py; none of them knows a scenario by name."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.orm import Session

from shoper_retention.ingest.events import DomainEvent
from shoper_retention.models import Message, Shop
from shoper_retention.shop_config import CouponPolicy


@dataclass(frozen=True)
class CouponInfo:
    code: str
    discount_percent: int
    valid_until: datetime | None
    id: int | None = None


class SendServices(Protocol):
    """What a scenario may ask for while a message is prepared (the dispatcher provides it)."""

    def coupon(
        self, shop: Shop, plan_key: str, policy: CouponPolicy, now: datetime
    ) -> CouponInfo | None:
        """One coupon per `plan_key` (a scenario run), created on first use."""

    def confirmation_url(self, message_id: int) -> str:
        """The signed link that confirms the consent a confirmation request asks about."""


class Scenario(Protocol):
    name: str
    title: str  # shown to merchants
    marketing: bool
    # False for what the add-on itself must send (a consent confirmation): no merchant switch.
    switchable: bool

    def on_event(self, session: Session, shop: Shop, event: DomainEvent, now: datetime) -> None:
        """Plan or cancel messages in reaction to a domain event (same transaction)."""

    def scan(self, session: Session, shop: Shop, now: datetime) -> int:
        """Clock-driven planning (carts gone idle, birthdays, ...); returns messages planned."""

    def exit_reason(
        self, session: Session, shop: Shop, message: Message, now: datetime
    ) -> str | None:
        """Re-checked right before a send: why this message must not go out any more."""

    def context(
        self, session: Session, shop: Shop, message: Message, now: datetime, services: SendServices
    ) -> dict[str, Any]:
        """The template variables for this message."""

    def recipient(self, session: Session, shop: Shop, message: Message) -> str | None:
        """Where this message goes on its channel (None: nowhere, it is skipped)."""

    def link_target(self, session: Session, shop: Shop, message: Message, link: str) -> str | None:
        """Where a tracked link named `link` in this message leads (None: the shop's home)."""
