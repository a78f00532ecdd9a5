"""Rate limits on the public endpoints, by client address and by shop.

Two kinds. A request limit counts every request (the storefront, shoppers' links): `hit`.
A failure budget counts only refused requests to the signed endpoints (Shoper webhooks and
App Store callbacks, SMSAPI reports): `count_failure` once a request was refused, and
`refuse_if_blocked` before doing any work. An address over its budget is remembered in this
process's memory until its window frees up, so that check costs one dict look-up: the webhook
endpoint's accepted path gets nothing more.

Counters live where `rate_limit_storage_url` says: `memory://` (per process) or Redis (shared
by every process). The limiter protects the service; it must never take it down, so a storage
that fails lets the request through with a warning."""

from __future__ import annotations

import ipaddress
import logging
import math
import time

from flask import request
from limits import RateLimitItem, parse
from limits.errors import StorageError
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from shoper_retention.errors import RateLimited
from shoper_retention.settings import Settings

log = logging.getLogger(__name__)

# Named limits, each a Settings field (its default is justified there).
STOREFRONT_PER_IP = "storefront per ip"
STOREFRONT_PER_SHOP = "storefront per shop"
NEW_CONTACTS_PER_SHOP = "new contacts per shop"
SHOPPER_LINKS_PER_IP = "shopper links per ip"
REJECTED_PER_IP = "rejected per ip"
_SETTING = {
    STOREFRONT_PER_IP: "limit_storefront_per_ip",
    STOREFRONT_PER_SHOP: "limit_storefront_per_shop",
    NEW_CONTACTS_PER_SHOP: "limit_new_contacts_per_shop",
    SHOPPER_LINKS_PER_IP: "limit_shopper_links_per_ip",
    REJECTED_PER_IP: "limit_rejected_per_ip",
}
MAX_BLOCKED = 10_000  # remembered blocked addresses before expired ones are swept out


def client_key(remote_addr: str | None) -> str:
    """Who a client is, for counting: its IPv4 address, or its IPv6 /64 (one subscriber's
    network hands out any number of addresses inside it)."""
    addr = remote_addr or ""
    if ":" not in addr:
        return addr
    try:
        return str(ipaddress.IPv6Network((addr, 64), strict=False))
    except ValueError:
        return addr


def request_client() -> str:
    """The current Flask request's client key (its address after ProxyFix, app.py)."""
    return client_key(request.remote_addr)


class RateLimits:
    """The app's limiter: one storage, the named limits, the blocked addresses."""

    def __init__(self, settings: Settings) -> None:
        storage = storage_from_string(settings.rate_limit_storage_url, wrap_exceptions=True)
        self.limiter = MovingWindowRateLimiter(storage)
        self.items: dict[str, RateLimitItem] = {
            name: parse(getattr(settings, field)) for name, field in _SETTING.items()
        }
        self._blocked: dict[tuple[str, str], float] = {}  # (budget, key) -> monotonic until

    def hit(self, name: str, key: str) -> None:
        """Count one request for `key` (an address, a shop) against the named limit; raises
        RateLimited when that request is over it."""
        retry_after = self._hit(name, key)
        if retry_after is not None:
            raise RateLimited("too many requests, retry later", retry_after=retry_after)

    def refuse_if_blocked(self, budget: str, remote_addr: str | None) -> None:
        """Raise RateLimited if this address used up its failure budget (memory only: no
        storage, and no work at all while nobody is blocked)."""
        if not self._blocked:
            return
        until = self._blocked.get((budget, client_key(remote_addr)))
        if until is None:
            return
        left = until - time.monotonic()
        if left <= 0:
            self._blocked.pop((budget, client_key(remote_addr)), None)
            return
        raise RateLimited("too many refused requests, retry later", retry_after=math.ceil(left))

    def count_failure(self, budget: str, remote_addr: str | None) -> None:
        """Count a refused request from this address against the named budget (with
        REJECTED_PER_IP's limit); raises RateLimited, and blocks the address in this process
        until the window frees up, once it is over."""
        key = client_key(remote_addr)
        retry_after = self._hit(REJECTED_PER_IP, key, budget)
        if retry_after is None:
            return
        if len(self._blocked) >= MAX_BLOCKED:
            now = time.monotonic()
            self._blocked = {k: v for k, v in self._blocked.items() if v > now}
        self._blocked[(budget, key)] = time.monotonic() + retry_after
        raise RateLimited("too many refused requests, retry later", retry_after=retry_after)

    def _hit(self, name: str, key: str, *scope: str) -> int | None:
        """None when the request is within the limit, else the seconds until it would be."""
        item = self.items[name]
        try:
            if self.limiter.hit(item, name, *scope, key):
                return None
            reset_at = self.limiter.get_window_stats(item, name, *scope, key).reset_time
        except StorageError as exc:
            log.warning("rate limit storage failed, request let through: %r", exc.storage_error)
            return None
        return max(1, math.ceil(reset_at - time.time()))
