"""Storefront rules a mutation audit found unpinned: phone numbers read in the shop's country
and refused when not a real number, and a chunked body over the limit (no Content-Length)
refused. The chunked case runs the app under a real WSGI server on loopback, since only a
server sets `wsgi.input_terminated` and de-chunks the body the way gunicorn does."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.serving import make_server

from shoper_retention.models import Cart, Contact, InboxDelivery
from shoper_retention.settings import Settings
from tests.support import Clock, cart_snapshot, make_shop, post_cart


def inbox_rows(factory: sessionmaker[Session]) -> list[InboxDelivery]:
    with factory() as session:
        return list(session.scalars(select(InboxDelivery).order_by(InboxDelivery.id)))


# --- phone numbers ----------------------------------------------------------------------------


def test_a_german_shops_local_phone_number_is_stored_with_the_german_prefix(
    client: FlaskClient,
    worker: Any,
    factory: sessionmaker[Session],
    settings: Settings,
    clock: Clock,
) -> None:
    shop = make_shop(factory, settings, now=clock.now, country="DE")

    snapshot = cart_snapshot(at=clock.now, email=None, phone="030 1234567")
    answer = post_cart(client, shop, snapshot)

    assert answer.status_code == 202
    worker.tick(clock.now)
    with factory() as session:
        cart = session.scalars(select(Cart)).one()
        contact = session.get(Contact, cart.contact_id)
        assert cart.phone == "+49301234567"
        assert contact is not None and contact.phone == "+49301234567"


def test_a_possible_but_invalid_phone_number_is_refused_and_nothing_is_stored(
    client: FlaskClient, factory: sessionmaker[Session], settings: Settings, clock: Clock
) -> None:
    shop = make_shop(factory, settings, now=clock.now)

    answer = post_cart(client, shop, cart_snapshot(at=clock.now, phone="+48 100 000 000"))

    assert answer.status_code == 400
    assert answer.get_json()["error"] == "invalid"
    assert answer.get_json()["field"] == "contact.phone"
    assert inbox_rows(factory) == []


# --- a chunked body over the limit ------------------------------------------------------------


@pytest.fixture
def served(app: Flask) -> Iterator[str]:
    """The app behind werkzeug's server on a free loopback port; yields its base URL."""
    server = make_server("127.0.0.1", 0, app)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def _post_chunked(base_url: str, path: str, body: bytes) -> requests.Response:
    """POST `body` with Transfer-Encoding: chunked and no Content-Length (requests sends a
    generator body that way)."""

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(body), 8192):
            yield body[start : start + 8192]

    with requests.Session() as session:
        session.trust_env = False  # no proxy between us and loopback
        request = requests.Request(
            "POST", base_url + path, data=chunks(), headers={"Content-Type": "application/json"}
        ).prepare()
        assert request.headers.get("Transfer-Encoding") == "chunked"
        assert "Content-Length" not in request.headers
        return session.send(request, timeout=30)


def test_a_chunked_storefront_body_over_the_limit_is_400_too_large_and_stores_nothing(
    served: str, factory: sessionmaker[Session], settings: Settings, clock: Clock
) -> None:
    shop = make_shop(factory, settings, now=clock.now)
    limit = settings.max_storefront_body_bytes
    snapshot = cart_snapshot(at=clock.now, padding="x" * (limit + 1024))
    body = json.dumps(snapshot).encode()
    assert limit < len(body) < settings.max_body_bytes  # over ours, under Flask's own cap
    path = f"/storefront/{shop.public_key}/events"

    answer = _post_chunked(served, path, body)

    assert answer.status_code == 400
    assert answer.json()["error"] == "too_large"
    assert inbox_rows(factory) == []
    # The same route takes a chunked snapshot under the limit: the 400 was the size.
    fits = _post_chunked(served, path, json.dumps(cart_snapshot(at=clock.now)).encode())
    assert fits.status_code == 202
    assert len(inbox_rows(factory)) == 1
