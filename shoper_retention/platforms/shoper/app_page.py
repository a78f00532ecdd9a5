"""The entry to the settings page from the Shoper admin: its iframe URL carries the shop's
licence, a timestamp and a hash signed with the App Store secret (signature.verify_iframe)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from shoper_retention.errors import Forbidden
from shoper_retention.models import Shop
from shoper_retention.platforms.shoper import signature
from shoper_retention.platforms.shoper.install import PLATFORM, shoper_time

IFRAME_MAX_AGE = timedelta(hours=2)
IFRAME_CLOCK_SKEW = timedelta(minutes=10)


def shop_for_iframe(
    session: Session, args: Mapping[str, str], secret: str, now: datetime
) -> Shop | None:
    """The shop a signed iframe URL names; None when the URL carries no Shoper entry at all.
    Forbidden for a bad hash or a stale link: the signed URL lands in browser history and
    access logs, so it is honoured only while fresh (a timestamp we cannot read is stale)."""
    if "hash" not in args and "shop" not in args:
        return None
    if not signature.verify_iframe(args, secret):
        raise Forbidden("bad or missing hash")
    age = now - shoper_time(args.get("timestamp", ""))
    if not -IFRAME_CLOCK_SKEW <= age <= IFRAME_MAX_AGE:
        raise Forbidden("this link has expired: open the app again from the shop admin")
    return session.scalars(
        select(Shop).where(Shop.platform == PLATFORM, Shop.platform_shop_id == args["shop"])
    ).first()
