"""Rules every message passes right before it is sent, whatever its scenario.

Each check returns a `Verdict`: go, or a named reason to cancel, skip, or move the message.
Dispatch applies them in order; the scenario's own exit condition runs in between."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from shoper_retention import shop_config
from shoper_retention.contacts import consent
from shoper_retention.contacts import records as contacts
from shoper_retention.contacts.phones import sms_refusal
from shoper_retention.models import Message, Shop

CAP_WINDOW = timedelta(hours=24)


@dataclass(frozen=True)
class Verdict:
    action: str  # "send", "cancel", "skip", "move"
    reason: str = ""
    until: datetime | None = None


SEND = Verdict("send")


def next_allowed(due: datetime, timezone: str, window: tuple[time, time]) -> datetime:
    """`due` if it falls inside the daily window in the shop's local time, else the window's
    next opening. Local wall-clock arithmetic, so a DST change moves nothing to 3 a.m."""
    zone = ZoneInfo(timezone)
    start, end = window
    local = due.astimezone(zone)
    wall = local.time().replace(tzinfo=None)
    if start <= wall < end:
        return due
    day = local.date() if wall < start else local.date() + timedelta(days=1)
    opening = datetime.combine(day, start, tzinfo=zone)
    return opening.astimezone(due.tzinfo)


def quiet_hours(shop: Shop, message: Message, now: datetime) -> Verdict:
    allowed = next_allowed(now, shop.timezone, shop_config.quiet_window(shop, message.channel))
    if allowed > now:
        return Verdict("move", "quiet hours", allowed)
    return SEND


def consent_and_suppression(
    session: Session, shop: Shop, message: Message, address: str | None
) -> Verdict:
    """`address` is where the scenario would send (e.g. the phone given with that cart);
    consent must hold for exactly that address, under the policy in consent.py. A cart's
    messages also honour what that cart's own browser said."""
    if not address:
        return Verdict("skip", f"no {message.channel} address")
    if contacts.is_suppressed(session, shop.id, message.channel, address):
        return Verdict("skip", "unsubscribed")
    if message.channel == "sms":
        refusal = sms_refusal(address, shop_config.sms_countries(shop))
        if refusal:
            return Verdict("skip", refusal)
    cart_id = message.subject_id if message.subject_type == "cart" else None
    if message.marketing and not consent.allows(
        session, shop, message.channel, address, cart_id=cart_id
    ):
        return Verdict("skip", f"no {message.channel} consent")
    return SEND


def frequency_cap(
    session: Session, shop: Shop, message: Message, address: str, now: datetime
) -> Verdict:
    """Marketing only: a confirmation request the shopper asked for neither waits for the cap
    nor uses it up. Counted by contact and by address: one address may be on several contact
    records (the storefront never merges them)."""
    if not message.marketing:
        return SEND
    cap = shop_config.frequency_cap(shop, message.channel)
    sent = session.scalar(
        select(func.count(Message.id)).where(
            Message.shop_id == shop.id,
            or_(Message.contact_id == message.contact_id, Message.to_address == address),
            Message.channel == message.channel,
            Message.marketing.is_(True),
            # Sent in the window, or being sent by another worker right now.
            or_(Message.sent_at > now - CAP_WINDOW, Message.in_flight_since.is_not(None)),
            Message.id != message.id,
        )
    )
    if cap >= 0 and (sent or 0) >= cap:
        return Verdict("skip", f"frequency cap ({cap} {message.channel} per 24 h)")
    return SEND
