"""Reading an Ecwid store's past customers and orders, one REST page at a time, for the
history import (commerce/history.py).

Ecwid pages with `offset`/`limit` (at most 100) and reports `total` (includes/_orders.md,
includes/_customers.md). Customers are read oldest first (`sortBy=REGISTERED_DATE_ASC`), so
new accounts land on later pages. The order search has no documented sort: an order placed
while we page either lands on a later page or pushes the rest one place on, so a page may
repeat the last order of the one before, which the import applies twice to no effect (orders
upsert by id); none is skipped. Unfinished orders are not in the search unless asked for.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import requests

from shoper_retention.commerce.history import HistoryPage, HistoryRefused, HistoryUnavailable
from shoper_retention.errors import BadInput
from shoper_retention.ingest.events import DomainEvent
from shoper_retention.models import Shop
from shoper_retention.platforms.ecwid import events
from shoper_retention.platforms.ecwid.api import (
    MAX_PAGE_SIZE,
    EcwidAuthError,
    EcwidClient,
    EcwidError,
    EcwidUnavailable,
)
from shoper_retention.platforms.ecwid.clients import PLATFORM, client_for
from shoper_retention.settings import Settings

log = logging.getLogger(__name__)

SOURCE = "ecwid history"


class EcwidHistory:
    """`history.HistoryReader` for Ecwid stores."""

    def __init__(
        self,
        settings: Settings,
        http: requests.Session | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings
        self.http = http or requests.Session()
        self.sleep = sleep

    def __call__(
        self, shop: Shop, kind: str, since: datetime, page: int, now: datetime
    ) -> HistoryPage:
        if shop.platform != PLATFORM:
            raise HistoryRefused(f"rejected: not an Ecwid store ({shop.platform})")
        offset = (max(page, 1) - 1) * MAX_PAGE_SIZE
        try:
            # One retry, sitting out a short 429: a page is read outside any transaction.
            client = client_for(self.settings, self.http, shop, max_retries=1, sleep=self.sleep)
            answer = _read(client, kind, offset, since)
        except EcwidAuthError as exc:
            reason = "scope" if exc.status == 403 else "auth"
            raise HistoryRefused(f"{reason}: {exc}") from exc
        except EcwidUnavailable as exc:
            raise HistoryUnavailable(str(exc)) from exc
        except EcwidError as exc:
            # 400, 402 (the plan has no API), 404: asking again will not change the answer.
            raise HistoryRefused(f"rejected: {exc}") from exc
        records = answer.get("items")
        if not isinstance(records, list):
            raise HistoryUnavailable(f"{kind}: not a list page")
        found: list[DomainEvent] = []
        for record in records:
            if isinstance(record, dict):
                found.extend(_events(kind, record, shop, now))
        return HistoryPage(events=found, pages=_pages(answer))


def _read(client: EcwidClient, kind: str, offset: int, since: datetime) -> dict[str, Any]:
    if kind == "customers":
        # All customers, whenever they joined: an account opened five years ago still has
        # its anniversary this year.
        return client.customers_page(offset, MAX_PAGE_SIZE)
    if kind == "orders":
        return client.orders_page(offset, MAX_PAGE_SIZE, since)
    raise ValueError(f"unknown history kind {kind!r}")


def _events(kind: str, record: dict[str, Any], shop: Shop, now: datetime) -> list[DomainEvent]:
    """A customer as the store's record of them, or an order as it is now. No consent is
    read: the history says what someone ticked once, not that they agree today; the
    webhooks report consent as it changes."""
    try:
        if kind == "customers":
            seen = events.customer_seen(record, shop, SOURCE)
            return [seen] if seen is not None else []
        return list(events.order_events(record, shop, now))
    except BadInput as exc:
        log.warning("shop %s: history %s record skipped: %s", shop.id, kind, exc.message)
        return []


def _pages(answer: dict[str, Any]) -> int:
    total = answer.get("total")
    if isinstance(total, bool) or not isinstance(total, int) or total < 0:
        raise HistoryUnavailable("unreadable total")
    return -(-total // MAX_PAGE_SIZE)
