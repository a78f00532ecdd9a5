"""The platforms this add-on serves: core code finds a shop's platform here, by the shop's
`platform` field, and never names one. Adding a platform is its package and one line here."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal

import requests
from sqlalchemy.orm import Session, sessionmaker

from shoper_retention.commerce.catalogue import ProductInfo
from shoper_retention.commerce.history import HistoryPage, HistoryRefused
from shoper_retention.errors import DomainError
from shoper_retention.messaging.coupons import CouponUnavailable, CreateAtPlatform
from shoper_retention.models import Shop
from shoper_retention.platforms.base import Platform
from shoper_retention.platforms.ecwid.platform import EcwidPlatform
from shoper_retention.platforms.shoper.platform import ShoperPlatform
from shoper_retention.settings import Settings

PLATFORMS: dict[str, type[Platform]] = {
    ShoperPlatform.name: ShoperPlatform,
    EcwidPlatform.name: EcwidPlatform,
}


def platform_of(name: str) -> type[Platform]:
    try:
        return PLATFORMS[name]
    except KeyError:
        raise DomainError(f"unknown platform {name!r}") from None


class Platforms:
    """One instance of each platform, built with the server's settings, and the readers and
    writers core code uses, each sent on to the shop's own platform."""

    def __init__(self, settings: Settings, http: requests.Session | None = None) -> None:
        self.by_name: dict[str, Platform] = {
            name: cls(settings, http)  # type: ignore[call-arg]
            for name, cls in PLATFORMS.items()
        }

    def __iter__(self) -> Iterator[Platform]:
        return iter(self.by_name.values())

    def of(self, shop: Shop) -> Platform | None:
        return self.by_name.get(shop.platform)

    def catalogue(self, shop: Shop, product_id: str, variant_id: str) -> ProductInfo | None:
        platform = self.of(shop)
        return platform.catalogue(shop, product_id, variant_id) if platform else None

    def stock(self, shop: Shop, product_id: str, variant_id: str) -> Decimal | None:
        platform = self.of(shop)
        return platform.stock(shop, product_id, variant_id) if platform else None

    def history(
        self, shop: Shop, kind: str, since: datetime, page: int, now: datetime
    ) -> HistoryPage:
        platform = self.of(shop)
        if platform is None:
            raise HistoryRefused(f"no history import on {shop.platform!r}")
        return platform.history(shop, kind, since, page, now)

    def maintain(self, factory: sessionmaker[Session], now: datetime) -> int:
        return sum(platform.maintain(factory, now) for platform in self)

    def coupon_creator(self, session: Session, now: datetime) -> CreateAtPlatform:
        creators = {p.name: p.coupon_creator(session, now) for p in self}

        def create(
            shop: Shop, code: str, percent: Decimal, valid_from: datetime, valid_to: datetime
        ) -> str:
            creator = creators.get(shop.platform)
            if creator is None:
                raise CouponUnavailable(f"no coupons on {shop.platform!r}")
            return creator(shop, code, percent, valid_from, valid_to)

        return create
