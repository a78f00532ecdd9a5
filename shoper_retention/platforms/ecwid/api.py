"""Ecwid REST v3 and OAuth client: the only code that talks HTTP to Ecwid.

Every failure comes out as one `EcwidError` family the caller can act on: try again later
(`EcwidUnavailable`), the thing is gone (`EcwidNotFound`), the store took our access away
(`EcwidAuthError`). Tokens and secrets travel in headers and form bodies only, never in a URL,
and never appear in logs, exception messages or `repr`.

Wire facts (Ecwid's API docs, github.com/Ecwid/ecwid-api-docs, and api-docs.ecwid.com):
- REST base `https://app.ecwid.com/api/v3/{storeId}/`, `Authorization: Bearer <token>`;
  600 requests a minute per token, then 429 with Retry-After (platforms.md).
- Errors are plain HTTP statuses with an optional `{"errorMessage": ...}` body
  (includes/_errors.md): 400 malformed, 402 the plan has no API, 404 not found, 409 conflict.
- Lists page with `offset`/`limit` (at most 100) and answer `{total, count, offset, limit,
  items}` (includes/_orders.md, includes/_customers.md).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import requests

__all__ = [
    "COUPON_TIME_FORMAT",
    "MAX_PAGE_SIZE",
    "EcwidAuthError",
    "EcwidClient",
    "EcwidError",
    "EcwidNotFound",
    "EcwidUnavailable",
    "TokenGrant",
    "exchange_code",
]

log = logging.getLogger(__name__)

MAX_PAGE_SIZE = 100  # Ecwid's maximum `limit` on every list
MAX_RETRY_AFTER = 5.0  # seconds: the longest Retry-After we sit out; past it, try later
BACKOFF_BASE = 0.5  # seconds; 5xx and transport retries wait 0.5, 1, 2 ...
# "yyyy-MM-dd HH:mm:ss Z", e.g. "2014-06-06 08:00:00 +0400" (includes/_coupons.md).
COUPON_TIME_FORMAT = "%Y-%m-%d %H:%M:%S %z"

# Methods that may be re-sent after a failure without risking a second effect.
_IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE"})
_SCOPE_SPLIT = re.compile(r"[\s,]+")


class EcwidError(Exception):
    """Ecwid refused or failed a call. `status` is the HTTP status, 0 when no answer came."""

    def __init__(self, message: str, *, status: int = 0, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.retry_after = retry_after


class EcwidUnavailable(EcwidError):
    """Passing: no connection, a timeout, 5xx, or 429 after our retries. Try again later."""


class EcwidNotFound(EcwidError):
    """404: the store does not know the thing (deleted, or never there)."""


class EcwidAuthError(EcwidError):
    """401/403, or a refused token exchange: the token is revoked or lacks a scope; asking
    again will not help until the merchant reinstalls or grants it."""


@dataclass(frozen=True)
class TokenGrant:
    """The answer to a code exchange. Ecwid tokens never expire and have no refresh token."""

    access_token: str
    store_id: str
    public_token: str
    scopes: tuple[str, ...]

    def __repr__(self) -> str:
        return f"TokenGrant(store_id={self.store_id!r}, scopes={self.scopes!r})"


# --- OAuth ---------------------------------------------------------------------------------


def exchange_code(
    http: requests.Session,
    oauth_url: str,
    client_id: str,
    client_secret: str,
    code: str,
    redirect_uri: str,
    *,
    timeout: float = 10.0,
) -> TokenGrant:
    """Trade an install's `code` for the store's token.

    Sent as a form-encoded POST: the docs show a GET with the client secret in the query
    (includes/_authentication.md, "Retrieve access_token"), but Ecwid's own WordPress plugin
    posts the same fields as a form body (github.com/Ecwid/ecwid-wordpress-plugin,
    includes/class-ecwid-oauth.php, `wp_remote_post(.../api/oauth/token, array('body' =>
    $params))`), which keeps the secret out of URLs and their logs.

    Never retried: a code is single-use, and a second exchange disables the token the first
    one returned (includes/_authentication.md)."""
    url = f"{oauth_url.rstrip('/')}/token"
    form = {
        "client_id": client_id,
        "client_secret": client_secret,
        "code": code,
        "redirect_uri": redirect_uri,
        "grant_type": "authorization_code",
    }
    try:
        response = http.post(
            url,
            data=form,
            headers={"Accept": "application/json"},
            timeout=timeout,
            allow_redirects=False,
        )
    except requests.RequestException as exc:
        raise EcwidUnavailable(f"Ecwid token exchange failed: {type(exc).__name__}") from exc
    status = response.status_code
    if status == 429 or status >= 500:
        raise EcwidUnavailable(f"Ecwid token exchange answered {status}", status=status)
    if status >= 300:
        # invalid_grant (a used or expired code), invalid_client (a wrong secret): nothing a
        # retry could fix.
        raise EcwidAuthError(
            f"Ecwid token exchange answered {status}{_reason(response)}", status=status
        )
    payload = _json(response, "token exchange")
    if not isinstance(payload, dict):
        raise EcwidError("Ecwid token exchange: unexpected answer", status=status)
    token = payload.get("access_token")
    store_id = payload.get("store_id")
    if not isinstance(token, str) or not token or isinstance(store_id, bool) or not store_id:
        raise EcwidError("Ecwid token exchange: no access_token or store_id", status=status)
    scope = payload.get("scope")
    # Space-separated ("read_store_profile update_catalog", includes/_authentication.md).
    scopes = tuple(s for s in _SCOPE_SPLIT.split(scope) if s) if isinstance(scope, str) else ()
    public_token = payload.get("public_token")
    return TokenGrant(
        access_token=token,
        store_id=str(store_id),
        public_token=public_token if isinstance(public_token, str) else "",
        scopes=scopes,
    )


# --- REST ----------------------------------------------------------------------------------


class EcwidClient:
    """REST client for one store and one token. Holds no state between calls beyond the HTTP
    session, so one instance may be reused for many reads."""

    def __init__(
        self,
        api_url: str,
        store_id: str,
        token: str,
        *,
        http: requests.Session | None = None,
        timeout: float = 10.0,
        max_retries: int = 2,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.store_id = str(store_id)
        self._token = token
        self._http = http if http is not None else requests.Session()
        self.timeout = timeout
        self.max_retries = max(0, max_retries)
        self._sleep = sleep

    def __repr__(self) -> str:
        return f"EcwidClient(api_url={self.api_url!r}, store_id={self.store_id!r})"

    # -- resources --

    def profile(self) -> dict[str, Any]:
        """Store name, URL, currency, timezone, languages (includes/_store_profile.md)."""
        return self._object("GET", "profile")

    def cart(self, cart_id: str) -> dict[str, Any]:
        """One abandoned cart, hidden ones included (includes/_cart.md, "Get abandoned cart")."""
        return self._object("GET", f"carts/{_segment(cart_id)}")

    def order(self, order_id: str) -> dict[str, Any]:
        """One order by its `id` ("XJ12H"); older stores' order numbers work too
        (api-docs.ecwid.com/reference/get-order)."""
        return self._object("GET", f"orders/{_segment(order_id)}")

    def product(self, product_id: str) -> dict[str, Any]:
        return self._object("GET", f"products/{_segment(product_id)}")

    def customer(self, customer_id: str) -> dict[str, Any]:
        return self._object("GET", f"customers/{_segment(customer_id)}")

    def orders_page(self, offset: int, limit: int, created_from: datetime | None) -> dict[str, Any]:
        """Placed orders (the search leaves unfinished ones out unless asked for them,
        includes/_orders.md), `created_from` on, newest first."""
        params: dict[str, Any] = {"offset": max(0, offset), "limit": _limit(limit)}
        if created_from is not None:
            params["createdFrom"] = int(created_from.timestamp())  # UNIX seconds
        return self._object("GET", "orders", params=params)

    def customers_page(self, offset: int, limit: int) -> dict[str, Any]:
        """Registered customers, oldest first, so accounts opened while we page through land
        on later pages instead of shifting the ones still to read (`sortBy`,
        includes/_customers.md)."""
        params = {"offset": max(0, offset), "limit": _limit(limit), "sortBy": "REGISTERED_DATE_ASC"}
        return self._object("GET", "customers", params=params)

    def create_coupon(
        self,
        code: str,
        name: str,
        percent: Decimal,
        valid_from: datetime,
        valid_to: datetime,
    ) -> str:
        """A single-use percentage coupon; returns its id. Dates go as UTC in Ecwid's
        "yyyy-MM-dd HH:mm:ss Z" (includes/_coupons.md, "Create discount coupon": `name` and
        `code` are required; answer `{"id": 21871001}`).

        Not retried once sent: a second POST of the same code could only fail on the code
        being taken, and the caller falls back to another code anyway."""
        if not Decimal(0) < percent <= Decimal(100):
            raise ValueError("percent must be in (0, 100]")
        if valid_from.tzinfo is None or valid_to.tzinfo is None:
            raise ValueError("coupon dates must be timezone-aware")
        if valid_to <= valid_from:
            raise ValueError("valid_to must be after valid_from")
        body = {
            "name": name,
            "code": code,
            "discountType": "PERCENT",
            "status": "ACTIVE",
            "discount": float(percent),
            "launchDate": valid_from.astimezone(UTC).strftime(COUPON_TIME_FORMAT),
            "expirationDate": valid_to.astimezone(UTC).strftime(COUPON_TIME_FORMAT),
            "usesLimit": "SINGLE",
            "applicationLimit": "UNLIMITED",
        }
        answer = self._object("POST", "discount_coupons", json=body)
        coupon_id = answer.get("id")
        if isinstance(coupon_id, bool) or not isinstance(coupon_id, int | str) or not coupon_id:
            raise EcwidError("Ecwid POST discount_coupons: no id in the answer", status=200)
        return str(coupon_id)

    def set_public_config(self, value: str) -> None:
        """Write the app's public config: the `public` key of the app storage, which the
        storefront reads with `Ecwid.getAppPublicConfig(appId)`. The request body is the value
        itself, at most 256 KB, readable by anyone who knows the app id: nothing secret goes
        here (includes/_application_storage.md, "Edit storage data" and "Save public data")."""
        if len(value.encode()) > 256 * 1024:
            raise ValueError("public config is limited to 256 KB")
        self._request("PUT", "storage/public", data=value.encode())

    # -- transport --

    def _object(self, method: str, resource: str, **kwargs: Any) -> dict[str, Any]:
        answer = self._request(method, resource, **kwargs)
        if not isinstance(answer, dict):
            raise EcwidError(f"Ecwid {method} {_what(resource)}: not a JSON object", status=200)
        return answer

    def _request(
        self,
        method: str,
        resource: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        data: bytes | None = None,
    ) -> Any:
        url = f"{self.api_url}/{quote(self.store_id, safe='')}/{resource}"
        what = f"{method} {_what(resource)}"
        headers = {
            "Authorization": f"Bearer {self._token}",
            "Accept": "application/json",
        }
        if data is not None:
            # Storage takes the raw value as the body, under a JSON content type (415
            # otherwise, includes/_application_storage.md).
            headers["Content-Type"] = "application/json;charset=utf-8"
        attempt = 0
        while True:
            try:
                response = self._http.request(
                    method,
                    url,
                    params=params,
                    json=json,
                    data=data,
                    headers=headers,
                    timeout=self.timeout,
                    # A redirect would replay a POST as GET and could carry the token away.
                    allow_redirects=False,
                )
            except requests.RequestException as exc:
                reason = type(exc).__name__
                if attempt < self.max_retries and _safe_to_resend(method, exc):
                    delay = BACKOFF_BASE * 2**attempt
                    log.info("Ecwid %s: %s, retrying in %.1fs", what, reason, delay)
                    self._sleep(delay)
                    attempt += 1
                    continue
                raise EcwidUnavailable(f"Ecwid {what} failed: {reason}") from exc

            status = response.status_code
            if status < 300:
                return _json(response, what)
            if status == 429 and attempt < self.max_retries:
                delay = _retry_after(response)
                if delay is not None and delay <= MAX_RETRY_AFTER:
                    log.info("Ecwid %s: rate limited, waiting %.1fs", what, delay)
                    self._sleep(delay)
                    attempt += 1
                    continue
            if status >= 500 and attempt < self.max_retries and method in _IDEMPOTENT:
                delay = BACKOFF_BASE * 2**attempt
                log.info("Ecwid %s answered %s, retrying in %.1fs", what, status, delay)
                self._sleep(delay)
                attempt += 1
                continue
            raise _error(response, what)


# --- helpers -------------------------------------------------------------------------------


def _segment(value: str) -> str:
    """An id as one URL path segment: percent-encoded whole, so an id from a webhook body can
    never step into another resource ("../profile", "1?x=")."""
    text = str(value)
    if not text.strip() or text.strip(".") == "" or len(text) > 128:
        raise ValueError("not a usable Ecwid id")
    return quote(text, safe="")


def _what(resource: str) -> str:
    """The resource for logs and messages, without the id (a cart id is no one's business)."""
    return resource.split("/", 1)[0]


def _limit(limit: int) -> int:
    return min(max(1, limit), MAX_PAGE_SIZE)


def _safe_to_resend(method: str, exc: requests.RequestException) -> bool:
    # A connect timeout never reached Ecwid; anything else may have been executed already.
    return method in _IDEMPOTENT or isinstance(exc, requests.ConnectTimeout)


def _retry_after(response: requests.Response) -> float | None:
    """Seconds from Retry-After; 1 when absent or unreadable (an HTTP date is not expected)."""
    raw = response.headers.get("Retry-After")
    if raw is None:
        return 1.0
    try:
        seconds = float(raw)
    except ValueError:
        return 1.0
    if seconds != seconds or seconds < 0:  # NaN, negative
        return 1.0
    return seconds


def _json(response: requests.Response, what: str) -> Any:
    if not response.content.strip():
        return None
    try:
        return response.json()
    except ValueError as exc:
        raise EcwidUnavailable(
            f"Ecwid {what}: answer is not JSON", status=response.status_code
        ) from exc


def _reason(response: requests.Response) -> str:
    """Ecwid's own words for a refusal (`errorMessage`, or OAuth's `error`), short."""
    try:
        body = response.json()
    except ValueError:
        return ""
    if not isinstance(body, dict):
        return ""
    for key in ("errorMessage", "error_description", "error"):
        value = body.get(key)
        if isinstance(value, str) and value:
            return f": {value[:200]}"
    return ""


def _error(response: requests.Response, what: str) -> EcwidError:
    status = response.status_code
    message = f"Ecwid {what} answered {status}{_reason(response)}"
    if status == 404:
        return EcwidNotFound(message, status=status)
    if status in (401, 403):
        return EcwidAuthError(message, status=status)
    if status == 429:
        return EcwidUnavailable(message, status=status, retry_after=_retry_after(response))
    if status >= 500:
        return EcwidUnavailable(message, status=status)
    # 3xx (we never follow), 400, 402 (the plan has no API), 409, 415: nothing a retry fixes.
    return EcwidError(message, status=status)
