"""SMSAPI delivery reports (`/smsapi/reports/<token>`): GET or POST with comma-separated lists
`MsgId, status, idx, donedate`, several messages per call; SMSAPI expects the body "OK".

Reports carry no signature, so the URL holds the shop's secret report token; each report is
matched to our message by provider id or idx within that shop, and applying one twice changes
nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, request
from sqlalchemy import or_, select

from shoper_retention.errors import UnknownShop
from shoper_retention.messaging import outbox
from shoper_retention.models import Message, Shop
from shoper_retention.web.services import services

blueprint = Blueprint("smsapi_reports", __name__)
BUDGET = "smsapi reports"  # requests with an unknown token per address (rate_limits.py)
DELIVERED = {"404"}
UNDELIVERED = {"402", "405", "406", "407"}
NAMES = {
    "401": "NOT_FOUND",
    "402": "EXPIRED",
    "403": "SENT",
    "404": "DELIVERED",
    "405": "UNDELIVERED",
    "406": "FAILED",
    "407": "REJECTED",
    "408": "UNKNOWN",
    "409": "QUEUE",
    "410": "ACCEPTED",
    "412": "STOP",
}
MAX_REPORTS = 500
PROVIDER_ID_MAX = 128  # Message.provider_id
ID_DIGITS = 18  # fits a 64-bit id; a longer number cannot name a message of ours


@blueprint.route("/smsapi/reports/<token>", methods=["GET", "POST"])
def delivery_report(token: str) -> Any:
    svc = services()
    svc.limits.refuse_if_blocked(BUDGET, request.remote_addr)
    values = request.values
    ids = _split(values.get("MsgId", ""))
    statuses = _split(values.get("status", ""))
    idxs = _split(values.get("idx", ""))
    done = _split(values.get("donedate", ""))
    now = svc.clock()
    with svc.factory() as session, session.begin():
        # An uninstalled shop's token is dead: its messages are no longer ours to update.
        shop = session.scalars(
            select(Shop).where(Shop.report_token == token, Shop.status == "active")
        ).first()
        if shop is None:
            svc.limits.count_failure(BUDGET, request.remote_addr)  # RateLimited once over it
            raise UnknownShop("unknown report token")
        # A report may carry only idx (no MsgId) for a message: walk the longer list.
        for i in range(min(max(len(ids), len(idxs)), MAX_REPORTS)):
            provider_id = ids[i] if i < len(ids) else ""
            status = statuses[i] if i < len(statuses) else ""
            idx = idxs[i] if i < len(idxs) else ""
            message = _find(session, shop.id, provider_id, idx)
            if message is None:
                continue
            if provider_id and not message.provider_id:
                # Matched by idx: a resend answered "already sent" (53) never told us the id.
                message.provider_id = provider_id[:PROVIDER_ID_MAX]
            at = _done_at(done[i] if i < len(done) else "") or now
            if status in DELIVERED:
                outbox.mark_delivered(message, at, NAMES[status])
            elif status in UNDELIVERED:
                outbox.mark_undelivered(message, at, NAMES[status])
            elif status in NAMES:
                outbox.note_provider_status(message, now, NAMES[status])
            # Anything else is not an SMSAPI status: ignored rather than stored.
    return "OK", 200, {"Content-Type": "text/plain"}


def _split(value: str) -> list[str]:
    return [part.strip() for part in value.split(",")] if value else []


def _find(session: Any, shop_id: int, provider_id: str, idx: str) -> Message | None:
    conditions = []
    if provider_id:
        conditions.append(Message.provider_id == provider_id[:PROVIDER_ID_MAX])
    message_id = _message_id(shop_id, idx)
    if message_id is not None:
        conditions.append(Message.id == message_id)
    if not conditions:
        return None
    return session.scalars(
        select(Message).where(
            Message.shop_id == shop_id, Message.channel == "sms", or_(*conditions)
        )
    ).first()


def _message_id(shop_id: int, idx: str) -> int | None:
    """Our message id from an idx `sr-<shop>-<id>` (Message.idempotency_key) of this shop."""
    prefix = f"sr-{shop_id}-"
    number = idx[len(prefix) :] if idx.startswith(prefix) else ""
    # ASCII digits only (str.isdigit takes "١٢" too), and within the id column's range.
    if not (number.isascii() and number.isdigit()) or len(number) > ID_DIGITS:
        return None
    return int(number)


def _done_at(value: str) -> datetime | None:
    """SMSAPI's `donedate` (unix seconds); a value no clock can hold is ignored."""
    if not (value.isascii() and value.isdigit()):
        return None
    try:
        return datetime.fromtimestamp(int(value), UTC)
    except (OverflowError, OSError, ValueError):
        return None
