"""Coupons for messages: a unique, time-limited code created at the platform where the shop
allows it, else the merchant's static code, else none (the text then offers no discount).

The coupon row is claimed before the platform is called, so two workers preparing the e-mail
and the SMS of one step at once still end up with one code."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shoper_retention.models import Coupon, Shop

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CouponPolicy:
    mode: str  # unique | static | none
    discount_percent: int
    valid_for: timedelta
    static_code: str


@dataclass(frozen=True)
class CouponInfo:
    code: str
    discount_percent: int
    valid_until: datetime | None
    id: int | None = None


CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read off a phone screen


class CouponUnavailable(Exception):
    """The platform did not create the code (no scope, refused, down)."""


# (shop, code, percent, valid_from, valid_to) -> platform id; raises CouponUnavailable.
CreateAtPlatform = Callable[[Shop, str, Decimal, datetime, datetime], str]


def new_code(prefix: str = "WRC") -> str:
    return prefix + "".join(secrets.choice(CODE_ALPHABET) for _ in range(8))


def coupon_for(
    session: Session,
    shop: Shop,
    plan_key: str,
    policy: CouponPolicy,
    now: datetime,
    create_at_platform: CreateAtPlatform | None,
) -> CouponInfo | None:
    existing = _get(session, shop.id, plan_key)
    if existing is None:
        existing = _claim(session, shop, plan_key, policy, now, create_at_platform)
    if existing.kind == "none" or not existing.code:
        return None
    return CouponInfo(existing.code, existing.discount_percent, existing.valid_until, existing.id)


def _get(session: Session, shop_id: int, plan_key: str) -> Coupon | None:
    return session.scalars(
        select(Coupon).where(Coupon.shop_id == shop_id, Coupon.plan_key == plan_key)
    ).first()


def _claim(
    session: Session,
    shop: Shop,
    plan_key: str,
    policy: CouponPolicy,
    now: datetime,
    create_at_platform: CreateAtPlatform | None,
) -> Coupon:
    coupon = Coupon(
        shop_id=shop.id,
        plan_key=plan_key,
        code=new_code(),
        kind="unique",
        discount_percent=policy.discount_percent,
        valid_until=now + policy.valid_for,
        created_at=now,
    )
    try:
        with session.begin_nested():
            session.add(coupon)
            session.flush()
    except IntegrityError:
        winner = _get(session, shop.id, plan_key)
        assert winner is not None
        return winner
    if policy.mode == "unique" and create_at_platform is not None:
        try:
            coupon.platform_id = create_at_platform(
                shop, coupon.code, Decimal(policy.discount_percent), now, now + policy.valid_for
            )
            return coupon
        except CouponUnavailable as exc:
            log.warning("shop %s: unique coupon not created (%s); using fallback", shop.id, exc)
    if policy.static_code:
        coupon.kind, coupon.code, coupon.valid_until = "static", policy.static_code, None
    else:
        coupon.kind, coupon.code = "none", ""
    return coupon
