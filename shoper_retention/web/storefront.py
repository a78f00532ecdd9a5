"""The shop's pages call these: cart snapshots, back-in-stock and birthday sign-ups
(ingest/storefront_forms.py lists them).

Keyed by the shop's public key (it names the shop, it is no secret). CORS answers only the
shop's own origin, and a request from any other origin is refused, so another site's script
cannot feed carts in a shopper's browser."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Response, g, jsonify, request
from sqlalchemy import select

from shoper_retention.contacts import records as contacts
from shoper_retention.errors import Forbidden, PayloadTooLarge, UnknownShop
from shoper_retention.ingest import inbox, storefront_forms
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


def cors(response: Response, origin: str) -> Response:
    response.headers["Access-Control-Allow-Origin"] = origin
    response.headers["Access-Control-Allow-Methods"] = "POST, OPTIONS"
    response.headers["Access-Control-Allow-Headers"] = "Content-Type"
    response.headers["Access-Control-Max-Age"] = "86400"
    response.headers["Vary"] = "Origin"
    return response


def shop_by_key(session: Any, public_key: str) -> Shop:
    shop = session.scalars(
        select(Shop).where(Shop.public_key == public_key, Shop.status == "active")
    ).first()
    if shop is None:
        raise UnknownShop("unknown shop")
    return shop


def check_origin(shop: Shop) -> None:
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
    return cors(response, origin) if origin else response


@blueprint.before_request
def _limit_client() -> None:
    """Every storefront call counts against its sender's per-address limit, first of all."""
    services().limits.hit(STOREFRONT_PER_IP, request_client())


def preflight(public_key: str, form_path: str) -> Any:
    svc = services()
    with svc.factory() as session:
        check_origin(shop_by_key(session, public_key))
    return Response(status=204)


def storefront_form(public_key: str, form_path: str) -> Any:
    """A cart snapshot, a back-in-stock or a birthday sign-up (README, "The storefront
    contract"): checked here (origin, limits, size, the form's own parser: a 400 names the
    field at fault), stored in the inbox, applied by the worker."""
    form = storefront_forms.BY_PATH[form_path]
    svc = services()
    svc.limits.hit(STOREFRONT_PER_SHOP, public_key)  # before any work for the shop
    with svc.factory() as session:
        # The shop and the origin first, so that every refusal, a too large body included,
        # carries CORS for the shop's own pages (the widget then reads why).
        shop = shop_by_key(session, public_key)
        check_origin(shop)
    limit = svc.settings.max_storefront_body_bytes
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLarge(f"body over {limit} bytes")
    body = request.get_data(cache=False)
    if len(body) > limit:
        raise PayloadTooLarge(f"body over {limit} bytes")
    now = svc.clock()
    event = form.parse(body, now, shop)
    with svc.factory() as session, session.begin():
        if contacts.names_someone_new(session, shop.id, event.contact):
            # Each new address is someone we may message: a shop meets only so many an hour.
            svc.limits.hit(NEW_CONTACTS_PER_SHOP, public_key)
        stored = inbox.store(
            session,
            inbox.new_row(
                shop_id=shop.id,
                source="storefront",
                event_name=form.event_name,
                dedupe_key=form.dedupe_key(event, body),
                body=body,
                headers={},
                now=now,
            ),
        )
    return jsonify(status="accepted" if stored else "duplicate"), 202 if stored else 200


for _form in storefront_forms.FORMS:
    # One rule per form (the manifest names each path): an unknown path stays a 404.
    _rule = f"/storefront/<public_key>/{_form.path}"
    _defaults = {"form_path": _form.path}
    blueprint.add_url_rule(
        _rule, f"{_form.event_name}_preflight", preflight, methods=["OPTIONS"], defaults=_defaults
    )
    blueprint.add_url_rule(
        _rule, _form.event_name, storefront_form, methods=["POST"], defaults=_defaults
    )
