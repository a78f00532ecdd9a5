"""The paced REST re-check of stock for products someone waits for.

A stock change may fire no webhook, so each product or variant with waiting subscribers is read
from the platform when its `ProductStock.recheck_at` comes, and every RECHECK_INTERVAL after;
its stock goes through ingest like a webhook's (`StockReported`: state, then the scenarios),
so a restock found this way is planned the same way. Reads happen outside any transaction, at
most MAX_READS a pass; a product the platform does not know ends its subscriptions."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from shoper_retention.commerce import stock
from shoper_retention.commerce.stock import StockReader
from shoper_retention.ingest.events import StockReported
from shoper_retention.ingest.pipeline import apply_events
from shoper_retention.models import ProductStock, Shop

log = logging.getLogger(__name__)

RECHECK_INTERVAL = timedelta(hours=1)
READ_LEASE = timedelta(minutes=5)  # a claimed row is pushed this far ahead while it is read
RETRY_BASE = timedelta(minutes=5)
MAX_READS = 100  # per worker pass: dispatch must not wait behind a long re-check


@dataclass(frozen=True)
class _Due:
    row_id: int
    shop: Shop  # detached: what the reader needs
    product_id: str
    variant_id: str


def recheck_due(
    factory: sessionmaker[Session], read: StockReader, now: datetime, max_reads: int = MAX_READS
) -> int:
    """Read the stock of every product due for a re-check; returns how many were read."""
    with factory() as session, session.begin():
        due = _claim(session, now, max_reads)
    read_count = 0
    for item in due:
        try:
            quantity = read(item.shop, item.product_id, item.variant_id)
        except Exception as exc:
            # StockUnavailable, or a bug or an odd answer: the other products go on.
            log.info(
                "shop %s: stock of %s/%s not read: %s",
                item.shop.id,
                item.product_id,
                item.variant_id,
                exc,
            )
            with factory() as session, session.begin():
                row = session.get(ProductStock, item.row_id)
                if row is not None:
                    row.recheck_at = now + RETRY_BASE
            continue
        read_count += 1
        with factory() as session, session.begin():
            _record(session, item, quantity, now)
    return read_count


def _claim(session: Session, now: datetime, limit: int) -> list[_Due]:
    rows = session.execute(
        select(ProductStock, Shop)
        .join(Shop, Shop.id == ProductStock.shop_id)
        .where(ProductStock.recheck_at <= now, Shop.status == "active")
        .order_by(ProductStock.recheck_at, ProductStock.id)
        .limit(limit)
        .with_for_update(skip_locked=True, of=ProductStock)
    ).all()
    due = []
    for row, shop in rows:
        row.recheck_at = now + READ_LEASE
        due.append(_Due(row.id, shop, row.product_id, row.variant_id))
    return due


def _record(session: Session, item: _Due, quantity: Decimal | None, now: datetime) -> None:
    shop = session.get(Shop, item.shop.id)
    row = session.get(ProductStock, item.row_id)
    if shop is None or row is None:
        return
    if quantity is None:
        # A product (or variant) the platform does not know: nobody will be told about it.
        stock.end_waiting(
            session,
            shop.id,
            item.product_id,
            item.variant_id or None,
            "cancelled",
            "no such product",
            now,
        )
    else:
        event = StockReported(item.product_id, quantity, now, item.variant_id)
        apply_events(session, shop, [event], now)
    waiting = stock.has_waiting(session, shop.id, item.product_id, item.variant_id)
    row.recheck_at = now + RECHECK_INTERVAL if waiting else None
