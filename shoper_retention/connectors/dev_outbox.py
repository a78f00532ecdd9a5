"""The dev outbox: a connector that stores what it would have sent, for a newcomer or a demo
with no SMSAPI or SMTP account. Listed at /dev/outbox and in the settings page."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from shoper_retention.clock import utcnow
from shoper_retention.connectors.base import Connector, Outcome, OutgoingMessage, Sent
from shoper_retention.messaging.sms_text import segment_count
from shoper_retention.models import DevOutboxEntry


class DevOutboxConnector:
    name = "dev_outbox"
    idempotent = True  # the same key is stored once

    def __init__(self, channel: str, factory: sessionmaker[Session]) -> None:
        self.channel = channel
        self._factory = factory

    def __repr__(self) -> str:
        return f"DevOutboxConnector({self.channel!r})"

    def __enter__(self) -> Connector:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def send(self, message: OutgoingMessage) -> Outcome:
        """Idempotent like a real provider: the same key is stored once."""
        with self._factory() as session, session.begin():
            existing = session.scalars(
                select(DevOutboxEntry).where(
                    DevOutboxEntry.idempotency_key == message.idempotency_key
                )
            ).first()
            if existing is not None:
                return Sent(provider_id=f"dev-{existing.id}", already_sent=True)
            entry = DevOutboxEntry(
                shop_id=message.shop_id,
                message_id=message.message_id,
                idempotency_key=message.idempotency_key,
                channel=message.channel,
                to_address=message.to,
                sender=message.sender,
                subject=message.subject,
                body_text=message.text,
                body_html=message.html,
                headers=dict(message.headers),
                created_at=utcnow(),
            )
            session.add(entry)
            session.flush()
            segments = segment_count(message.text) if message.channel == "sms" else None
            return Sent(provider_id=f"dev-{entry.id}", segments=segments)
