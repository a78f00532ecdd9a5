"""Unique coupon codes created in an Ecwid store (`POST /discount_coupons`, needs the
`create_discount_coupons` scope, platforms.md)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import requests
from sqlalchemy.orm import Session

from shoper_retention.messaging.coupons import CouponUnavailable, CreateAtPlatform
from shoper_retention.models import Shop
from shoper_retention.platforms.ecwid.api import EcwidError
from shoper_retention.platforms.ecwid.clients import PLATFORM, client_for
from shoper_retention.settings import Settings


class EcwidCoupons:
    def __init__(self, settings: Settings, http: requests.Session | None = None) -> None:
        self.settings = settings
        self.http = http or requests.Session()

    def creator(self, session: Session, now: datetime) -> CreateAtPlatform:
        """Creates codes while the caller's transaction is open: no token is refreshed or
        stored (Ecwid's never expire), and a 429 is not sat out, since on SQLite the open
        transaction holds the write lock; the merchant's static code is the fallback."""

        def create(
            shop: Shop, code: str, percent: Decimal, valid_from: datetime, valid_to: datetime
        ) -> str:
            if shop.platform != PLATFORM:
                raise CouponUnavailable(f"not an Ecwid store ({shop.platform})")
            try:
                client = client_for(self.settings, self.http, shop, max_retries=0)
                name = f"Retention {code}"
                return client.create_coupon(code, name, percent, valid_from, valid_to)
            except (EcwidError, ValueError) as exc:
                raise CouponUnavailable(str(exc)) from exc

        return create
