"""Domain errors, each with the HTTP status it maps to in the single error handler (app.py)."""

from __future__ import annotations


class DomainError(Exception):
    status = 400
    code = "bad_request"
    retry_after: int | None = None  # seconds, sent as `Retry-After` when set

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class BadInput(DomainError):
    status = 400
    code = "invalid"


class PayloadTooLarge(DomainError):
    """Answered 400 as the public contract says (a body over the limit is bad input)."""

    status = 400
    code = "too_large"


class BadSignature(DomainError):
    status = 401
    code = "bad_signature"


class Forbidden(DomainError):
    status = 403
    code = "forbidden"


class UnknownShop(DomainError):
    status = 404
    code = "unknown_shop"


class NotFound(DomainError):
    status = 404
    code = "not_found"


class Conflict(DomainError):
    status = 409
    code = "conflict"


class UpstreamFailed(DomainError):
    """A platform we had to call during the request failed for a passing reason: answer 503
    with Retry-After so the platform retries the callback."""

    status = 503
    code = "upstream_failed"
    retry_after = 30


class RateLimited(DomainError):
    """Too many requests from one client (or for one shop): 429, with the seconds until the
    limit lets the next one through (rate_limits.py)."""

    status = 429
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = max(1, retry_after)
