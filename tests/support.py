"""Builders for tests: a movable clock, installed shops, signed deliveries, cart snapshots."""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from shoper_retention import shop_config
from shoper_retention.contacts import consent
from shoper_retention.contacts import records as contacts
from shoper_retention.contacts.emails import canonical_email_or_none
from shoper_retention.contacts.phones import to_e164
from shoper_retention.credentials import CredentialBox
from shoper_retention.ingest.events import ContactInfo
from shoper_retention.models import CatalogueProduct, DevOutboxEntry, Message, Shop
from shoper_retention.platforms.shoper.signature import webhook_sha1
from shoper_retention.settings import Settings

WEBHOOK_ID = "77"

# What `make_shop` puts in a shop's catalogue unless told otherwise: the product the default
# cart snapshot names, so messages show it (names, prices and photos come only from here).
KUBEK = {
    "name": "Kubek ceramiczny",
    "price": "49.90",
    "image_url": "https://sklep.example/img/kubek.jpg",
    "product_url": "https://sklep.example/kubek",
}
DEFAULT_CATALOGUE: dict[str, dict[str, str]] = {"101": KUBEK}


class Clock:
    """The clock the app and the tests share; tests move it."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now = self.now + timedelta(**delta)
        return self.now

    def set(self, value: datetime) -> datetime:
        self.now = value
        return value


class ShopHandle:
    """What a test needs to talk to an installed shop."""

    def __init__(self, shop: Shop, webhook_secret: str) -> None:
        self.id = shop.id
        self.ref = shop.ref
        self.public_key = shop.public_key
        self.report_token = shop.report_token
        self.shop_url = shop.shop_url
        self.webhook_secret = webhook_secret


def make_shop(
    factory: sessionmaker[Session],
    settings: Settings,
    *,
    now: datetime,
    language: str = "pl",
    cart_recovery: bool = True,
    overrides: dict[str, Any] | None = None,
    licence: str | None = None,
    products: dict[str, dict[str, str]] | None = None,
    **fields: Any,
) -> ShopHandle:
    """A Shoper shop with webhooks in place; its catalogue holds `products` (default: product
    "101", the default snapshot's Kubek ceramiczny, as found)."""
    secret = secrets.token_hex(16)
    box = CredentialBox(settings.secret_key)
    with factory() as session, session.begin():
        shop = Shop(
            platform="shoper",
            platform_shop_id=licence or secrets.token_hex(20),
            ref=secrets.token_urlsafe(12),
            public_key=secrets.token_urlsafe(12),
            report_token=secrets.token_urlsafe(24),
            shop_url=fields.pop("shop_url", "https://sklep.example"),
            name=fields.pop("name", "Sklep Testowy"),
            email="owner@sklep.example",
            language=language,
            currency="PLN",
            timezone="Europe/Warsaw",
            installed_at=now,
            webhook_secret_enc=box.seal(secret),
            webhook_ids=[int(WEBHOOK_ID)],
            webhooks_registered=True,
            token_expires_at=now + timedelta(days=3650),
            settings={},
            **fields,
        )
        session.add(shop)
        shop_config.update(shop, {"scenarios": {"cart_recovery": {"enabled": cart_recovery}}})
        if overrides:
            shop_config.update(shop, overrides)
        session.flush()
        _add_catalogue(session, shop.id, DEFAULT_CATALOGUE if products is None else products, now)
        return ShopHandle(shop, secret)


def seed_catalogue(
    factory: sessionmaker[Session],
    shop: ShopHandle | int,
    *,
    now: datetime,
    products: dict[str, dict[str, str]],
    status: str = "found",
) -> None:
    """Put products in a shop's catalogue cache as if read from the platform at `now`.
    Keys are product ids, or "product_id/variant_id" for a variant; values hold name, price,
    image_url, product_url (any may be left out). status 'missing' or 'pending' works too."""
    with factory() as session, session.begin():
        _add_catalogue(
            session, shop if isinstance(shop, int) else shop.id, products, now, status=status
        )


def _add_catalogue(
    session: Session,
    shop_id: int,
    products: dict[str, dict[str, str]],
    now: datetime,
    *,
    status: str = "found",
) -> None:
    for key, data in products.items():
        product_id, _, variant_id = key.partition("/")
        price = data.get("price")
        session.add(
            CatalogueProduct(
                shop_id=shop_id,
                product_id=product_id,
                variant_id=variant_id,
                status=status,
                name=data.get("name", ""),
                price=Decimal(price) if price is not None else None,
                image_url=data.get("image_url", ""),
                product_url=data.get("product_url", ""),
                fetched_at=now if status != "pending" else None,
                attempts=0,
                due_at=now + timedelta(hours=24) if status != "pending" else now,
            )
        )
    session.flush()


def cart_snapshot(
    cart_id: str = "cart-1",
    *,
    at: datetime,
    email: str | None = "anna@example.com",
    phone: str | None = "+48600100200",
    first_name: str = "Anna",
    consent: dict[str, bool] | None = None,
    items: list[dict[str, Any]] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": "cart",
        "cart_id": cart_id,
        "occurred_at": at.isoformat(),
        "currency": "PLN",
        "items": items
        if items is not None
        else [
            {
                "product_id": "101",
                "name": "Kubek ceramiczny",
                "price": "49.90",
                "quantity": 2,
                "image_url": "https://sklep.example/img/kubek.jpg",
                "product_url": "https://sklep.example/kubek",
            }
        ],
        "contact": {"email": email, "phone": phone, "first_name": first_name},
        "consent": consent if consent is not None else {"email": True, "sms": True},
    }
    body.update(extra)
    return body


def order_payload(
    order_id: str = "1001",
    *,
    at: datetime,
    email: str = "anna@example.com",
    phone: str = "600100200",
    paid: bool = False,
    total: str = "99.80",
) -> dict[str, Any]:
    local = at.astimezone(ZoneInfo("Europe/Warsaw"))
    return {
        "order_id": order_id,
        "user_id": "5",
        "email": email,
        "date": local.strftime("%Y-%m-%d %H:%M:%S"),
        "status_id": "2" if paid else "1",
        "status": {"status_id": "2" if paid else "1", "type": "2" if paid else "1"},
        "sum": total,
        "paid": total if paid else "0.00",
        "currency_name": "PLN",
        "lang_id": "1",
        "billingAddress": {
            "firstname": "Anna",
            "lastname": "Nowak",
            "phone": phone,
            "country_code": "PL",
        },
        "deliveryAddress": {"firstname": "Anna", "phone": phone},
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


def webhook_headers(
    shop: ShopHandle, event: str, body: bytes, *, secret: str | None = None
) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "X-Webhook-Id": WEBHOOK_ID,
        "X-Webhook-Name": event,
        "X-Webhook-Sha1": webhook_sha1(WEBHOOK_ID, secret or shop.webhook_secret, body),
        "X-Shop-License": "licence",
    }


def post_webhook(client: Any, shop: ShopHandle, event: str, payload: dict[str, Any]) -> Any:
    body = json.dumps(payload).encode()
    return client.post(
        f"/shoper/webhooks/{shop.ref}", data=body, headers=webhook_headers(shop, event, body)
    )


def post_cart(
    client: Any, shop: ShopHandle, snapshot: dict[str, Any], *, confirmed: bool = False, **kw: Any
) -> Any:
    """`confirmed`: first record that the snapshot's addresses confirmed what it grants (see
    `confirm_snapshot_consent`), for tests about what comes after consent."""
    if confirmed:
        factory = client.application.extensions["shoper_retention"].factory
        confirm_snapshot_consent(factory, shop, snapshot, at=datetime.now(UTC))
    return client.post(
        f"/storefront/{shop.public_key}/events",
        data=json.dumps(snapshot),
        content_type="application/json",
        **kw,
    )


def messages(factory: sessionmaker[Session], shop_id: int | None = None) -> list[Message]:
    with factory() as session:
        query = select(Message).order_by(Message.step, Message.channel, Message.id)
        if shop_id is not None:
            query = query.where(Message.shop_id == shop_id)
        return list(session.scalars(query))


def outbox_entries(factory: sessionmaker[Session]) -> list[DevOutboxEntry]:
    with factory() as session:
        return list(session.scalars(select(DevOutboxEntry).order_by(DevOutboxEntry.id)))


def abandon_cart(
    client: Any,
    worker: Any,
    shop: ShopHandle,
    clock: Clock,
    *snapshots: dict[str, Any],
    confirmed: bool = True,
    **kw: Any,
) -> datetime:
    """Post a cart now (the default one with `kw` applied, or the given snapshots) and tick
    past the 30-minute idle time, so its steps get planned; returns when the cart was left.

    `confirmed`: the shoppers had already confirmed what their snapshots grant (as if they
    followed a confirmation link earlier), for tests about what comes after consent."""
    start = clock.now
    for snapshot in snapshots or (cart_snapshot(at=start, **kw),):
        if confirmed:
            confirm_snapshot_consent(worker.factory, shop, snapshot, at=start)
        assert post_cart(client, shop, snapshot).status_code == 202
    worker.tick(clock.now)
    worker.tick(clock.advance(minutes=31))
    return start


def confirm_snapshot_consent(
    factory: sessionmaker[Session], shop: ShopHandle, snapshot: dict[str, Any], *, at: datetime
) -> None:
    """Record, as the confirmation link does, that the owners of a snapshot's addresses
    confirmed the consent it grants."""
    contact = snapshot.get("contact") or {}
    granted = snapshot.get("consent") or {}
    email = canonical_email_or_none(contact.get("email"))
    phone = to_e164(contact.get("phone"), "PL") if contact.get("phone") else None
    with factory() as session, session.begin():
        row = session.get(Shop, shop.id)
        assert row is not None
        info = ContactInfo(email=email, phone=phone)
        person = contacts.upsert_contact(session, shop.id, info, at, trusted=True)
        for channel, address in (("email", email), ("sms", phone)):
            if person is not None and address and granted.get(channel):
                consent.record(
                    session,
                    person,
                    channel,
                    address,
                    True,
                    at,
                    source="confirmation link",
                    assurance=consent.CONFIRMED,
                )


def settings_form_fields(token: str | None = None, **changes: str | None) -> dict[str, str]:
    """The settings page's form as a merchant submits it with the defaults; `None` drops a
    field (an unticked checkbox is not sent at all)."""
    form = {
        "cart_recovery__enabled": "on",
        "cart_recovery__idle_minutes": "30",
        "cart_recovery__step1_hours": "1",
        "cart_recovery__step2_hours": "24",
        "cart_recovery__step3_hours": "72",
        "cart_recovery__step1_channel": "auto",
        "cart_recovery__step2_channel": "email",
        "cart_recovery__step3_channel": "both",
        "cart_recovery__coupon_mode": "unique",
        "cart_recovery__coupon_percent": "10",
        "cart_recovery__coupon_valid": "48",
        "cart_recovery__coupon_static_code": "",
        "smsapi_token": "",
        "sms_sender": "",
        "sms_transliterate": "on",
        "mail_from": "",
        "sms_from": "09:00",
        "sms_until": "20:00",
        "email_from": "08:00",
        "email_until": "21:00",
    }
    if token is not None:
        form["t"] = token
    for name, value in changes.items():
        if value is None:
            form.pop(name, None)
        else:
            form[name] = value
    return form
