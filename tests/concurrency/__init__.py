"""Claim and crash-safety tests: real committed databases, real worker processes.

`insert_due_messages` builds many due cart-recovery e-mails with bulk inserts (going through the
storefront and the scans would take minutes for a thousand carts); each message has its own
contact, so the frequency cap never interferes with what the tests count."""

from __future__ import annotations

import secrets
from datetime import datetime
from decimal import Decimal

from sqlalchemy import insert, select
from sqlalchemy.orm import Session, sessionmaker

from shoper_retention.models import Cart, Consent, Contact, Message

ITEMS = [
    {
        "product_id": "101",
        "variant_id": "",
        "name": "Kubek ceramiczny",
        "price": "49.90",
        "quantity": 2,
        "image_url": "https://sklep.example/img/kubek.jpg",
        "product_url": "https://sklep.example/kubek",
    }
]


def insert_due_messages(
    factory: sessionmaker[Session], shop_id: int, count: int, now: datetime
) -> list[int]:
    """`count` abandoned carts, each with an e-mail contact who consented and a scheduled
    step-2 e-mail due at `now`; returns the message ids."""
    run = secrets.token_hex(4)
    with factory() as session, session.begin():
        session.execute(
            insert(Contact),
            [
                dict(
                    shop_id=shop_id,
                    email=f"shopper-{run}-{i}@example.com",
                    first_name=f"Klient{i}",
                    created_at=now,
                    updated_at=now,
                )
                for i in range(count)
            ],
        )
        emails = dict(
            session.execute(
                select(Contact.id, Contact.email)
                .where(Contact.shop_id == shop_id, Contact.email.like(f"shopper-{run}-%"))
                .order_by(Contact.id)
            ).all()
        )
        contact_ids = list(emails)
        session.execute(
            insert(Consent),
            [
                dict(
                    shop_id=shop_id,
                    contact_id=cid,
                    channel="email",
                    granted=True,
                    source="storefront",
                    text_version="v1",
                    address=emails[cid],
                    recorded_at=now,
                )
                for cid in contact_ids
            ],
        )
        session.execute(
            insert(Cart),
            [
                dict(
                    shop_id=shop_id,
                    platform_cart_id=f"cart-{run}-{cid}",
                    contact_id=cid,
                    status="abandoned",
                    run=1,
                    items=ITEMS,
                    currency="PLN",
                    total=Decimal("99.80"),
                    token=f"{run}{cid:010d}",
                    started_at=now,
                    last_activity_at=now,
                    snapshot_at=now,
                    abandoned_at=now,
                    email=emails[cid],
                )
                for cid in contact_ids
            ],
        )
        carts = session.execute(
            select(Cart.id, Cart.contact_id)
            .where(Cart.shop_id == shop_id, Cart.platform_cart_id.like(f"cart-{run}-%"))
            .order_by(Cart.id)
        ).all()
        session.execute(
            insert(Message),
            [
                dict(
                    shop_id=shop_id,
                    contact_id=contact_id,
                    scenario="cart_recovery",
                    subject_type="cart",
                    subject_id=cart_id,
                    step=2,
                    channel="email",
                    marketing=True,
                    plan_key=f"cart_recovery:cart:{cart_id}:1:2:email",
                    status="scheduled",
                    due_at=now,
                    planned_at=now,
                    updated_at=now,
                )
                for cart_id, contact_id in carts
            ],
        )
        return list(
            session.scalars(
                select(Message.id)
                .where(Message.shop_id == shop_id, Message.subject_id.in_([c for c, _ in carts]))
                .order_by(Message.id)
            )
        )
