"""Back-off for shops whose platform set-up keeps failing, shared by the platforms' `maintain`.

Kept in the process, not the database: a restart simply retries at once, and the shop's
`setup_error` (shown to the merchant) is what persists."""

from __future__ import annotations

from datetime import datetime, timedelta

FIRST_WAIT = timedelta(minutes=1)
LONGEST_WAIT = timedelta(hours=6)


class SetupBackoff:
    def __init__(self) -> None:
        self._retry_at: dict[int, datetime] = {}
        self._failures: dict[int, int] = {}

    def failed(self, shop_id: int, now: datetime) -> None:
        """Wait twice as long as last time, from a minute up to six hours."""
        failures = self._failures.get(shop_id, 0)
        self._retry_at[shop_id] = now + min(FIRST_WAIT * 2**failures, LONGEST_WAIT)
        self._failures[shop_id] = failures + 1

    def succeeded(self, shop_id: int) -> None:
        self._retry_at.pop(shop_id, None)
        self._failures.pop(shop_id, None)

    def due(self, shop_id: int, now: datetime) -> bool:
        return self._retry_at.get(shop_id, now) <= now
