"""Shoper REST and OAuth client: the only code that talks HTTP to a Shoper shop.

It knows Shoper's wire quirks (leaky-bucket headers, 429/409 retries, bare-integer ids, string
numbers) so callers deal in plain values, and it turns every failure into one `ShoperError`
family the caller can act on: re-authorise, ask for a scope, or try again later.
Tokens and secrets never appear in logs, exception messages or `repr`.
"""

from __future__ import annotations

import json as jsonlib
import logging
import re
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import requests

__all__ = [
    "PERCENT_DISCOUNT_TYPE",
    "REQUEST_TIMEOUT",
    "ShoperAuthError",
    "ShoperClient",
    "ShoperError",
    "ShoperScopeError",
    "ShoperTransientError",
    "TokenSet",
    "exchange_code",
    "refresh_tokens",
]

log = logging.getLogger(__name__)

REQUEST_TIMEOUT = 10.0  # seconds, on every request: a hung shop must not hang a worker
PAGE_SIZE = 50  # Shoper's maximum `limit`
MAX_RETRY_AFTER = 60.0  # cap on a Retry-After we obey, so one answer cannot park a worker
BACKOFF_BASE = 0.5  # seconds; 5xx/transport retries wait 0.5, 1, 2, ...

# `promotion-codes.discount_type`: 1 percentage, 2 fixed amount, 3 free delivery, 4/5
# progressive percentage/amount: the constants of Shoper's App Store bundle
# (pankrok/shoper-appstore-bundle, src/Model/Resource/PromotionCode.php), and a live shop's
# answer for a 10% code (docs/samples/shoper/GET_promotion-codes_1.json: "discount_type": "1").
# Not `specialoffers`, whose numbering differs (2 amount, 3 percent).
PERCENT_DISCOUNT_TYPE = 1

SHOPER_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"

# OAuth error codes that mean "this shop's credentials are no longer good": the token
# endpoint answers invalid_grant with 400, REST answers 401 (platforms.md, OAuth errors).
_AUTH_ERROR_CODES = frozenset(
    {"invalid_grant", "unauthorized_client", "invalid_client", "invalid_token", "unauthorized"}
)
_SCOPE_ERROR_CODES = frozenset({"insufficient_scope"})
# Methods that may be re-sent after a transport failure without risking a duplicate effect.
_IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


class ShoperError(Exception):
    """Shoper refused or failed a call. `error`/`description` are Shoper's
    `error`/`error_description` when it sent them; `status` is the HTTP status (None when no
    answer arrived)."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        error: str | None = None,
        description: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error = error
        self.description = description
        self.retry_after = retry_after


class ShoperAuthError(ShoperError):
    """The shop's tokens are revoked or invalid (401, invalid_grant, unauthorized_client):
    retrying will not help; the shop must reinstall or the tokens be refreshed."""


class ShoperScopeError(ShoperError):
    """The token lacks a permission (403 insufficient_scope): the app's scopes must change or
    the merchant must grant them."""


class ShoperTransientError(ShoperError):
    """Worth trying again later: 5xx, 409 locked, 429 after our retries, timeouts and
    connection failures."""


@dataclass
class TokenSet:
    """One shop's OAuth tokens. `expires_at` is UTC-aware; the refresh token rotates on every
    refresh, so the whole set must be stored together."""

    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    expires_at: datetime
    scopes: tuple[str, ...] = ()


# --- OAuth ---------------------------------------------------------------------------------


def exchange_code(
    http: requests.Session,
    shop_url: str,
    app_id: str,
    app_secret: str,
    code: str,
    now: datetime,
) -> TokenSet:
    """Trade the install callback's `auth_code` for the shop's first token set.

    Not retried: a code is single-use, so a second attempt after a lost answer could only fail.
    """
    payload = _token_request(
        http, shop_url, app_id, app_secret, "authorization_code", {"code": code}
    )
    return _token_set(payload, now)


def refresh_tokens(
    http: requests.Session,
    shop_url: str,
    app_id: str,
    app_secret: str,
    refresh_token: str,
    now: datetime,
) -> TokenSet:
    """Get a new token set; the answer carries a *new* refresh token that must replace ours.

    Not retried: if Shoper rotated the token but the answer was lost, a blind retry would
    present the old one; the caller should surface the transient error and try later.
    """
    payload = _token_request(
        http, shop_url, app_id, app_secret, "refresh_token", {"refresh_token": refresh_token}
    )
    return _token_set(payload, now, previous_refresh_token=refresh_token)


def _token_request(
    http: requests.Session,
    shop_url: str,
    app_id: str,
    app_secret: str,
    grant_type: str,
    form: Mapping[str, str],
) -> dict[str, Any]:
    url = f"{shop_url.rstrip('/')}/webapi/rest/oauth/token"
    what = f"POST oauth/token ({grant_type})"
    try:
        response = http.post(
            url,
            params={"grant_type": grant_type},
            data=dict(form),
            auth=(app_id, app_secret),  # Basic client_id:client_secret
            timeout=REQUEST_TIMEOUT,
            # A redirect would turn the POST into a GET and drop the form: report it instead.
            allow_redirects=False,
        )
    except requests.RequestException as exc:
        raise ShoperTransientError(f"{what} failed: {type(exc).__name__}") from exc
    if response.status_code >= 300:
        raise _error_from_response(response, what)
    payload = _decode(response, what)
    if not isinstance(payload, dict):
        raise ShoperError(
            f"{what}: unexpected answer", status=response.status_code, error="invalid_response"
        )
    return payload


def _token_set(
    payload: Mapping[str, Any], now: datetime, previous_refresh_token: str | None = None
) -> TokenSet:
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    access_token = payload.get("access_token")
    if not access_token:
        raise ShoperError("token answer without access_token", error="invalid_response")
    refresh_token = payload.get("refresh_token") or previous_refresh_token
    if not refresh_token:
        raise ShoperError("token answer without refresh_token", error="invalid_response")
    if not payload.get("refresh_token"):
        # Shoper always rotates (platforms.md); keeping the old one beats losing the shop.
        log.warning("Shoper refresh answer carried no refresh_token; keeping the previous one")
    try:
        lifetime = timedelta(seconds=int(payload["expires_in"]))
    except (KeyError, TypeError, ValueError):
        # Token lifetime is unverified: treat an unknown one as already due for refresh,
        # which is safe because we still hold a valid refresh token.
        log.warning("Shoper token answer without a usable expires_in; treating it as expiring")
        lifetime = timedelta(0)
    scope = payload.get("scope") or ""
    # Documented as comma-separated; tolerate spaces too, as other OAuth servers use them.
    scopes = tuple(part for part in re.split(r"[,\s]+", str(scope)) if part)
    return TokenSet(
        access_token=str(access_token),
        refresh_token=str(refresh_token),
        expires_at=now.astimezone(UTC) + lifetime,
        scopes=scopes,
    )


# --- REST ----------------------------------------------------------------------------------


class ShoperClient:
    """REST client for one shop and one access token; not shared between threads.

    It paces itself with Shoper's leaky bucket (the `X-Shop-Api-*` headers of every answer)
    rather than waiting to be told off with a 429, and retries 429, 409 and 5xx answers a few
    times. `sleep` and `clock` are injectable so tests run instantly and deterministically.
    """

    def __init__(
        self,
        shop_url: str,
        access_token: str,
        http: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        max_retries: int = 3,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.shop_url = shop_url.rstrip("/")
        self._access_token = access_token
        self._owns_http = http is None
        self._http = http if http is not None else requests.Session()
        self._sleep = sleep
        self._clock = clock
        self.max_retries = max_retries
        # Last bucket reading: (level, size, leak per second, clock() when read).
        self._bucket: tuple[float, float, float, float] | None = None

    def __repr__(self) -> str:
        return f"ShoperClient(shop_url={self.shop_url!r})"

    def __enter__(self) -> ShoperClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the HTTP session, but only if this client opened it."""
        if self._owns_http:
            self._http.close()

    # -- transport --

    def request(
        self,
        method: str,
        resource: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
    ) -> Any:
        """Call `{shop_url}/webapi/rest/{resource}` and return the decoded JSON (None if empty).

        Raises a `ShoperError` subclass; retries only what Shoper marks as temporary.
        """
        method = method.upper()
        resource = resource.strip("/")
        url = f"{self.shop_url}/webapi/rest/{resource}"
        what = f"{method} {resource}"
        headers = {"Authorization": f"Bearer {self._access_token}", "Accept": "application/json"}
        attempt = 0
        while True:
            self._wait_for_bucket()
            try:
                response = self._http.request(
                    method,
                    url,
                    params=params,
                    json=json,
                    headers=headers,
                    timeout=REQUEST_TIMEOUT,
                    # requests would replay a redirected POST as GET (and may drop the
                    # Authorization header): a moved shop_url must be fixed, not followed.
                    allow_redirects=False,
                )
            except requests.RequestException as exc:
                reason = type(exc).__name__
                if attempt < self.max_retries and _safe_to_resend(method, exc):
                    delay = BACKOFF_BASE * 2**attempt
                    log.warning("Shoper %s: %s, retrying in %.1fs", what, reason, delay)
                    self._sleep(delay)
                    attempt += 1
                    continue
                raise ShoperTransientError(f"Shoper {what} failed: {reason}") from exc

            self._read_bucket(response)
            status = response.status_code
            if status < 300:
                return _decode(response, what)
            if (status in (409, 429) or status >= 500) and attempt < self.max_retries:
                if status >= 500:
                    delay = BACKOFF_BASE * 2**attempt
                else:
                    # 429 = bucket overflow, 409 = object locked; both say when to come back.
                    delay = _retry_after(response)
                    # Shoper's own wait supersedes our bucket estimate.
                    self._bucket = None
                log.warning("Shoper %s answered %s, retrying in %.1fs", what, status, delay)
                self._sleep(delay)
                attempt += 1
                continue
            raise _error_from_response(response, what)

    def _read_bucket(self, response: requests.Response) -> None:
        level = _float_header(response, "X-Shop-Api-Calls")
        size = _float_header(response, "X-Shop-Api-Limit")
        if level is None or size is None:
            return
        # Bandwidth = how many calls leak out per second; assume 1/s if Shoper omits it.
        leak = _float_header(response, "X-Shop-Api-Bandwidth") or 1.0
        self._bucket = (level, size, leak if leak > 0 else 1.0, self._clock())

    def _wait_for_bucket(self) -> None:
        """Sleep just long enough that the next call finds a free slot and one to spare."""
        if self._bucket is None:
            return
        level, size, leak, read_at = self._bucket
        level_now = level - (self._clock() - read_at) * leak
        if level_now < size - 1:
            return
        delay = (level_now - (size - 2)) / leak
        log.info("Shoper bucket at %.1f/%.0f, pausing %.2fs", level_now, size, delay)
        self._sleep(delay)
        self._bucket = None

    # -- resources --

    def paginate(
        self,
        resource: str,
        *,
        params: Mapping[str, Any] | None = None,
        filters: Mapping[str, Any] | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Yield every item of a list resource, page by page (`{count, pages, page, list}`).

        `filters` is Shoper's JSON filter, e.g. `{"date": {">=": "2025-01-01 00:00:00"}}`.
        """
        query: dict[str, Any] = dict(params or {})
        query["limit"] = PAGE_SIZE
        if filters is not None:
            query["filters"] = jsonlib.dumps(filters)
        page = 1
        while True:
            query["page"] = page
            answer = self.request("GET", resource, params=query)
            if not isinstance(answer, dict):
                raise ShoperError(f"GET {resource}: not a list page", error="invalid_response")
            yield from answer.get("list") or []
            # Shoper sends numbers as strings ("2"); an empty list reports 0 pages.
            if page >= int(answer.get("pages") or 0):
                return
            page += 1

    def application_config(self) -> dict[str, Any]:
        """Shop name, e-mail, currency, language, timezone and canonical shop_url."""
        answer = self.request("GET", "application-config")
        if not isinstance(answer, dict):
            raise ShoperError("GET application-config: unexpected answer", error="invalid_response")
        return answer

    def list_webhooks(self) -> list[dict[str, Any]]:
        """All webhook configurations of this shop visible to our token."""
        return list(self.paginate("webhooks"))

    def create_webhook(self, url: str, secret: str, events: list[str], active: bool = True) -> int:
        """Register a JSON webhook signed with our per-shop `secret`; returns its id
        (the `X-Webhook-Id` its deliveries will carry)."""
        body = {
            "url": url,
            "format": 0,  # 0 = JSON, 1 = XML
            "secret": secret,
            "active": 1 if active else 0,  # Shoper booleans are 0/1
            "events": list(events),
        }
        return _new_id(self.request("POST", "webhooks", json=body), "POST webhooks")

    def delete_webhook(self, webhook_id: int) -> None:
        """Remove one webhook configuration (at uninstall or when re-registering)."""
        self.request("DELETE", f"webhooks/{int(webhook_id)}")

    def product(self, product_id: int) -> dict[str, Any] | None:
        """One product with its default `stock`, `translations` and `main_image`; None when
        the shop does not know it (404)."""
        return self._get_one(f"products/{int(product_id)}")

    def product_stock(self, stock_id: int) -> dict[str, Any] | None:
        """One `product-stocks` row (a variant, with its `product_id` and `price`); None when
        the shop does not know it (404)."""
        return self._get_one(f"product-stocks/{int(stock_id)}")

    def _get_one(self, resource: str) -> dict[str, Any] | None:
        try:
            answer = self.request("GET", resource)
        except ShoperError as exc:
            if exc.status == 404:
                return None
            raise
        if not isinstance(answer, dict):
            raise ShoperError(f"GET {resource}: unexpected answer", error="invalid_response")
        return answer

    def create_promotion_code(
        self,
        code: str,
        name: str,
        discount_percent: Decimal,
        valid_from: datetime,
        valid_to: datetime,
    ) -> int:
        """Create a single-use percentage promotion code; returns its id.

        `valid_from`/`valid_to` are written as the shop's wall-clock time (Shoper dates are
        shop-local `YYYY-MM-DD HH:MM:SS`): pass them already in the shop's timezone.
        """
        if not Decimal(0) < discount_percent <= Decimal(100):
            raise ValueError("discount_percent must be in (0, 100]")
        if valid_to <= valid_from:
            raise ValueError("valid_to must be after valid_from")
        body = {
            "code": code,
            "name": name,
            "discount_type": PERCENT_DISCOUNT_TYPE,
            # A percentage, not money: a JSON number is what a numeric field expects.
            "discount": float(discount_percent),
            "active": 1,
            "time_from": valid_from.strftime(SHOPER_TIME_FORMAT),
            "time_to": valid_to.strftime(SHOPER_TIME_FORMAT),
            # Shoper has no single-use flag: one use in all, and one per customer.
            "usage_limit": 1,
            "peruser_limit": 1,
        }
        return _new_id(self.request("POST", "promotion-codes", json=body), "POST promotion-codes")


# --- answers -------------------------------------------------------------------------------


def _safe_to_resend(method: str, exc: requests.RequestException) -> bool:
    # A connect timeout never reached Shoper; anything else may have been executed already.
    return method in _IDEMPOTENT_METHODS or isinstance(exc, requests.ConnectTimeout)


def _retry_after(response: requests.Response) -> float:
    # Retry-After may also be an HTTP date; Shoper sends seconds, anything else means 1 s.
    try:
        seconds = float(response.headers.get("Retry-After", "1"))
    except ValueError:
        seconds = 1.0
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def _float_header(response: requests.Response, name: str) -> float | None:
    value = response.headers.get(name)
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        return None


def _decode(response: requests.Response, what: str) -> Any:
    if not response.content.strip():
        return None
    try:
        return response.json()
    except ValueError as exc:
        raise ShoperError(
            f"Shoper {what}: answer is not JSON",
            status=response.status_code,
            error="invalid_response",
        ) from exc


def _new_id(answer: Any, what: str) -> int:
    # Shoper answers a POST with the new object's id as a bare JSON integer, e.g. `42`.
    if isinstance(answer, bool) or not isinstance(answer, int | str):
        raise ShoperError(f"Shoper {what}: expected a new id", error="invalid_response")
    try:
        return int(answer)
    except ValueError as exc:
        raise ShoperError(f"Shoper {what}: expected a new id", error="invalid_response") from exc


def _error_from_response(response: requests.Response, what: str) -> ShoperError:
    """Map a failed answer to the exception class that tells the caller what to do."""
    status = response.status_code
    error: str | None = None
    description: str | None = None
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        error = str(body["error"]) if body.get("error") is not None else None
        if body.get("error_description") is not None:
            description = str(body["error_description"])
    if description is None and body is None and response.text:
        description = response.text.strip()[:200]

    message = f"Shoper {what} answered {status}"
    if error:
        message += f": {error}"
    if description:
        message += f" ({description})"

    kwargs: dict[str, Any] = {"status": status, "error": error, "description": description}
    if 300 <= status < 400:
        # The shop moved (custom domain, http -> https): store the new shop_url.
        location = response.headers.get("Location", "")
        return ShoperError(
            f"{message}: shop_url redirects to {location or '?'}",
            **{**kwargs, "error": error or "redirect", "description": location or description},
        )
    if error in _AUTH_ERROR_CODES or status == 401:
        return ShoperAuthError(message, **kwargs)
    if error in _SCOPE_ERROR_CODES or status == 403:
        return ShoperScopeError(message, **kwargs)
    if status in (409, 429) or status >= 500:
        retry_after = _retry_after(response) if "Retry-After" in response.headers else None
        return ShoperTransientError(message, retry_after=retry_after, **kwargs)
    return ShoperError(message, **kwargs)
