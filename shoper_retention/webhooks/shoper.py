"""Shoper: lifecycle callbacks (`POST /shoper/appstore`) and webhooks
(`POST /shoper/webhooks/<shop_ref>`).

A webhook is verified over the raw body, stored in the inbox under a dedupe key and answered
202; the worker does the rest. Shoper sends no delivery id, so the key is (event, object id,
body hash): the same delivery retried is stored once, a real change to the order is not."""

from __future__ import annotations

import time
from typing import Any

from flask import Blueprint, jsonify, request
from sqlalchemy import bindparam, select

from shoper_retention import inbox
from shoper_retention.app import Services, services
from shoper_retention.errors import BadInput, BadSignature, PayloadTooLarge, UnknownShop
from shoper_retention.manifest import webhook_events
from shoper_retention.models import Shop
from shoper_retention.platforms.shoper import events as shoper_events
from shoper_retention.platforms.shoper import signature

blueprint = Blueprint("shoper", __name__)
KEPT_HEADERS = (
    "X-Shop-Domain",
    "X-Shop-License",
    "X-Shop-Version",
    "X-Webhook-Id",
    "X-Webhook-Name",
)
_KEPT_ENVIRON = tuple((h, "HTTP_" + h.upper().replace("-", "_")) for h in KEPT_HEADERS)
# Answers built once: the hot path should not serialise the same two JSON bodies every time.
ACCEPTED = (b'{"status":"accepted"}', 202, {"Content-Type": "application/json"})
DUPLICATE = (b'{"status":"duplicate"}', 200, {"Content-Type": "application/json"})


@blueprint.post("/shoper/appstore")
def appstore_callback() -> Any:
    svc = services()
    form = {key: request.form[key] for key in request.form}
    with svc.factory() as session, session.begin():
        result = svc.shoper.handle_callback(session, form, svc.clock())
    return jsonify(status="ok", result=result)


# The two columns a delivery needs, built once (no per-request statement building or ORM load).
ACTIVE_SHOP = select(Shop.id, Shop.webhook_secret_enc).where(
    Shop.ref == bindparam("ref"), Shop.platform == "shoper", Shop.status == "active"
)
SECRET_TTL = 10.0  # seconds a worker reuses a shop's decrypted secret
_secrets: dict[str, tuple[float, int, str]] = {}  # shop_ref -> (expires, shop id, secret)


def _shop_secret(svc: Services, shop_ref: str, *, fresh: bool) -> tuple[int, str]:
    """(shop id, webhook secret) of an active Shoper shop, from this worker's cache unless
    `fresh`. The cache keeps the read (and its BEGIN IMMEDIATE on SQLite) off most requests."""
    now = time.monotonic()
    hit = None if fresh else _secrets.get(shop_ref)
    if hit and hit[0] > now:
        return hit[1], hit[2]
    with svc.factory() as session:
        shop = session.execute(ACTIVE_SHOP, {"ref": shop_ref}).first()
    if shop is None:
        _secrets.pop(shop_ref, None)
        raise UnknownShop("unknown shop")
    secret = svc.box.open(shop.webhook_secret_enc)
    _secrets[shop_ref] = (now + SECRET_TTL, shop.id, secret)
    return shop.id, secret


def _verified_shop_id(svc: Services, shop_ref: str, body: bytes) -> int:
    webhook_id = request.headers.get("X-Webhook-Id")
    given = request.headers.get("X-Webhook-Sha1")
    for fresh in (False, True):  # a mismatch re-reads the shop: the secret may have changed
        shop_id, secret = _shop_secret(svc, shop_ref, fresh=fresh)
        if secret and signature.verify_webhook(webhook_id, secret, body, given):
            return shop_id
    raise BadSignature("bad or missing X-Webhook-Sha1")


@blueprint.post("/shoper/webhooks/<shop_ref>")
def webhook(shop_ref: str) -> Any:
    svc = services()
    if request.content_length is not None and request.content_length > svc.settings.max_body_bytes:
        raise PayloadTooLarge("request body is too large")
    body = request.get_data(cache=False)
    shop_id = _verified_shop_id(svc, shop_ref, body)
    event_name = request.headers.get("X-Webhook-Name", "")
    if event_name not in webhook_events("shoper"):
        raise BadInput(f"unexpected event {event_name!r}", field="X-Webhook-Name")
    data = shoper_events.parse_json_object(body)
    key = f"{event_name}:{shoper_events.object_id(event_name, data)}:{inbox.body_digest(body)}"
    environ = request.environ  # one dict lookup per header; werkzeug's Headers cost more
    headers = {h: environ[k] for h, k in _KEPT_ENVIRON if k in environ}
    # The write transaction (on SQLite: the database's one write lock, held from BEGIN
    # IMMEDIATE) holds only the INSERT; everything above runs outside it.
    with svc.engine.begin() as connection:
        stored = inbox.store(
            connection,
            shop_id=shop_id,
            source="shoper",
            event_name=event_name,
            dedupe_key=key,
            body=body,
            headers=headers,
            now=svc.clock(),
        )
    return ACCEPTED if stored else DUPLICATE
