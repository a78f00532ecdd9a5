"""`shoper-retention demo`: a demo shop, two carts and simulated time, so a newcomer sees cart
recovery work in a minute with no accounts. Messages always go to the dev outbox here.

Everything goes through the real paths: the storefront endpoint, a signed Shoper order webhook,
the inbox, the scans and dispatch; only the clock is simulated.
Story 1: Anna leaves a cart and gets all three reminders (the last with a unique coupon).
Story 2: Piotr leaves a cart, orders at +30 h, and his third reminder is never sent."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from shoper_retention import shop_config
from shoper_retention.app import create_app
from shoper_retention.clock import utcnow
from shoper_retention.commerce import catalogue
from shoper_retention.connectors.dev_outbox import DevOutboxConnector
from shoper_retention.contacts import consent
from shoper_retention.credentials import CredentialBox
from shoper_retention.db import make_engine, make_session_factory
from shoper_retention.links import Links
from shoper_retention.messaging.coupons import CreateAtPlatform
from shoper_retention.migrate import upgrade
from shoper_retention.models import Cart, CatalogueProduct, DevOutboxEntry, Message, Shop
from shoper_retention.platforms.shoper.signature import webhook_sha1
from shoper_retention.settings import Settings
from shoper_retention.worker import Worker

DEMO_LICENCE = "demo-shop"
DEMO_WEBHOOK_ID = "1"
# The demo shop is not at Shoper: this stands in for its catalogue (what messages show).
DEMO_CATALOGUE = {
    "101": catalogue.ProductInfo(
        "Kubek ceramiczny",
        Decimal("49.90"),
        "https://sklep-demo.example/img/kubek.jpg",
        "https://sklep-demo.example/kubek",
    ),
    "202": catalogue.ProductInfo(
        "Herbata zielona 100 g",
        Decimal("24.00"),
        "https://sklep-demo.example/img/herbata.jpg",
        "https://sklep-demo.example/herbata",
    ),
}


def run_demo(settings: Settings, echo: Callable[[str], None]) -> None:
    upgrade(settings)
    factory = make_session_factory(make_engine(settings.database_url))
    start = _next_morning()
    clock = {"now": start}
    client = create_app(settings, clock=lambda: clock["now"], factory=factory).test_client()
    links = Links(settings.secret_key, "")  # paths only: the test client is the server

    def demo_coupons(session: Session, now: datetime) -> CreateAtPlatform:
        return lambda shop, code, percent, valid_from, valid_to: f"demo-{code}"

    worker = Worker(
        settings,
        factory,
        connectors_for=lambda shop, channel: DevOutboxConnector(channel, factory),
        coupons_for=demo_coupons,
        catalogue_reader=_demo_catalogue,
        name="demo",
    )
    secret = secrets.token_hex(16)
    with factory() as session, session.begin():
        shop = _demo_shop(session, start, CredentialBox(settings.secret_key).seal(secret) or "")
        public_key, ref, shop_id = shop.public_key, shop.ref, shop.id
    run = secrets.token_hex(3)
    echo(f"Demo shop 'Sklep Demo', simulated start {start:%Y-%m-%d %H:%M} UTC (10:00 in Warsaw)\n")

    def at(delta: timedelta, note: str) -> None:
        clock["now"] = start + delta
        report = worker.tick(clock["now"]).summary()
        hours = delta.total_seconds() / 3600
        echo(f"[+{hours:5.1f} h] {note}: sent {report['sent']}, cancelled {report['cancelled']}")

    people = {
        "Anna": (f"demo-{run}-anna", f"anna.{run}@example.com", "+48 600 100 200"),
        "Piotr": (f"demo-{run}-piotr", f"piotr.{run}@example.com", "+48 600 300 400"),
    }
    for who, (cart_id, email, phone) in people.items():
        answer = client.post(
            f"/storefront/{public_key}/events",
            data=json.dumps(_snapshot(cart_id, who, email, phone, start)),
            content_type="application/json",
        )
        echo(
            f"[+  0.0 h] {who} leaves a cart with 2 items "
            f"(storefront answered {answer.status_code})"
        )
    at(timedelta(minutes=1), "a page's tick is no proof: one confirmation e-mail and SMS each")
    answers = _confirm_all(client, factory, links, shop_id)
    echo(f"[+  0.1 h] both click the links in them (answered {', '.join(answers)})")
    at(timedelta(minutes=31), "carts idle for 30 min become abandoned")
    at(timedelta(hours=1), "step 1: SMS (both confirmed SMS consent)")
    at(timedelta(hours=24), "step 2: e-mail with product photos")

    clock["now"] = start + timedelta(hours=30)
    body = json.dumps(_order(f"demo-{run}", people["Piotr"][1], clock["now"])).encode()
    answer = client.post(
        f"/shoper/webhooks/{ref}",
        data=body,
        content_type="application/json",
        headers={
            "X-Webhook-Id": DEMO_WEBHOOK_ID,
            "X-Webhook-Name": "order.create",
            "X-Webhook-Sha1": webhook_sha1(DEMO_WEBHOOK_ID, secret, body),
        },
    )
    echo(
        "[+ 30.0 h] Piotr places an order "
        f"(signed order.create webhook answered {answer.status_code})"
    )
    at(timedelta(hours=30, minutes=1), "worker ingests the order, cancelling his step 3")
    at(timedelta(hours=72), "step 3: e-mail + SMS with a unique coupon")

    with factory() as session:
        cart_ids = list(
            session.scalars(
                select(Cart.id).where(
                    Cart.shop_id == shop_id, Cart.platform_cart_id.like(f"demo-{run}-%")
                )
            )
        )
        entries = session.scalars(
            select(DevOutboxEntry)
            .join(Message, Message.id == DevOutboxEntry.message_id)
            .where(
                Message.shop_id == shop_id,
                Message.subject_type == "cart",
                Message.subject_id.in_(cart_ids),
            )
            .order_by(DevOutboxEntry.id)
        ).all()
        statuses = session.execute(
            select(Cart.platform_cart_id, Cart.status).where(Cart.id.in_(cart_ids))
        ).all()
    echo("\nWhat the shoppers received (dev outbox):")
    for e in entries:
        subject = f"  |  {e.subject}" if e.subject else ""
        echo(f"\n--- {e.channel.upper()} to {e.to_address}{subject}")
        echo(e.body_text.strip()[:700])
    echo("\nCarts: " + ", ".join(f"{cid.rsplit('-', 1)[-1]} {status}" for cid, status in statuses))
    echo(f"All messages: {settings.public_url}/dev/outbox (while `make run` is serving)")


def _confirm_all(client: Any, factory: Any, links: Links, shop_id: int) -> list[str]:
    """Follow the link of every confirmation request sent, as its recipient would."""
    with factory() as session:
        requests = session.scalars(
            select(Message.id).where(
                Message.shop_id == shop_id,
                Message.scenario == consent.CONFIRMATION,
                Message.status == "sent",
            )
        ).all()
    return [
        str(client.post(links.confirmation_url(m), data={"answer": "yes"}).status_code)
        for m in requests
    ]


def _next_morning() -> datetime:
    zone = ZoneInfo("Europe/Warsaw")
    day = utcnow().astimezone(zone).date() + timedelta(days=1)
    return datetime(day.year, day.month, day.day, 10, 0, tzinfo=zone).astimezone(UTC)


def _demo_shop(session: Session, now: datetime, sealed_secret: str) -> Shop:
    shop = session.scalars(
        select(Shop).where(Shop.platform == "shoper", Shop.platform_shop_id == DEMO_LICENCE)
    ).first()
    if shop is None:
        shop = Shop(
            platform="shoper",
            platform_shop_id=DEMO_LICENCE,
            ref=secrets.token_urlsafe(12),
            public_key=secrets.token_urlsafe(12),
            report_token=secrets.token_urlsafe(24),
            shop_url="https://sklep-demo.example",
            name="Sklep Demo",
            email="kontakt@sklep-demo.example",
            language="pl",
            installed_at=now,
            settings={},
        )
        session.add(shop)
    shop.status = "active"
    shop.webhook_secret_enc = sealed_secret
    shop.webhooks_registered = True  # nothing to register: this shop is not at Shoper
    shop.token_expires_at = now + timedelta(days=3650)
    shop_config.update(
        shop, {"scenarios": {"cart_recovery": {"enabled": True}}, "sms": {"sender": "SklepDemo"}}
    )
    session.flush()
    _seed_catalogue(session, shop, now)
    return shop


def _demo_catalogue(shop: Shop, product_id: str, variant_id: str) -> catalogue.ProductInfo | None:
    return None if variant_id else DEMO_CATALOGUE.get(product_id)


def _seed_catalogue(session: Session, shop: Shop, now: datetime) -> None:
    """The demo's products as already read from its catalogue, so the first reminders show
    them without waiting for the worker's catalogue job."""
    catalogue.note_products(session, shop.id, [(p, "") for p in DEMO_CATALOGUE], now)
    for product_id, info in DEMO_CATALOGUE.items():
        row = session.scalars(
            select(CatalogueProduct).where(
                CatalogueProduct.shop_id == shop.id,
                CatalogueProduct.product_id == product_id,
                CatalogueProduct.variant_id == "",
            )
        ).one()
        catalogue.record_found(session, row.id, info, now)


def _snapshot(cart_id: str, name: str, email: str, phone: str, now: datetime) -> dict[str, object]:
    return {
        "type": "cart",
        "cart_id": cart_id,
        "occurred_at": now.isoformat(),
        "currency": "PLN",
        "items": [
            {
                "product_id": "101",
                "name": "Kubek ceramiczny",
                "price": "49.90",
                "quantity": 2,
                "image_url": "https://sklep-demo.example/img/kubek.jpg",
                "product_url": "https://sklep-demo.example/kubek",
            },
            {
                "product_id": "202",
                "name": "Herbata zielona 100 g",
                "price": "24.00",
                "quantity": 1,
                "image_url": "https://sklep-demo.example/img/herbata.jpg",
                "product_url": "https://sklep-demo.example/herbata",
            },
        ],
        "contact": {"email": email, "phone": phone, "first_name": name},
        "consent": {"email": True, "sms": True},
        "consent_text_version": "demo-v1",
    }


def _order(order_id: str, email: str, now: datetime) -> dict[str, object]:
    local = now.astimezone(ZoneInfo("Europe/Warsaw"))
    return {
        "order_id": order_id,
        "user_id": "0",
        "email": email,
        "date": local.strftime("%Y-%m-%d %H:%M:%S"),
        "status_id": "1",
        "status": {"status_id": "1", "type": "1"},
        "sum": "123.80",
        "currency_name": "PLN",
        "billingAddress": {"firstname": "Piotr", "phone": "600300400", "country_code": "PL"},
        "products": [
            {
                "product_id": "101",
                "stock_id": "1",
                "name": "Kubek ceramiczny",
                "price": "49.90",
                "quantity": "2",
            }
        ],
    }
