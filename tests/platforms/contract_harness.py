"""One small harness per platform for the contract suite (test_platform_contract.py): each
drives its platform's real install flow against that platform's fake, builds deliveries signed
as the platform signs them (and forged ones), seeds a product in the fake's catalogue and reads
back the coupons the fake was asked to create, in one shape the shared tests can compare.

Shoper's side is `responses` (as in test_shoper_install.py), Ecwid's the loopback FakeEcwid
(tests/fakes/ecwid_server.py). Signatures are computed here, not with our code, so the app is
not graded by itself."""

from __future__ import annotations

import copy
import hashlib
import json
import re
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import responses

from shoper_retention.platforms.shoper.signature import appstore_hash
from shoper_retention.settings import Settings
from tests.fakes.ecwid_server import FakeEcwid, sample_order, sample_product
from tests.platforms.ecwid_support import CLIENT_SECRET, STORE_ID, webhook, with_ecwid
from tests.support import Clock, order_payload

SAMPLES = Path(__file__).resolve().parent.parent / "samples" / "shoper"


@dataclass(frozen=True)
class OrderFacts:
    order_id: str
    email: str
    total: Decimal
    paid: bool


@dataclass(frozen=True)
class Delivery:
    """A webhook as the platform POSTs it to us."""

    path: str
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class CouponSeen:
    """A coupon the platform was asked to create: its code, the percent off (None when it is
    not a percentage) and whether it can be used once only."""

    code: str
    percent: Decimal | None
    single_use: bool


class Harness(Protocol):
    name: str  # Shop.platform
    order_event: str  # the webhook event of a new order
    accepted: int  # the status a stored delivery is answered with

    def settings(self, settings: Settings) -> Settings:
        """The app's settings, pointed at this platform's fake."""

    def install(self, client: Any, attempt: int = 1) -> str:
        """Install the shop through the platform's own flow; returns the access token it got.
        Another `attempt` installs the same shop again, with a new code and token."""

    def signed_order(self, order: OrderFacts) -> Delivery: ...

    def forged_order(self, order: OrderFacts) -> Delivery: ...

    def seed_product(self, product_id: str, name: str, price: Decimal) -> str:
        """Put a product in the fake's catalogue; returns the photo URL it should show with."""

    def coupons(self) -> list[CouponSeen]: ...


# --- Shoper ----------------------------------------------------------------------------------

SHOPER_LICENCE = "c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00"
SHOPER_URL = "https://sklep.example"
SHOPER_REST = f"{SHOPER_URL}/webapi/rest"
SHOPER_WEBHOOK_ID = 42
SHOPER_PROFILE = {
    "shop_name": "Ceramika Nowak",
    "shop_email": "biuro@sklep.example",
    "default_language_name": "pl_PL",
    "default_currency_name": "PLN",
    "locale_timezone": "Europe/Warsaw",
    "shop_url": SHOPER_URL,
}


class ShoperHarness:
    """Shoper's OAuth and REST answered by `responses`; its App Store callback signed with the
    app store secret of the suite's settings (tests/conftest.py)."""

    name = "shoper"
    order_event = "order.create"
    accepted = 202

    def __init__(self, rsps: responses.RequestsMock, clock: Clock) -> None:
        self.rsps = rsps
        self.clock = clock
        self.products: dict[str, dict[str, Any]] = {}
        self.webhook_url = ""
        self.webhook_secret = ""
        rsps.add_callback(
            responses.GET, re.compile(rf"{re.escape(SHOPER_REST)}/products/\d+"), self._product
        )
        rsps.post(f"{SHOPER_REST}/promotion-codes", json=321)
        rsps.get(f"{SHOPER_REST}/application-config", json=SHOPER_PROFILE)
        empty = {"count": "0", "pages": "0", "page": "1", "list": []}
        rsps.get(f"{SHOPER_REST}/webhooks", json=empty)
        for past in ("orders", "users"):  # the history import an install asks for: none yet
            rsps.get(f"{SHOPER_REST}/{past}", json=empty)
        rsps.add_callback(responses.POST, f"{SHOPER_REST}/webhooks", self._webhook_created)

    def settings(self, settings: Settings) -> Settings:
        return settings

    def install(self, client: Any, attempt: int = 1) -> str:
        token = f"shoper-access-token-{attempt}"
        answer = {
            "access_token": token,
            "refresh_token": f"shoper-refresh-token-{attempt}",
            "expires_in": 30 * 24 * 3600,
            "token_type": "bearer",
        }
        self.rsps.upsert(responses.POST, f"{SHOPER_REST}/oauth/token", json=answer)
        local = self.clock.now.astimezone(ZoneInfo("Europe/Warsaw"))
        form = {
            "action": "install",
            "shop": SHOPER_LICENCE,
            "shop_url": SHOPER_URL,
            "application_code": "app-id",
            "application_version": "1",
            "auth_code": f"auth-code-{attempt}",
            "timestamp": local.strftime("%Y-%m-%d %H:%M:%S"),
        }
        form["hash"] = appstore_hash(form, "appstore-secret")
        reply = client.post("/shoper/appstore", data=form)
        assert reply.status_code == 200, reply.get_data(as_text=True)
        return token

    def _webhook_created(self, request: Any) -> tuple[int, dict[str, str], str]:
        """POST webhooks: the URL and secret our install registered are where and how Shoper
        will deliver."""
        sent = json.loads(request.body)
        self.webhook_url, self.webhook_secret = sent["url"], sent["secret"]
        return 200, {}, json.dumps(SHOPER_WEBHOOK_ID)

    def signed_order(self, order: OrderFacts) -> Delivery:
        return self._order(order, self.webhook_secret)

    def forged_order(self, order: OrderFacts) -> Delivery:
        return self._order(order, "not-the-shops-secret")

    def _order(self, order: OrderFacts, secret: str) -> Delivery:
        payload = order_payload(
            order.order_id,
            at=self.clock.now,
            email=order.email,
            paid=order.paid,
            total=str(order.total),
        )
        body = json.dumps(payload).encode()
        # X-Webhook-Sha1: SHA-1 of "<webhook id>:<secret>:<raw body>" (platforms.md).
        digest = hashlib.sha1(f"{SHOPER_WEBHOOK_ID}:{secret}:".encode() + body).hexdigest()
        headers = {
            "Content-Type": "application/json",
            "X-Webhook-Id": str(SHOPER_WEBHOOK_ID),
            "X-Webhook-Name": self.order_event,
            "X-Webhook-Sha1": digest,
            "X-Shop-License": SHOPER_LICENCE,
        }
        return Delivery(urlsplit(self.webhook_url).path, headers, body)

    def seed_product(self, product_id: str, name: str, price: Decimal) -> str:
        product = copy.deepcopy(json.loads((SAMPLES / "GET_products_36.json").read_text()))
        product["product_id"] = product["stock"]["product_id"] = product_id
        product["stock"]["price"] = product["stock"]["comp_price"] = f"{price:.2f}"
        product["translations"]["pl_PL"]["name"] = name
        product["main_image"]["unic_name"] = f"9{product_id}"
        self.products[product_id] = product
        # Shoper serves product photos from the shop's own gfx folder (catalogue.image_url).
        return f"{SHOPER_URL}/userdata/public/gfx/9{product_id}.jpg"

    def _product(self, request: Any) -> tuple[int, dict[str, str], str]:
        product_id = urlsplit(request.url).path.rsplit("/", 1)[1]
        product = self.products.get(product_id)
        if product is None:
            missing = {"error": "invalid_request", "error_description": "Resource not found"}
            return 404, {}, json.dumps(missing)
        return 200, {}, json.dumps(product)

    def coupons(self) -> list[CouponSeen]:
        seen = []
        for call in self.rsps.calls:
            url, body = str(call.request.url), call.request.body
            if call.request.method == "POST" and url.endswith("/promotion-codes"):
                sent = json.loads(body)  # type: ignore[arg-type]
                # discount_type 1 is a percentage (GET_promotion-codes_1.json: a 10% code).
                percent = (
                    Decimal(str(sent["discount"])) if int(sent["discount_type"]) == 1 else None
                )
                seen.append(CouponSeen(sent["code"], percent, int(sent["usage_limit"]) == 1))
        return seen


# --- Ecwid -----------------------------------------------------------------------------------

ECWID_CALLBACK = "https://retention.example/ecwid/oauth/callback"


class EcwidHarness:
    """The loopback FakeEcwid: an install through the OAuth callback, deliveries signed with
    the app's client secret by the fake's own code."""

    name = "ecwid"
    order_event = "order.created"
    accepted = 200

    def __init__(self, fake: FakeEcwid, clock: Clock) -> None:
        self.fake = fake
        self.clock = clock

    def settings(self, settings: Settings) -> Settings:
        return with_ecwid(settings, self.fake)

    def install(self, client: Any, attempt: int = 1) -> str:
        token = f"ecwid-access-token-{attempt}"
        code = f"ecwid-code-{attempt}"
        self.fake.issue_code(code, STORE_ID, token, redirect_uri=ECWID_CALLBACK)
        answer = client.get("/ecwid/oauth/callback", query_string={"code": code})
        # Installed: sent on to the code-less page (a reload must not exchange the code again).
        assert answer.status_code == 303, answer.get_data(as_text=True)
        return token

    def signed_order(self, order: OrderFacts) -> Delivery:
        return self._order(order, CLIENT_SECRET)

    def forged_order(self, order: OrderFacts) -> Delivery:
        return self._order(order, "Not-the-apps-client-secret-0123")

    def _order(self, order: OrderFacts, secret: str) -> Delivery:
        stamp = int(self.clock.now.timestamp())
        self.fake.put_order(
            STORE_ID,
            sample_order(
                order.order_id,
                email=order.email,
                total=float(order.total),
                paymentStatus="PAID" if order.paid else "AWAITING_PAYMENT",
                createTimestamp=stamp,
                updateTimestamp=stamp,
            ),
        )
        headers, body = webhook(
            self.order_event,
            created=self.clock.now,
            entity_id=516483487,
            data={"orderId": order.order_id},
            secret=secret,
        )
        return Delivery("/ecwid/webhooks", headers, body)

    def seed_product(self, product_id: str, name: str, price: Decimal) -> str:
        photo = f"https://d2j6dbq0eux0bg.cloudfront.net/images/{STORE_ID}/{product_id}-800.jpg"
        product = sample_product(
            int(product_id),
            name=name,
            nameTranslated={"pl": name, "en": name},
            defaultDisplayedPrice=float(price),
            hdThumbnailUrl=photo,
        )
        self.fake.put_product(STORE_ID, product)
        return photo

    def coupons(self) -> list[CouponSeen]:
        return [
            CouponSeen(
                c["code"],
                Decimal(str(c["discount"])) if c.get("discountType") == "PERCENT" else None,
                c.get("usesLimit") == "SINGLE",
            )
            for c in self.fake.coupons(STORE_ID)
        ]


def post(client: Any, delivery: Delivery) -> Any:
    return client.post(delivery.path, data=delivery.body, headers=delivery.headers)
