"""`POST /shoper/webhooks/<shop_ref>`: verify, store in the inbox, answer 202.

A plain WSGI handler in front of the Flask app, not a Flask view: Shoper sends a webhook for
every order change of every installed shop, so this is the one endpoint whose cost per request
sets how much a web process can take, and its whole job is a signature check and one INSERT.
Flask's request context, URL routing and Response objects cost more than that job
(docs/PERFORMANCE.md); here the route is one string test and the answers are built once. Every
other path goes on to Flask untouched.

Shoper sends no delivery id, so the dedupe key is (event, object id, body hash): the same
delivery retried is stored once, a real change to the order is not. The worker does the rest."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, select
from sqlalchemy.exc import InterfaceError, OperationalError

from shoper_retention.errors import (
    BadInput,
    BadSignature,
    DomainError,
    PayloadTooLarge,
    UnknownShop,
)
from shoper_retention.ingest import inbox
from shoper_retention.manifest import webhook_events
from shoper_retention.models import Shop
from shoper_retention.platforms.shoper import events as shoper_events
from shoper_retention.platforms.shoper import signature

if TYPE_CHECKING:
    from shoper_retention.web.services import Services

log = logging.getLogger(__name__)

PREFIX = "/shoper/webhooks/"
ROUTE = PREFIX + "<shop_ref>"  # as manifest.json names it
KEPT_HEADERS = (
    "X-Shop-Domain",
    "X-Shop-License",
    "X-Shop-Version",
    "X-Webhook-Id",
    "X-Webhook-Name",
)
_KEPT_ENVIRON = tuple((h, "HTTP_" + h.upper().replace("-", "_")) for h in KEPT_HEADERS)
_JSON = [("Content-Type", "application/json")]
ACCEPTED = ("202 Accepted", b'{"status":"accepted"}')
DUPLICATE = ("200 OK", b'{"status":"duplicate"}')

# The two columns a delivery needs, built once (no per-request statement building or ORM load).
ACTIVE_SHOP = select(Shop.id, Shop.webhook_secret_enc).where(
    Shop.ref == bindparam("ref"), Shop.platform == "shoper", Shop.status == "active"
)
SECRET_TTL = 10.0  # seconds a web process reuses a shop's decrypted secret
BUDGET = "shoper webhooks"  # this endpoint's budget of refused requests per address
COUNTED_FAILURES = frozenset({401, 404})  # a wrong signature or shop ref: someone guessing

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


class ShoperWebhookIngest:
    """WSGI middleware: takes Shoper webhook deliveries, passes every other request on."""

    routes = {ROUTE: {"POST"}}  # what it serves in front of Flask's url_map

    def __init__(self, app: WSGIApp, services: Services) -> None:
        self.app = app
        self.svc = services
        self.writer = services.inbox_writer
        self.limits = services.limits
        self.events = frozenset(webhook_events("shoper"))
        self._secrets: dict[str, tuple[float, int, str]] = {}  # ref -> (expires, id, secret)

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if not path.startswith(PREFIX):
            return self.app(environ, start_response)
        shop_ref = path[len(PREFIX) :]
        if not shop_ref or "/" in shop_ref:
            return self.app(environ, start_response)  # not this route: Flask answers 404
        if environ.get("REQUEST_METHOD") != "POST":
            return _answer(
                start_response,
                405,
                {"error": "method_not_allowed", "message": "use POST"},
                [("Allow", "POST")],
            )
        client = environ.get("REMOTE_ADDR")
        try:
            # Only refusals are counted; an accepted delivery costs one look-up in memory here.
            self.limits.refuse_if_blocked(BUDGET, client)
            try:
                status, body = self._ingest(environ, shop_ref)
            except DomainError as exc:
                if exc.status in COUNTED_FAILURES:
                    self.limits.count_failure(BUDGET, client)  # RateLimited once over it
                raise
        except DomainError as exc:
            log.info("POST %s -> %s %s", PREFIX + "<shop>", exc.status, exc.code)
            error: dict[str, Any] = {"error": exc.code, "message": exc.message}
            if exc.field:
                error["field"] = exc.field
            retry = [("Retry-After", str(exc.retry_after))] if exc.retry_after else None
            return _answer(start_response, exc.status, error, retry)
        except (OperationalError, InterfaceError) as exc:
            # The database is down, unreachable or locked: ask Shoper to retry; nothing was
            # stored (or, if the connection died after COMMIT, the retry is a duplicate).
            log.error("database unavailable: %s", exc.orig)
            return _answer(
                start_response,
                503,
                {"error": "unavailable", "message": "database unavailable, retry later"},
                [("Retry-After", "30")],
            )
        except Exception:
            # A bug (or a database error that is neither bad input nor an outage): logged with
            # its traceback, answered in the same JSON shape as Flask's 500. Nothing committed.
            log.exception("webhook ingest failed")
            return _answer(
                start_response,
                500,
                {"error": "internal_server_error", "message": "internal error, retry later"},
            )
        start_response(status, [*_JSON, ("Content-Length", str(len(body)))])
        return [body]

    def _ingest(self, environ: dict[str, Any], shop_ref: str) -> tuple[str, bytes]:
        body = _read_body(environ, self.svc.settings.max_body_bytes)
        shop_id = self._verified_shop_id(environ, shop_ref, body)
        event_name = environ.get("HTTP_X_WEBHOOK_NAME", "")
        if event_name not in self.events:
            raise BadInput(f"unexpected event {event_name!r}", field="X-Webhook-Name")
        data = shoper_events.parse_json_object(body)
        key = f"{event_name}:{shoper_events.object_id(event_name, data)}:{inbox.body_digest(body)}"
        headers = {h: environ[k] for h, k in _KEPT_ENVIRON if k in environ}
        stored = self.writer.store(
            inbox.new_row(
                shop_id=shop_id,
                source="shoper",
                event_name=event_name,
                dedupe_key=key,
                body=body,
                headers=headers,
                now=self.svc.clock(),
            )
        )
        return ACCEPTED if stored else DUPLICATE

    def _verified_shop_id(self, environ: dict[str, Any], shop_ref: str, body: bytes) -> int:
        webhook_id = environ.get("HTTP_X_WEBHOOK_ID")
        given = environ.get("HTTP_X_WEBHOOK_SHA1")
        for fresh in (False, True):  # a mismatch re-reads the shop: the secret may have changed
            shop_id, secret = self._shop_secret(shop_ref, fresh=fresh)
            if secret and signature.verify_webhook(webhook_id, secret, body, given):
                return shop_id
        raise BadSignature("bad or missing X-Webhook-Sha1")

    def _shop_secret(self, shop_ref: str, *, fresh: bool) -> tuple[int, str]:
        """(shop id, webhook secret) of an active Shoper shop, from this process's cache
        unless `fresh`. The cache keeps a read and a Fernet decryption off most requests; an
        uninstalled shop's deliveries can still be stored for SECRET_TTL, and ingest plans
        nothing for an inactive shop."""
        now = time.monotonic()
        hit = None if fresh else self._secrets.get(shop_ref)
        if hit and hit[0] > now:
            return hit[1], hit[2]
        with self.svc.factory() as session:
            shop = session.execute(ACTIVE_SHOP, {"ref": shop_ref}).first()
        if shop is None:
            self._secrets.pop(shop_ref, None)
            raise UnknownShop("unknown shop")
        secret = self.svc.box.open(shop.webhook_secret_enc)
        self._secrets[shop_ref] = (now + SECRET_TTL, shop.id, secret)
        return shop.id, secret


def _read_body(environ: dict[str, Any], limit: int) -> bytes:
    """The raw body, refused over `limit` before it is read (Content-Length) or while it is
    (a chunked body, which gunicorn and waitress pass on de-chunked with
    `wsgi.input_terminated`, is read to at most one byte past the limit)."""
    length = environ.get("CONTENT_LENGTH") or ""
    stream = environ["wsgi.input"]
    if length:
        if not (length.isascii() and length.isdigit()):  # "²".isdigit() is True
            raise BadInput("bad Content-Length", field="Content-Length")
        size = int(length)
        if size > limit:
            raise PayloadTooLarge("request body is too large")
        return bytes(stream.read(size))
    if not environ.get("wsgi.input_terminated"):
        return b""  # PEP 3333: no length and no end-of-input promise means no body to read
    body = bytes(stream.read(limit + 1))
    if len(body) > limit:
        raise PayloadTooLarge("request body is too large")
    return body


def _answer(
    start_response: StartResponse,
    status: int,
    payload: dict[str, Any],
    extra: list[tuple[str, str]] | None = None,
) -> list[bytes]:
    body = json.dumps(payload).encode()
    start_response(
        f"{status} {HTTPStatus(status).phrase}",
        [*_JSON, ("Content-Length", str(len(body))), *(extra or [])],
    )
    return [body]
