"""The confirmation request: one message asking the owner of an address to confirm a consent
the storefront claimed (consent.py plans it). Not marketing and not a merchant's switch.

Its text is fixed: the shop's name (from the platform) and our link, nothing the storefront
sent, so a forged claim cannot put anyone's words in front of a stranger."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from shoper_retention.contacts import consent
from shoper_retention.models import Message, Shop
from shoper_retention.scenarios.base import SendServices
from shoper_retention.scenarios.settings_schema import SettingsSchema

SETTINGS = SettingsSchema(
    title={"pl": "Potwierdzenie zgody", "en": "Consent confirmation"},
    description={
        "pl": "Gdy ktoś zaznaczy zgodę w sklepie, właściciel adresu dostaje jedną prośbę o jej "
        "potwierdzenie. Tej wiadomości nie można wyłączyć: bez potwierdzenia nie wyślemy nic "
        "innego.",
        "en": "When someone ticks a consent box in the shop, the address's owner gets one "
        "request to confirm it. It cannot be switched off: nothing else goes out without it.",
    },
)


class ConsentConfirmation:
    name = consent.CONFIRMATION
    marketing = False
    switchable = False
    opt_out = False
    settings = SETTINGS
    reacts_to: tuple[type, ...] = ()  # planned where the claim is recorded (consent.py)

    def on_event(self, session: Session, shop: Shop, event: Any, now: datetime) -> None:
        return None

    def scan(self, session: Session, shop: Shop, now: datetime) -> int:
        return 0

    def exit_reason(
        self, session: Session, shop: Shop, message: Message, now: datetime
    ) -> str | None:
        claim = consent.claim_of(session, message)
        if claim is None:
            return "claim deleted"
        if consent.purpose(claim) == "notice" and consent.allows_requested(
            session, shop, message.channel, claim.address
        ):
            return "notices allowed meanwhile"
        current = consent.state(
            session, shop, message.channel, claim.address, cart_id=claim.cart_id
        )
        if current != "pending":
            # Confirmed meanwhile (another claim's request), granted by the shop's records,
            # or withdrawn by the same cart: nothing left to ask.
            return f"consent {current} meanwhile"
        if consent.confirmation_sent_since(
            session, message, claim.address, now - consent.CONFIRMATION_INTERVAL
        ):
            # Two requests planned 30 days apart can still be due together (a channel paused
            # all that time): one reaches the owner.
            return "already asked in the last 30 days"
        return None

    def context(
        self, session: Session, shop: Shop, message: Message, now: datetime, services: SendServices
    ) -> dict[str, Any]:
        claim = consent.claim_of(session, message)
        assert claim is not None  # exit_reason ran first
        return {
            "confirm_url": services.confirmation_url(message.id),
            "purpose": consent.purpose(claim),  # a notice's request confirms only notices
        }

    def wait_until(
        self, session: Session, shop: Shop, message: Message, now: datetime
    ) -> tuple[datetime, str] | None:
        return None

    def recipient(self, session: Session, shop: Shop, message: Message) -> str | None:
        claim = consent.claim_of(session, message)
        return claim.address if claim is not None else None

    def link_target(self, session: Session, shop: Shop, message: Message, link: str) -> str | None:
        return None
