"""Store a delivery once, claim pending ones for processing.

The web process calls `store` and answers; nothing else happens in the request. The dedupe
key's unique constraint makes the insert idempotent without a read first."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from shoper_retention.models import InboxDelivery

MAX_ATTEMPTS = 5

# Built once, values bound at execution: the statement's cache key is constant, so SQLAlchemy
# neither rebuilds nor re-keys it per delivery (`insert(InboxDelivery).values(**values)` did
# both, through the ORM's bulk path: about a third of the request's CPU).
STORE_STATEMENTS = {
    name: module.insert(InboxDelivery.__table__)
    .on_conflict_do_nothing(index_elements=["shop_id", "dedupe_key"])
    .returning(InboxDelivery.__table__.c.id)  # rowcount is -1 here on psycopg: ask for the id
    for name, module in (("postgresql", postgresql), ("sqlite", sqlite))
}


def body_digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()[:40]


def new_row(
    *,
    shop_id: int,
    source: str,
    event_name: str,
    dedupe_key: str,
    body: bytes,
    headers: dict[str, Any],
    now: datetime,
) -> dict[str, Any]:
    """A new delivery's column values, as both INSERT paths bind them (`store` here, and the
    Shoper webhook endpoint's through the driver: inbox_writer.py)."""
    return {
        "shop_id": shop_id,
        "source": source,
        "event_name": event_name[:64],
        "dedupe_key": dedupe_key[:128],
        "headers": headers,
        "body": body,
        "received_at": now,
        "status": "pending",
        "attempts": 0,
        "error": "",
    }


def store(session: Session, row: dict[str, Any]) -> bool:
    """Insert the delivery (a `new_row`); False when the same delivery was stored before."""
    dialect = session.get_bind().dialect.name
    return session.execute(STORE_STATEMENTS[dialect], row).scalar() is not None


def claim(session: Session, now: datetime, limit: int, lease: timedelta) -> list[InboxDelivery]:
    """Take up to `limit` pending deliveries for `lease`; the caller commits the claim.

    SKIP LOCKED keeps concurrent workers on disjoint rows on PostgreSQL; on SQLite the write
    lock (BEGIN IMMEDIATE) serialises claims, and the UPDATE re-checks the condition anyway."""
    token = secrets.token_hex(8)
    claimable = or_(
        and_(InboxDelivery.status == "pending", InboxDelivery.lease_until.is_(None)),
        and_(InboxDelivery.status == "pending", InboxDelivery.lease_until < now),
    )
    ids = list(
        session.scalars(
            select(InboxDelivery.id)
            .where(claimable)
            .order_by(InboxDelivery.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    )
    if not ids:
        return []
    session.execute(
        update(InboxDelivery)
        .where(InboxDelivery.id.in_(ids), claimable)
        .values(claim_token=token, lease_until=now + lease)
        .execution_options(synchronize_session=False)
    )
    return list(
        session.scalars(
            select(InboxDelivery)
            .where(InboxDelivery.claim_token == token)
            .order_by(InboxDelivery.id)
        )
    )


def shops_behind(session: Session, received_before: datetime) -> set[int]:
    """Shops with a platform delivery still pending from before `received_before`: waiting
    for its platform, or retrying. Until it is in, we may not know that a cart was paid.
    Storefront deliveries do not count: they never tell of an order."""
    return set(
        session.scalars(
            select(InboxDelivery.shop_id)
            .where(
                InboxDelivery.status == "pending",
                InboxDelivery.source != "storefront",
                InboxDelivery.received_at < received_before,
            )
            .distinct()
        )
    )


def purge_bodies(session: Session, now: datetime, older_than: timedelta, limit: int) -> int:
    """Drop the raw body and headers of up to `limit` deliveries processed (or failed) more
    than `older_than` ago; returns how many. Their state lives on in carts, orders and
    contacts; the raw copy only helps while a problem may still be looked into. Pending rows
    are never touched. The caller commits; SKIP LOCKED keeps concurrent workers apart."""
    purgeable = and_(
        InboxDelivery.purged_at.is_(None),
        InboxDelivery.processed_at < now - older_than,
        InboxDelivery.status.in_(("processed", "failed")),
    )
    ids = list(
        session.scalars(
            select(InboxDelivery.id)
            .where(purgeable)
            .order_by(InboxDelivery.processed_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    )
    if not ids:
        return 0
    result = session.execute(
        update(InboxDelivery)
        .where(InboxDelivery.id.in_(ids), purgeable)
        .values(body=b"", headers={}, purged_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
