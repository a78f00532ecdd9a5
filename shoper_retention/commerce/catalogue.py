"""The shop's own catalogue, read over the platform's REST API and cached per product: the only
source of what a message says about a product. A storefront post is unauthenticated, so from a
cart snapshot we keep product ids and quantities and nothing the page wrote as text or price.

Ids a snapshot names are noted as 'pending'; the worker's catalogue job reads them from the
platform (outside any transaction) and records 'found' or 'missing'; `cart_lines` turns a cart
into message lines from those rows only."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol

from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from shoper_retention.models import Cart, CatalogueProduct, Shop

log = logging.getLogger(__name__)

FOUND_LIFETIME = timedelta(hours=24)  # a found product is read again after this
MISSING_LIFETIME = timedelta(hours=24)  # and so is one the platform did not know
RETRY_BASE = timedelta(minutes=1)  # a failed read waits 1, 2, 4 ... minutes
RETRY_MAX = timedelta(hours=6)
# A claimed row is pushed this far ahead while it is read: a worker dying mid-read only
# delays it, and a second worker does not read the same product at the same time.
READ_LEASE = timedelta(minutes=5)
BATCH = 20  # rows claimed per transaction
MAX_READS = 200  # reads per worker pass, so a flood of new ids cannot starve dispatch
# Ids waiting for their first read, per shop: beyond it a snapshot's new ids are not noted
# (a real shop's carts name its products again and again; a flood names new ones).
MAX_PENDING_PER_SHOP = 1000
# An urgent id is due this far in the past, so the shop's share of the next pass reads it
# before the backlog (`due_products` reads each shop's rows by due time).
URGENT_LEAD = timedelta(days=1)

PRODUCT_ID_MAX = 64  # the columns' width; longer ids cannot be a platform's


@dataclass(frozen=True)
class ProductInfo:
    """What the platform's catalogue says of one product or variant."""

    name: str
    price: Decimal | None  # gross unit price in the shop's currency; None if it has none
    image_url: str = ""
    product_url: str = ""


class CatalogueUnavailable(Exception):
    """The platform could not be asked now (credentials, permissions, an outage): try later."""


class CatalogueReader(Protocol):
    """One platform's catalogue. `variant_id` '' means the product itself."""

    def __call__(self, shop: Shop, product_id: str, variant_id: str) -> ProductInfo | None:
        """The product as the platform knows it, None when the platform does not know it;
        raises `CatalogueUnavailable` when it cannot tell now."""


@dataclass(frozen=True)
class Line:
    """One cart line as a message shows it: quantity from the cart, the rest from the
    catalogue."""

    product_id: str
    variant_id: str
    name: str
    quantity: int
    price: Decimal | None
    image_url: str
    product_url: str


@dataclass(frozen=True)
class DueProduct:
    row_id: int
    shop: Shop  # detached, read-only: what the reader needs (URL, language, token)
    product_id: str
    variant_id: str


@dataclass
class RefreshReport:
    found: int = 0
    missing: int = 0
    failed: int = 0


# --- cart items ---------------------------------------------------------------------------


def item_json(product_id: str, variant_id: str, quantity: int) -> dict[str, Any]:
    """A cart item as stored in `Cart.items`: ids and a quantity, nothing else from the page."""
    return {"product_id": product_id, "variant_id": variant_id, "quantity": quantity}


def product_refs(items: Iterable[Mapping[str, Any]]) -> list[tuple[str, str]]:
    """The distinct (product_id, variant_id) pairs of stored cart items, in order."""
    refs: dict[tuple[str, str], None] = {}
    for item in items:
        ref = _ref(item)
        if ref is not None:
            refs[ref] = None
    return list(refs)


def _ref(item: Mapping[str, Any]) -> tuple[str, str] | None:
    product_id = str(item.get("product_id") or "")
    variant_id = str(item.get("variant_id") or "")
    if not product_id or len(product_id) > PRODUCT_ID_MAX or len(variant_id) > PRODUCT_ID_MAX:
        return None
    return product_id, variant_id


def _quantity(item: Mapping[str, Any]) -> int:
    value = item.get("quantity", 1)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        return 1
    return value


# --- the cache ----------------------------------------------------------------------------

# ON CONFLICT DO NOTHING: ingest (a snapshot) and dispatch (an older cart) may note the same id
# at once; the unique constraint settles it without a read first or a failed transaction.
_NOTE_STATEMENTS = {
    name: module.insert(CatalogueProduct.__table__).on_conflict_do_nothing(
        index_elements=["shop_id", "product_id", "variant_id"]
    )
    for name, module in (("postgresql", postgresql), ("sqlite", sqlite))
}


def note_products(
    session: Session,
    shop_id: int,
    refs: Iterable[tuple[str, str]],
    now: datetime,
    *,
    urgent: bool = False,
) -> int:
    """Make sure each (product_id, variant_id) is known to the cache: a new one is 'pending'
    and due at once. Returns how many were new to us (a guess on a race: never negative).

    `urgent`: a message of this cart is about to go. Its ids are noted whatever the shop's
    backlog and read before it (a cart with a due message is a real one; a flood of made-up
    ids is not)."""
    pairs = sorted(set(refs))
    if not pairs:
        return 0
    known = {
        (product_id, variant_id)
        for product_id, variant_id in session.execute(
            select(CatalogueProduct.product_id, CatalogueProduct.variant_id).where(
                CatalogueProduct.shop_id == shop_id,
                CatalogueProduct.product_id.in_({p for p, _ in pairs}),
            )
        )
    }
    new = [p for p in pairs if p not in known]
    if urgent and len(new) < len(pairs):
        _hurry(session, shop_id, [p for p in pairs if p in known], now)
    if not new:
        return 0
    waiting = session.scalar(
        select(func.count(CatalogueProduct.id)).where(
            CatalogueProduct.shop_id == shop_id, CatalogueProduct.status == "pending"
        )
    )
    room = max(0, MAX_PENDING_PER_SHOP - (waiting or 0))
    if not urgent and len(new) > room:
        # Snapshots naming ids by the thousand: the shop's real products are read already or
        # soon, and a cart's ids are noted urgently before its message goes (`exit_reason`).
        log.warning("shop %s: %s catalogue reads waiting; new ids not noted", shop_id, waiting)
        new = new[:room]
        if not new:
            return 0
    due_at = now - URGENT_LEAD if urgent else now
    statement = _NOTE_STATEMENTS[session.get_bind().dialect.name]
    session.execute(
        statement,
        [
            {
                "shop_id": shop_id,
                "product_id": product_id,
                "variant_id": variant_id,
                "status": "pending",
                "name": "",
                "image_url": "",
                "product_url": "",
                "attempts": 0,
                "due_at": due_at,
            }
            for product_id, variant_id in new
        ],
    )
    return len(new)


def _hurry(session: Session, shop_id: int, refs: list[tuple[str, str]], now: datetime) -> None:
    """Pending ids of a cart whose message is about to go: read them first."""
    for product_id, variant_id in refs:
        session.execute(
            update(CatalogueProduct)
            .where(
                CatalogueProduct.shop_id == shop_id,
                CatalogueProduct.product_id == product_id,
                CatalogueProduct.variant_id == variant_id,
                CatalogueProduct.status == "pending",
                CatalogueProduct.due_at > now - URGENT_LEAD,
            )
            .values(due_at=now - URGENT_LEAD)
            .execution_options(synchronize_session=False)
        )


def due_products(session: Session, now: datetime, limit: int) -> list[DueProduct]:
    """Claim up to `limit` rows due for a read of active shops, pushing each `READ_LEASE`
    ahead so no other pass takes it meanwhile. Shared out between the shops with due rows
    (the longest-waiting first), so one shop's flood of ids cannot hold back another's."""
    due = CatalogueProduct.due_at <= now
    shop_ids = list(
        session.scalars(
            select(CatalogueProduct.shop_id)
            .join(Shop, Shop.id == CatalogueProduct.shop_id)
            .where(due, Shop.status == "active")
            .group_by(CatalogueProduct.shop_id)
            .order_by(func.min(CatalogueProduct.due_at))
            .limit(limit)
        )
    )
    per_shop = max(1, limit // max(1, len(shop_ids)))
    claimed: list[DueProduct] = []
    for shop_id in shop_ids:
        shop = session.get(Shop, shop_id)
        if shop is None:
            continue
        rows = session.scalars(
            select(CatalogueProduct)
            .where(CatalogueProduct.shop_id == shop_id, due)
            .order_by(CatalogueProduct.due_at, CatalogueProduct.id)
            .limit(min(per_shop, limit - len(claimed)))
            .with_for_update(skip_locked=True)
        ).all()
        for row in rows:
            row.due_at = now + READ_LEASE
            claimed.append(DueProduct(row.id, shop, row.product_id, row.variant_id))
        if len(claimed) >= limit:
            break
    return claimed


def record_found(session: Session, row_id: int, info: ProductInfo, now: datetime) -> None:
    row = session.get(CatalogueProduct, row_id)
    if row is None:
        return
    row.status = "found"
    row.name = info.name[:255]
    row.price = info.price
    row.image_url = info.image_url
    row.product_url = info.product_url
    row.fetched_at = now
    row.attempts = 0
    row.due_at = now + FOUND_LIFETIME


def record_missing(session: Session, row_id: int, now: datetime) -> None:
    """The platform does not know this product (or variant): dropped from messages."""
    row = session.get(CatalogueProduct, row_id)
    if row is None:
        return
    row.status = "missing"
    row.name, row.price, row.image_url, row.product_url = "", None, "", ""
    row.fetched_at = now
    row.attempts = 0
    row.due_at = now + MISSING_LIFETIME


def record_failed(session: Session, row_id: int, now: datetime) -> None:
    """The read failed: try again later, waiting longer each time. What the row knew stays
    (a found product keeps being shown while the platform is down)."""
    row = session.get(CatalogueProduct, row_id)
    if row is None:
        return
    row.due_at = now + min(RETRY_BASE * 2**row.attempts, RETRY_MAX)
    row.attempts += 1


def refresh_due(
    factory: sessionmaker[Session],
    read: CatalogueReader,
    now: datetime,
    *,
    batch: int = BATCH,
    max_reads: int = MAX_READS,
) -> RefreshReport:
    """Read due products from the platform, a batch at a time: claim in one short
    transaction, call the platform with no transaction open (on SQLite one would hold the
    write lock through every HTTP call), record each answer in another short one."""
    report = RefreshReport()
    reads = 0
    while reads < max_reads:
        with factory() as session, session.begin():
            claimed = due_products(session, now, min(batch, max_reads - reads))
        if not claimed:
            break
        reads += len(claimed)
        for due in claimed:
            failed = False
            info: ProductInfo | None = None
            try:
                info = read(due.shop, due.product_id, due.variant_id)
            except CatalogueUnavailable as exc:
                failed = True
                log.info(
                    "shop %s: product %s/%s not read: %s",
                    due.shop.id,
                    due.product_id,
                    due.variant_id,
                    exc,
                )
            except Exception:
                # A bug or an answer we cannot parse must not stop the other products.
                failed = True
                log.exception(
                    "shop %s: reading product %s/%s failed",
                    due.shop.id,
                    due.product_id,
                    due.variant_id,
                )
            with factory() as session, session.begin():
                if failed:
                    record_failed(session, due.row_id, now)
                    report.failed += 1
                elif info is None:
                    record_missing(session, due.row_id, now)
                    report.missing += 1
                else:
                    record_found(session, due.row_id, info, now)
                    report.found += 1
    return report


# --- message lines ------------------------------------------------------------------------


def cart_lines(session: Session, shop: Shop, cart: Cart) -> tuple[list[Line], int]:
    """The cart's items as message lines, from the catalogue only, and how many items are
    still unresolved (never read yet). Items the platform does not know are dropped."""
    items = [(item, _ref(item)) for item in cart.items or []]
    refs = {ref for _, ref in items if ref is not None}
    rows = _rows(session, shop.id, refs)
    lines: list[Line] = []
    unresolved = 0
    for item, ref in items:
        if ref is None:
            continue
        row = rows.get(ref)
        if row is None or row.status == "pending":
            unresolved += 1
        elif row.status == "found":
            lines.append(
                Line(
                    product_id=ref[0],
                    variant_id=ref[1],
                    name=row.name,
                    quantity=_quantity(item),
                    price=row.price,
                    image_url=row.image_url,
                    product_url=row.product_url,
                )
            )
    return lines, unresolved


def lines_total(lines: Sequence[Line]) -> Decimal:
    return sum(
        (line.price * line.quantity for line in lines if line.price is not None), Decimal("0")
    )


def _rows(
    session: Session, shop_id: int, refs: set[tuple[str, str]]
) -> dict[tuple[str, str], CatalogueProduct]:
    if not refs:
        return {}
    rows = session.scalars(
        select(CatalogueProduct).where(
            CatalogueProduct.shop_id == shop_id,
            CatalogueProduct.product_id.in_({p for p, _ in refs}),
        )
    )
    return {(r.product_id, r.variant_id): r for r in rows}
