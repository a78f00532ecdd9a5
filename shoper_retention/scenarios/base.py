"""What a scenario is. Ingest, the scans, dispatch, shopper links and the settings page iterate
the registry (registry.py); none of them knows a scenario by name.

A scenario only decides: what to plan when an event it reacts to arrives (the state that event
carries is applied already), what to plan on the clock, why a message must not go out any more,
and what its templates see. Shared planning rules are in planning.py; its settings are declared
in its `settings` schema (settings_schema.py), which gives the defaults, the form and the page."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.orm import Session

from shoper_retention.ingest.events import DomainEvent
from shoper_retention.messaging.coupons import CouponInfo, CouponPolicy
from shoper_retention.models import Message, Shop
from shoper_retention.scenarios.settings_schema import SettingsSchema


class SendServices(Protocol):
    """What a scenario may ask for while a message is prepared (the dispatcher provides it)."""

    def coupon(
        self, shop: Shop, plan_key: str, policy: CouponPolicy, now: datetime
    ) -> CouponInfo | None:
        """One coupon per `plan_key` (a scenario run), created on first use."""

    def link_url(self, message_id: int, link: str) -> str:
        """A tracked link in the message; a click resolves `link` through `link_target`."""

    def confirmation_url(self, message_id: int) -> str:
        """The signed link that confirms the consent a confirmation request asks about."""


class Scenario(Protocol):
    name: str
    marketing: bool
    # False for what the add-on itself must send (a consent confirmation): no merchant switch.
    switchable: bool
    # Its SMS carry the opt-out line: marketing, and notices the shopper asked for (the law
    # wants an opt-out there too); not a consent confirmation, which asks a question.
    opt_out: bool
    settings: SettingsSchema
    reacts_to: tuple[type, ...]  # the domain events `on_event` is called with

    def on_event(self, session: Session, shop: Shop, event: DomainEvent, now: datetime) -> None:
        """Plan or cancel messages in reaction to an event (same transaction, state applied)."""

    def scan(self, session: Session, shop: Shop, now: datetime) -> int:
        """Clock-driven planning (carts gone idle, birthdays, ...); returns messages planned."""

    def exit_reason(
        self, session: Session, shop: Shop, message: Message, now: datetime
    ) -> str | None:
        """Re-checked right before a send: why this message must not go out any more."""

    def wait_until(
        self, session: Session, shop: Shop, message: Message, now: datetime
    ) -> tuple[datetime, str] | None:
        """Asked after `exit_reason`: hold the message until when, and why (None: send)."""

    def context(
        self, session: Session, shop: Shop, message: Message, now: datetime, services: SendServices
    ) -> dict[str, Any]:
        """The template variables for this message."""

    def recipient(self, session: Session, shop: Shop, message: Message) -> str | None:
        """Where this message goes on its channel (None: nowhere, it is skipped)."""

    def link_target(self, session: Session, shop: Shop, message: Message, link: str) -> str | None:
        """Where a tracked link named `link` in this message leads (None: the shop's home)."""
