"""The shop's pages call these: cart snapshots now; the widget and "notify me" come next.

Keyed by the shop's public key (it names the shop, it is no secret). CORS answers only the
shop's own origin, and a request from any other origin is refused, so another site's script
cannot feed carts in a shopper's browser."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Response, g, jsonify, request
from sqlalchemy import select

from shoper_retention import shop_config
from shoper_retention.contacts import records as contacts
from shoper_retention.errors import Forbidden, PayloadTooLarge, UnknownShop
from shoper_retention.ingest import inbox
from shoper_retention.ingest.storefront_birthday import parse_birthday_signup
from shoper_retention.ingest.storefront_events import parse_snapshot
from shoper_retention.ingest.storefront_restock import parse_restock
from shoper_retention.models import Shop
from shoper_retention.web.rate_limits import (
    NEW_CONTACTS_PER_SHOP,
    STOREFRONT_PER_IP,
    STOREFRONT_PER_SHOP,
    request_client,
)
from shoper_retention.web.services import services

blueprint = Blueprint("storefront", __name__)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower() if parts.scheme and parts.netloc else ""


def _allowed_origins(shop: Shop) -> set[str]:
    origins = {_origin(shop.shop_url)}
    for extra in (shop.settings or {}).get("storefront_origins", []):
        origins.add(_origin(str(extra)))
    origins.discard("")
    return origins


def _cors(response: Response, origin: str) -> Response:
    response.headers["Access-Control-Allow-Origin"] = origin
    response.headers["Access-Control-Allow-Methods"] = "POST, OPTIONS"
    response.headers["Access-Control-Allow-Headers"] = "Content-Type"
    response.headers["Access-Control-Max-Age"] = "86400"
    response.headers["Vary"] = "Origin"
    return response


def _shop(session: Any, public_key: str) -> Shop:
    shop = session.scalars(
        select(Shop).where(Shop.public_key == public_key, Shop.status == "active")
    ).first()
    if shop is None:
        raise UnknownShop("unknown shop")
    return shop


def _check_origin(shop: Shop) -> None:
    """Refuse a browser call from any origin but the shop's; no Origin (a server-side call) is
    allowed. An allowed origin is remembered so every answer, a 400 included, carries CORS:
    without it the widget could not read which field was at fault."""
    origin = request.headers.get("Origin", "")
    if origin and origin.lower() not in _allowed_origins(shop):
        raise Forbidden("origin not allowed for this shop")
    if origin:
        g.storefront_origin = origin


@blueprint.after_request
def _add_cors(response: Response) -> Response:
    origin = g.get("storefront_origin")
    return _cors(response, origin) if origin else response


@blueprint.before_request
def _limit_client() -> None:
    """Every storefront call counts against its sender's per-address limit, first of all."""
    services().limits.hit(STOREFRONT_PER_IP, request_client())


def _dedupe_key(cart_id: str, body: bytes) -> str:
    """The same snapshot sent twice is stored once. The key column holds 128 characters and a
    cart id may have 128 itself, so the id is cut short, never the body hash (which covers the
    whole id): cutting the hash would drop every later change of a long-id cart as a repeat."""
    return f"cart:{cart_id[:64]}:{inbox.body_digest(body)}"


@blueprint.route("/storefront/<public_key>/events", methods=["OPTIONS"])
def events_preflight(public_key: str) -> Any:
    svc = services()
    with svc.factory() as session:
        _check_origin(_shop(session, public_key))
    return Response(status=204)


@blueprint.post("/storefront/<public_key>/events")
def cart_event(public_key: str) -> Any:
    svc = services()
    svc.limits.hit(STOREFRONT_PER_SHOP, public_key)  # before any work for the shop
    with svc.factory() as session:
        # The shop and the origin first, so that every refusal, a too large body included,
        # carries CORS for the shop's own pages (the widget then reads why).
        shop = _shop(session, public_key)
        _check_origin(shop)
        shop_id, region = shop.id, shop.country
    limit = svc.settings.max_storefront_body_bytes
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLarge(f"body over {limit} bytes")
    body = request.get_data(cache=False)
    if len(body) > limit:
        raise PayloadTooLarge(f"body over {limit} bytes")
    now = svc.clock()
    snapshot = parse_snapshot(body, now, region)  # 400 naming the field at fault
    with svc.factory() as session, session.begin():
        if contacts.names_someone_new(session, shop_id, snapshot.contact):
            # Each new address is someone we may message: a shop meets only so many an hour.
            svc.limits.hit(NEW_CONTACTS_PER_SHOP, public_key)
        stored = inbox.store(
            session,
            inbox.new_row(
                shop_id=shop_id,
                source="storefront",
                event_name="cart",
                dedupe_key=_dedupe_key(snapshot.cart_id, body),
                body=body,
                headers={},
                now=now,
            ),
        )
    return jsonify(status="accepted" if stored else "duplicate"), 202 if stored else 200


@blueprint.route("/storefront/<public_key>/restock", methods=["OPTIONS"])
def restock_preflight(public_key: str) -> Any:
    svc = services()
    with svc.factory() as session:
        _check_origin(_shop(session, public_key))
    return Response(status=204)


@blueprint.post("/storefront/<public_key>/restock")
def restock_signup(public_key: str) -> Any:
    """A "notify me when it is back" sign-up (README, "The storefront contract: back in
    stock"): the same origin, limits and address rules as a cart snapshot. Whether the product
    exists is learnt from the platform later (the catalogue and stock reads), not here."""
    svc = services()
    svc.limits.hit(STOREFRONT_PER_SHOP, public_key)
    with svc.factory() as session:
        shop = _shop(session, public_key)
        _check_origin(shop)
        shop_id, region, countries = shop.id, shop.country, shop_config.sms_countries(shop)
    limit = svc.settings.max_storefront_body_bytes
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLarge(f"body over {limit} bytes")
    body = request.get_data(cache=False)
    if len(body) > limit:
        raise PayloadTooLarge(f"body over {limit} bytes")
    now = svc.clock()
    signup = parse_restock(body, now, region, countries)  # 400 naming the field at fault
    with svc.factory() as session, session.begin():
        if contacts.names_someone_new(session, shop_id, signup.contact):
            svc.limits.hit(NEW_CONTACTS_PER_SHOP, public_key)
        stored = inbox.store(
            session,
            inbox.new_row(
                shop_id=shop_id,
                source="storefront",
                event_name="restock",
                dedupe_key=f"restock:{inbox.body_digest(body)}",
                body=body,
                headers={},
                now=now,
            ),
        )
    return jsonify(status="accepted" if stored else "duplicate"), 202 if stored else 200


@blueprint.route("/storefront/<public_key>/birthday", methods=["OPTIONS"])
def birthday_preflight(public_key: str) -> Any:
    svc = services()
    with svc.factory() as session:
        _check_origin(_shop(session, public_key))
    return Response(status=204)


@blueprint.post("/storefront/<public_key>/birthday")
def birthday_signup(public_key: str) -> Any:
    """The "a gift on your birthday" form: the same origin, limits and address rules as a cart
    snapshot (README, "The storefront contract: birthday sign-ups"); what it may change is
    contacts/dates.py's rule."""
    svc = services()
    svc.limits.hit(STOREFRONT_PER_SHOP, public_key)
    with svc.factory() as session:
        shop = _shop(session, public_key)
        _check_origin(shop)
        shop_id, region = shop.id, shop.country
    limit = svc.settings.max_storefront_body_bytes
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLarge(f"body over {limit} bytes")
    body = request.get_data(cache=False)
    if len(body) > limit:
        raise PayloadTooLarge(f"body over {limit} bytes")
    now = svc.clock()
    signup = parse_birthday_signup(body, now, region)  # 400 naming the field at fault
    with svc.factory() as session, session.begin():
        if contacts.names_someone_new(session, shop_id, signup.contact):
            svc.limits.hit(NEW_CONTACTS_PER_SHOP, public_key)
        stored = inbox.store(
            session,
            inbox.new_row(
                shop_id=shop_id,
                source="storefront",
                event_name="birthday",
                dedupe_key=f"birthday:{inbox.body_digest(body)}",
                body=body,
                headers={},
                now=now,
            ),
        )
    return jsonify(status="accepted" if stored else "duplicate"), 202 if stored else 200
