"""The storefront widget's side of us: the script the shop's pages load
(`/storefront/<key>/widget.js`), the loader Ecwid puts on every store (`/ecwid/storefront.js`),
where the widget reports its own errors, and what it reads back to continue a cart that a
reminder's link opened.

The script is one static file (static/widget.js) with the shop's public settings laid in: its
key, our base URL, its language and currency, which forms are on, and the consent text with its
version. Nothing secret goes in: anyone can read it. It posts to the storefront endpoints
(storefront.py), whose contracts it follows and never changes."""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import re
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from flask import Blueprint, Response, request
from limits import parse as parse_limit
from sqlalchemy import select

from shoper_retention import shop_config
from shoper_retention.commerce.carts import OPEN_STATES
from shoper_retention.errors import Forbidden, NotFound, PayloadTooLarge
from shoper_retention.ingest.untrusted_json import parse_object
from shoper_retention.messaging.locales import language_of
from shoper_retention.models import Cart, Shop
from shoper_retention.settings import Settings
from shoper_retention.web.rate_limits import STOREFRONT_PER_IP, request_client
from shoper_retention.web.services import services

# The origin rule (the shop's own pages only) is the storefront endpoints' own, not a copy.
from shoper_retention.web.storefront import check_origin, cors, shop_by_key

log = logging.getLogger(__name__)
blueprint = Blueprint("widget", __name__)

STATIC = Path(__file__).resolve().parent.parent / "static"
CACHE_CONTROL = "public, max-age=300"
CONFIG_MARK = "__SR_CONFIG__"
# The sign-up texts of the back-in-stock and birthday forms are ours (static/widget.js), in the
# shopper's language: their version (with the language) goes with each sign-up as the proof
# the contract asks for. A change of their words in widget.js needs the next number here.
RESTOCK_TEXT_VERSION = "widget-restock-2"
BIRTHDAY_TEXT_VERSION = "widget-birthday-1"
# Error reports: a widget sends at most 3 per page load; these bound what a broken template
# (or someone posting in a loop) can write to our log, per shop and on top of the per-address
# storefront limit.
ERRORS_PER_SHOP = "widget errors per shop"
ERRORS_PER_SHOP_LIMIT = "30/minute"
MAX_ERROR_BODY = 4096
# What a shopper's browser may put in an error message that is none of our business.
_EMAIL = re.compile(r"[^\s@\"'<>(),;:]+@[^\s@\"'<>(),;:]+")
_DIGITS = re.compile(r"\+?\d[\d\s().-]{5,}\d")
_QUERY = re.compile(r"\?[^\s#)]*")
_SPACE = re.compile(r"\s+")
# Control characters (C0 and C1) and bidirectional overrides: a report must not be able to
# drive a terminal or show an operator its log line in another order.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


@blueprint.record_once
def _register_error_limit(state: Any) -> None:
    limits = state.app.extensions["shoper_retention"].limits
    limits.items[ERRORS_PER_SHOP] = parse_limit(ERRORS_PER_SHOP_LIMIT)


@functools.cache
def static_script(name: str) -> str:
    """A script of static/ as served: whole-line comments, blank lines and indentation left
    out. The comments cite the platforms' documentation for whoever reads the source;
    shoppers' browsers need not download them (the widget must stay under 10 KB gzipped)."""
    kept = []
    for line in (STATIC / name).read_text("utf-8").splitlines():
        text = line.strip()
        if text and not text.startswith("//"):
            kept.append(text)
    return "\n".join(kept) + "\n"


def _javascript(body: str, status: int = 200, *, cache: bool = True) -> Response:
    response = Response(body, status=status, content_type="application/javascript; charset=utf-8")
    if cache:
        response.headers["Cache-Control"] = CACHE_CONTROL
        response.set_etag(hashlib.sha256(body.encode()).hexdigest()[:32])
        response.make_conditional(request)
    else:
        response.headers["Cache-Control"] = "no-cache"
    return response


def _js_literal(value: Any) -> str:
    """JSON that is also safe as a JavaScript expression anywhere (no `</script>`, no line
    separators that end a JavaScript string)."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return (
        text.replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


def widget_config(shop: Shop, settings: Settings) -> dict[str, Any]:
    """What the widget knows of its shop: public values only."""
    widget = shop_config.widget(shop)
    config: dict[str, Any] = {
        "key": shop.public_key,
        "base": settings.public_url.rstrip("/"),
        "platform": shop.platform,
        "lang": language_of(shop.language),
        "currency": shop.currency,
        "restock": widget.restock_form,
        "birthday": widget.birthday_form,
        "consent": {"text": widget.consent_text, "version": widget.consent_version},
        "restockVersion": RESTOCK_TEXT_VERSION,
        "birthdayVersion": BIRTHDAY_TEXT_VERSION,
    }
    platform = services().platforms.by_name.get(shop.platform)
    if platform is not None:
        config.update(platform.widget_config())
    return config


@blueprint.get("/storefront/<public_key>/widget.js")
def widget_script(public_key: str) -> Response:
    svc = services()
    svc.limits.hit(STOREFRONT_PER_IP, request_client())
    with svc.factory() as session:
        shop = session.scalars(
            select(Shop).where(Shop.public_key == public_key, Shop.status == "active")
        ).first()
        if shop is None:
            # A script tag left behind after an uninstall, or a typo: nothing runs, nothing
            # breaks on the page, and the comment says why to whoever looks.
            return _javascript(
                "// shoper-retention: no active shop has this storefront key\n", 404, cache=False
            )
        config = widget_config(shop, svc.settings)
    body = static_script("widget.js").replace(CONFIG_MARK, _js_literal(config), 1)
    return _javascript(body)


@blueprint.get("/ecwid/storefront.js")
def ecwid_loader() -> Response:
    """One script for every Ecwid store, registered with the app: it reads the store's storefront
    key from the app's public config (stored at install) and loads that shop's widget."""
    settings = services().settings
    services().limits.hit(STOREFRONT_PER_IP, request_client())
    if not settings.ecwid_client_id:
        return _javascript("// shoper-retention: Ecwid is not configured here\n", 404, cache=False)
    config = {"clientId": settings.ecwid_client_id, "base": settings.public_url.rstrip("/")}
    body = static_script("ecwid_loader.js").replace(CONFIG_MARK, _js_literal(config), 1)
    return _javascript(body)


def _scrub(value: Any, limit: int) -> str:
    """One line of a report, with anything that may name a shopper (an e-mail, a phone or
    card number, a query string) taken out, cut to `limit` characters. Percent-escapes are
    decoded first (`jan%40example.com` is an address too), control characters and bidi
    overrides dropped."""
    if not isinstance(value, str):
        return ""
    text = value[: limit * 3]
    for _ in range(3):  # `%2540` is `%40` once decoded
        decoded = unquote(text, errors="replace")
        if decoded == text:
            break
        text = decoded
    text = _SPACE.sub(" ", _CONTROL.sub(" ", text))
    text = _EMAIL.sub("<email>", text)
    text = _QUERY.sub("?<query>", text)
    text = _DIGITS.sub("<digits>", text)
    return text.strip()[:limit]


@blueprint.route("/storefront/<public_key>/errors", methods=["OPTIONS"])
def widget_error_preflight(public_key: str) -> Response:
    svc = services()
    svc.limits.hit(STOREFRONT_PER_IP, request_client())
    with svc.factory() as session:
        origin = _allowed_origin(shop_by_key(session, public_key))
    return _with_cors(Response(status=204), origin)


@blueprint.post("/storefront/<public_key>/errors")
def widget_error(public_key: str) -> Response:
    """An error the widget caught on a shop's page (README, "The storefront contract: widget
    errors"): logged without anything that could name a shopper, nothing stored."""
    svc = services()
    svc.limits.hit(STOREFRONT_PER_IP, request_client())
    with svc.factory() as session:
        shop = shop_by_key(session, public_key)
        origin = _allowed_origin(shop)
        shop_id, platform = shop.id, shop.platform
    if not origin:
        # The widget reports from the shop's pages, and a browser names the origin of every
        # request that is not GET or HEAD, sendBeacon's included (Firefox since 70):
        # https://fetch.spec.whatwg.org/#origin-header
        raise Forbidden("a report comes from the shop's pages only")
    # Only reports that passed the origin check count against the shop's budget: a stranger
    # must not use it up and silence a shop's real reports.
    svc.limits.hit(ERRORS_PER_SHOP, public_key)
    if request.content_length is not None and request.content_length > MAX_ERROR_BODY:
        raise PayloadTooLarge(f"body over {MAX_ERROR_BODY} bytes")
    body = request.get_data(cache=False)
    if len(body) > MAX_ERROR_BODY:
        raise PayloadTooLarge(f"body over {MAX_ERROR_BODY} bytes")
    report = parse_object(body, max_depth=2, free_text=True)
    log.warning(
        "storefront widget error: shop %s (%s) in %s: %s | %s",
        shop_id,
        platform,
        _scrub(report.get("where"), 40) or "?",
        _scrub(report.get("message"), 300) or "?",
        _scrub(report.get("stack"), 600),
    )
    return _with_cors(Response(status=204), origin)


@blueprint.get("/storefront/<public_key>/carts/<token>")
def restored_cart(public_key: str, token: str) -> Response:
    """The cart a reminder's link names (`?sr_cart=<token>` on the shop's basket page): its id,
    so the widget's next snapshot continues that cart instead of starting another, and what
    was in it (product ids and quantities only), so the widget can put it back in an empty
    basket. Whoever holds the token got it in that cart's own reminder."""
    svc = services()
    svc.limits.hit(STOREFRONT_PER_IP, request_client())
    with svc.factory() as session:
        shop = shop_by_key(session, public_key)
        origin = _allowed_origin(shop)
        cart = session.scalars(
            select(Cart).where(
                Cart.shop_id == shop.id, Cart.token == token, Cart.status.in_(OPEN_STATES)
            )
        ).first()
        if cart is None:
            raise NotFound("no open cart has this token")
        answer = {
            "cart_id": cart.platform_cart_id,
            "items": [
                {
                    "product_id": str(item.get("product_id", "")),
                    "variant_id": str(item.get("variant_id") or ""),
                    "quantity": int(item.get("quantity") or 1),
                }
                for item in cart.items or []
            ],
        }
    response = Response(
        json.dumps(answer), status=200, content_type="application/json; charset=utf-8"
    )
    response.headers["Cache-Control"] = "no-store"
    return _with_cors(response, origin)


def _allowed_origin(shop: Shop) -> str:
    """The request's Origin when it is the shop's own (else Forbidden); "" for a call with
    no Origin (not from a browser)."""
    check_origin(shop)
    return request.headers.get("Origin", "")


def _with_cors(response: Response, origin: str) -> Response:
    if origin:
        cors(response, origin)
        response.headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
    return response
