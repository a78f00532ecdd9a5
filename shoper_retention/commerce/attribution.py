"""Which message earned an order: the latest one the contact clicked within 5 days, or the
latest SMS sent within 1 day (an SMS is often acted on without a click)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from shoper_retention.models import Message, Order

CLICK_WINDOW = timedelta(days=5)
SMS_SEND_WINDOW = timedelta(days=1)


def attribute(session: Session, order: Order) -> Message | None:
    if order.contact_id is None or order.attributed_message_id is not None:
        return None
    placed = order.placed_at
    candidates = session.scalars(
        select(Message)
        .where(
            Message.shop_id == order.shop_id,
            Message.contact_id == order.contact_id,
            Message.sent_at.is_not(None),
            Message.sent_at <= placed,
            or_(
                and_(
                    Message.clicked_at.is_not(None),
                    Message.clicked_at >= placed - CLICK_WINDOW,
                    Message.clicked_at <= placed,
                ),
                and_(Message.channel == "sms", Message.sent_at >= placed - SMS_SEND_WINDOW),
            ),
        )
        .order_by(Message.sent_at.desc())
        .limit(1)
    ).first()
    if candidates is not None:
        order.attributed_message_id = candidates.id
        order.attributed_scenario = candidates.scenario
    return candidates
