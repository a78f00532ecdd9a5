"""Shoper: lifecycle callbacks (`POST /shoper/appstore`) and webhooks
(`POST /shoper/webhooks/<shop_ref>`).

A webhook is verified over the raw body, stored in the inbox under a dedupe key and answered
202; the worker does the rest. Shoper sends no delivery id, so the key is (event, object id,
body hash): the same delivery retried is stored once, a real change to the order is not."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request
from sqlalchemy import select

from shoper_retention import inbox
from shoper_retention.app import services
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


@blueprint.post("/shoper/appstore")
def appstore_callback() -> Any:
    svc = services()
    form = {key: request.form[key] for key in request.form}
    with svc.factory() as session, session.begin():
        result = svc.shoper.handle_callback(session, form, svc.clock())
    return jsonify(status="ok", result=result)


@blueprint.post("/shoper/webhooks/<shop_ref>")
def webhook(shop_ref: str) -> Any:
    svc = services()
    if request.content_length is not None and request.content_length > svc.settings.max_body_bytes:
        raise PayloadTooLarge("request body is too large")
    body = request.get_data(cache=False)
    with svc.factory() as session, session.begin():
        shop = session.scalars(
            select(Shop).where(
                Shop.ref == shop_ref, Shop.platform == "shoper", Shop.status == "active"
            )
        ).first()
        if shop is None:
            raise UnknownShop("unknown shop")
        secret = svc.box.open(shop.webhook_secret_enc)
        webhook_id = request.headers.get("X-Webhook-Id")
        given = request.headers.get("X-Webhook-Sha1")
        if not secret or not signature.verify_webhook(webhook_id, secret, body, given):
            raise BadSignature("bad or missing X-Webhook-Sha1")
        event_name = request.headers.get("X-Webhook-Name", "")
        if event_name not in webhook_events("shoper"):
            raise BadInput(f"unexpected event {event_name!r}", field="X-Webhook-Name")
        data = shoper_events.parse_json_object(body)
        key = f"{event_name}:{shoper_events.object_id(event_name, data)}:{inbox.body_digest(body)}"
        stored = inbox.store(
            session,
            shop_id=shop.id,
            source="shoper",
            event_name=event_name,
            dedupe_key=key,
            body=body,
            headers={h: request.headers[h] for h in KEPT_HEADERS if h in request.headers},
            now=svc.clock(),
        )
    return jsonify(status="accepted" if stored else "duplicate"), 202 if stored else 200
