"""Stock as state (commerce/stock.py): reports come in any order (a webhook that waited in the
inbox, a REST read taken since); the newest report is what the notices go on."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from shoper_retention.commerce import stock
from shoper_retention.ingest.events import StockReported
from shoper_retention.models import Shop
from tests.support import make_shop


def test_an_older_stock_report_arriving_later_changes_nothing(factory, settings, clock):
    handle = make_shop(factory, settings, now=clock.now)
    t0 = clock.now
    with factory() as session, session.begin():
        shop = session.get(Shop, handle.id)
        assert shop is not None
        stock.apply_stock(session, shop, StockReported("101", Decimal("0"), t0), t0)
        stock.apply_stock(
            session, shop, StockReported("101", Decimal("3"), t0 + timedelta(minutes=5)), t0
        )
        # A report taken before the last one (delivered late) is not applied.
        row = stock.apply_stock(
            session, shop, StockReported("101", Decimal("0"), t0 + timedelta(minutes=2)), t0
        )
        assert row.quantity == Decimal("3")
        assert row.read_at == t0 + timedelta(minutes=5)
        assert row.updated_at == t0 + timedelta(minutes=5)  # back in stock since then
        # A newer one is.
        row = stock.apply_stock(
            session, shop, StockReported("101", Decimal("0"), t0 + timedelta(minutes=9)), t0
        )
        assert row.quantity == Decimal("0")
        assert row.updated_at == t0 + timedelta(minutes=9)
