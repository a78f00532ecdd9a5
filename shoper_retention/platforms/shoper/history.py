"""Reading a Shoper shop's past customers (`users`) and orders, one REST page at a time, for
the history import (commerce/history.py).

Shapes: docs/samples/shoper/GET_users_page1.json for users; a recorded `GET orders` page
(MaciejGad/ShoperWebAPI, Tests/ShoperWebAPITests/Mocks/GET_webapi_rest_orders_page_2.json)
holds the same order fields a webhook carries (`order_id, user_id, email, date, status_id, sum,
paid`, addresses), with snake_case `billing_address`; the webhook parser accepts both spellings
(platforms.md), so REST orders go through it unchanged. Shoper's official SDK hydrates webhook
orders into the same Order model as REST ones (dreamcommerce/shop-appstore-lib,
src/DreamCommerce/Hydrator/Webhook/Order.php)."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import requests

from shoper_retention import shop_config
from shoper_retention.commerce.history import HistoryPage, HistoryRefused, HistoryUnavailable
from shoper_retention.contacts.emails import canonical_email_or_none
from shoper_retention.errors import BadInput
from shoper_retention.ingest.events import ContactInfo, CustomerSeen, DomainEvent
from shoper_retention.models import Shop
from shoper_retention.platforms.shoper import api, events
from shoper_retention.platforms.shoper.clients import ShopClients
from shoper_retention.platforms.shoper.install import PLATFORM
from shoper_retention.settings import Settings

log = logging.getLogger(__name__)

SOURCE = "shoper history"
# Oldest first, so orders and customers created while the import runs land on later pages
# instead of shifting the ones still to read. `order` takes "<field> asc|desc" on any list
# resource (Shoper's PHP SDK, dreamcommerce/shop-appstore-lib, src/DreamCommerce/Resource.php
# `order()`).
RESOURCES = {
    "customers": ("users", "user_id asc"),
    "orders": ("orders", "order_id asc"),
}


class ShoperHistory:
    """`history.HistoryReader` for Shoper shops. One REST client per shop and token, so the
    leaky-bucket pacing carries from one page to the next."""

    def __init__(
        self,
        settings: Settings,
        http: requests.Session | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        # One retry, waiting out a 429: an import page is read outside any transaction.
        self.clients = ShopClients(settings, http, max_retries=1, sleep=sleep)

    def __call__(
        self, shop: Shop, kind: str, since: datetime, page: int, now: datetime
    ) -> HistoryPage:
        if shop.platform != PLATFORM:
            raise HistoryRefused(f"rejected: not a Shoper shop ({shop.platform})")
        resource, order = RESOURCES[kind]
        params: dict[str, Any] = {"limit": api.PAGE_SIZE, "page": page, "order": order}
        if kind == "orders":
            # Order dates are shop-local wall-clock times (platforms.md).
            local = since.astimezone(ZoneInfo(shop.timezone)).strftime(api.SHOPER_TIME_FORMAT)
            params["filters"] = json.dumps({"date": {">=": local}})
        # Customers are all read, whenever they joined: an account opened five years ago
        # still has its anniversary this year.
        try:
            answer = self._client(shop).request("GET", resource, params=params)
        except api.ShoperAuthError as exc:
            raise HistoryRefused(f"auth: {exc}") from exc
        except api.ShoperScopeError as exc:
            raise HistoryRefused(f"scope: {exc}") from exc
        except api.ShoperTransientError as exc:
            raise HistoryUnavailable(str(exc)) from exc
        except api.ShoperError as exc:
            if exc.status is not None and 400 <= exc.status < 500:
                raise HistoryRefused(f"rejected: {exc}") from exc
            raise HistoryUnavailable(str(exc)) from exc
        if not isinstance(answer, dict) or not isinstance(answer.get("list") or [], list):
            raise HistoryUnavailable(f"GET {resource}: not a list page")
        records = [r for r in answer.get("list") or [] if isinstance(r, dict)]
        parse = customer_seen if kind == "customers" else order_placed
        found = [parse(record, shop, now) for record in records]
        return HistoryPage(events=[e for e in found if e is not None], pages=_pages(answer))

    def _client(self, shop: Shop) -> api.ShoperClient:
        client = self.clients.get(shop)
        if client is None:
            raise HistoryRefused("auth: no access token stored for this shop")
        return client


def customer_seen(record: dict[str, Any], shop: Shop, now: datetime) -> DomainEvent | None:
    """A `users` row as the shop's own customer record. Its `newsletter` box is not read:
    the history says what a customer ticked at some point, not that they agree today, and a
    marketing consent must come from its own, current source (the `client.*` webhooks and the
    shop's newsletter list report it as it changes)."""
    email = canonical_email_or_none(_text(record.get("email")))
    if email is None:
        return None  # an account we could not write to
    return CustomerSeen(
        contact=ContactInfo(
            email=email,
            first_name=_text(record.get("firstname"))[:100],
            platform_customer_id=_text(record.get("user_id"))[:64] or None,
        ),
        # "0000-00-00 00:00:00" (never) reads as None.
        joined_at=events.shop_time(record.get("date_add"), shop.timezone),
        birthday=events.birthday_of(
            record.get("additional_fields"),
            shop_config.customer_birthday_field(shop),
            now,
            shop.timezone,
        ),
        source=SOURCE,
    )


def order_placed(record: dict[str, Any], shop: Shop, now: datetime) -> DomainEvent | None:
    """A REST order, through the webhook parser as an `order.edit`: the current picture of
    the order, so its status and payment are taken as they are now."""
    body = json.dumps(record).encode()
    try:
        (event,) = events.to_events(
            "order.edit", body, timezone=shop.timezone, region=shop.country, now=now
        )
    except (BadInput, ValueError) as exc:
        log.warning("shop %s: history order skipped: %s", shop.id, exc)
        return None
    return event


def _pages(answer: dict[str, Any]) -> int:
    # Numbers may come as strings ("2"); an empty list reports 0 pages.
    try:
        return max(0, int(answer.get("pages") or 0))
    except (TypeError, ValueError) as exc:
        raise HistoryUnavailable("unreadable page count") from exc


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""
