"""Honouring an opt-out: at once, across every scenario, on the channel it came from."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from shoper_retention.contacts import consent
from shoper_retention.contacts import records as contacts
from shoper_retention.messaging import outbox
from shoper_retention.models import Contact, Message


def unsubscribe(session: Session, message: Message, now: datetime, source: str) -> bool:
    """Suppress the address the message went to; False if it already was suppressed.

    The link was only in that message, so this is the owner's own word (assurance `owner`)."""
    contact = session.get(Contact, message.contact_id)
    address = message.to_address  # set when the message was prepared, i.e. before any link
    if not address:
        return False
    added = contacts.suppress(session, message.shop_id, message.channel, address, source, now)
    if contact is not None:
        consent.record(
            session,
            contact,
            message.channel,
            address,
            False,
            now,
            source=source,
            assurance=consent.OWNER,
        )
        outbox.cancel_pending(
            session,
            message.shop_id,
            "unsubscribed",
            now,
            contact_id=contact.id,
            channel=message.channel,
            marketing_only=True,
        )
    return added
