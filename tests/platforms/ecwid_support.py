"""What the Ecwid entry tests share: the app's Ecwid credentials, an installed store, the
admin iframe's payload encrypted as Ecwid encrypts it, and signed webhook deliveries (signed by
the fake Ecwid's own code, tests/fakes/ecwid_server.py, not ours)."""

from __future__ import annotations

import base64
import json
import os
import sqlite3
import uuid
from datetime import datetime
from typing import Any

import pytest
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from shoper_retention.credentials import CredentialBox
from shoper_retention.db import make_engine
from shoper_retention.models import InboxDelivery, Shop
from shoper_retention.settings import Settings
from tests.fakes.ecwid_server import FakeEcwid, signed_webhook
from tests.support import ShopHandle, make_shop

CLIENT_ID = "retention-test-app"
CLIENT_SECRET = "Ecwid-client-secret-0123456789abcdef"
STORE_ID = "1003"
TOKEN = "secret_token_of_store_1003"


def with_ecwid(settings: Settings, fake: FakeEcwid) -> Settings:
    return settings.with_(
        ecwid_client_id=CLIENT_ID,
        ecwid_client_secret=CLIENT_SECRET,
        ecwid_api_url=fake.api_url,
        ecwid_oauth_url=fake.oauth_url,
    )


def encrypted_payload(
    fields: dict[str, Any] | None = None, *, secret: str = CLIENT_SECRET, **extra: Any
) -> str:
    """The iframe's `payload`: url-safe base64, padding stripped, of a random IV followed by
    AES-128-CBC(PKCS#7) of the JSON, keyed with the secret's first 16 characters."""
    plain = (
        fields
        if fields is not None
        else {
            "store_id": int(STORE_ID),
            "access_token": TOKEN,
            "public_token": "public_token_of_store_1003",
            "lang": "pl",
            "view_mode": "PAGE",
        }
    )
    padder = padding.PKCS7(128).padder()
    data = padder.update(json.dumps({**plain, **extra}).encode()) + padder.finalize()
    iv = os.urandom(16)
    encryptor = Cipher(algorithms.AES(secret[:16].encode()), modes.CBC(iv)).encryptor()
    raw = iv + encryptor.update(data) + encryptor.finalize()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def installed_store(
    factory: sessionmaker[Session],
    settings: Settings,
    *,
    now: datetime,
    store_id: str = STORE_ID,
    token: str = TOKEN,
    **fields: Any,
) -> ShopHandle:
    """An Ecwid store that opened the app: the suite's usual shop (catalogue, cart recovery
    on), made an Ecwid one with its token stored."""
    handle = make_shop(factory, settings, now=now, **fields)
    with factory() as session, session.begin():
        shop = session.get(Shop, handle.id)
        assert shop is not None
        shop.platform = "ecwid"
        shop.platform_shop_id = store_id
        shop.access_token_enc = CredentialBox(settings.secret_key).seal(token)
        shop.webhook_secret_enc = None
        shop.webhook_ids = []
        shop.token_expires_at = None
    return handle


def webhook(
    event_type: str,
    *,
    created: datetime | int,
    store_id: str | int = STORE_ID,
    entity_id: str | int = 0,
    data: dict[str, Any] | None = None,
    event_id: str | None = None,
    secret: str = CLIENT_SECRET,
) -> tuple[dict[str, str], bytes]:
    when = created if isinstance(created, int) else int(created.timestamp())
    return signed_webhook(
        secret, event_type, store_id, entity_id, data, when, event_id or str(uuid.uuid4())
    )


def post_webhook(client: Any, headers: dict[str, str], body: bytes, **kw: Any) -> Any:
    return client.post("/ecwid/webhooks?eventtype=x", data=body, headers=headers, **kw)


def ecwid_shop(factory: sessionmaker[Session], store_id: str = STORE_ID) -> Shop | None:
    with factory() as session:
        return session.scalars(
            select(Shop).where(Shop.platform == "ecwid", Shop.platform_shop_id == store_id)
        ).first()


def shop_count(factory: sessionmaker[Session]) -> int:
    with factory() as session:
        return int(session.scalar(select(func.count()).select_from(Shop)) or 0)


def inbox_rows(factory: sessionmaker[Session]) -> list[InboxDelivery]:
    with factory() as session:
        return list(session.scalars(select(InboxDelivery).order_by(InboxDelivery.id)))


def transaction_open(database_url: str) -> bool:
    """Whether a transaction of ours holds the database at this moment: on SQLite the write
    lock (each of our transactions takes it, BEGIN IMMEDIATE), which every webhook needs; on
    PostgreSQL a session idle in a transaction (waiting on something else, say Ecwid)."""
    if database_url.startswith("sqlite"):
        probe = sqlite3.connect(make_url(database_url).database or "", timeout=0.05)
        probe.isolation_level = None
        try:
            probe.execute("BEGIN IMMEDIATE")
            probe.execute("ROLLBACK")
            return False
        except sqlite3.OperationalError:
            return True
        finally:
            probe.close()
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            waiting = conn.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                    " AND state LIKE 'idle in transaction%' AND pid <> pg_backend_pid()"
                )
            ).scalar_one()
    finally:
        engine.dispose()
    return bool(waiting)


def watch_transactions(
    fake: FakeEcwid, monkeypatch: pytest.MonkeyPatch, database_url: str
) -> list[tuple[str, str, bool]]:
    """(method, path, a transaction was open) of every request the fake Ecwid gets from now."""
    seen: list[tuple[str, str, bool]] = []
    handle = fake._handle

    def watched(request: Any) -> Any:
        seen.append((request.method, request.path, transaction_open(database_url)))
        return handle(request)

    monkeypatch.setattr(fake, "_handle", watched)
    return seen
