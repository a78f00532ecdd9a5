"""Shoper webhooks through `POST /shoper/webhooks/<ref>`: the edge verifies and stores each
delivery once (or refuses it and stores nothing), and `worker.tick` turns what was stored into
orders, whatever order the deliveries arrive in."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from shoper_retention.app import create_app
from shoper_retention.models import InboxDelivery, Order
from shoper_retention.settings import Settings
from tests.support import Clock, ShopHandle, make_shop, order_payload, post_webhook, webhook_headers


def inbox_rows(factory: sessionmaker[Session]) -> list[InboxDelivery]:
    with factory() as session:
        return list(session.scalars(select(InboxDelivery).order_by(InboxDelivery.id)))


def orders(factory: sessionmaker[Session]) -> list[Order]:
    with factory() as session:
        return list(session.scalars(select(Order).order_by(Order.id)))


def deliver(
    client: FlaskClient, shop: ShopHandle, event: str, body: bytes, **header_changes: str | None
) -> Any:
    """Post raw bytes signed with the shop's secret; `header_changes` override (None drops)."""
    headers = webhook_headers(shop, event, body)
    for name, value in header_changes.items():
        name = name.replace("_", "-")
        if value is None:
            headers.pop(name, None)
        else:
            headers[name] = value
    return client.post(f"/shoper/webhooks/{shop.ref}", data=body, headers=headers)


@pytest.fixture
def shop(factory: sessionmaker[Session], settings: Settings, clock: Clock) -> ShopHandle:
    return make_shop(factory, settings, now=clock.now)


def test_a_signed_delivery_is_accepted_with_202_and_stored_once_in_the_inbox(
    client: FlaskClient, factory: sessionmaker[Session], shop: ShopHandle, clock: Clock
) -> None:
    answer = post_webhook(client, shop, "order.create", order_payload(at=clock.now))

    assert answer.status_code == 202
    (row,) = inbox_rows(factory)
    assert (row.shop_id, row.source, row.event_name, row.status) == (
        shop.id,
        "shoper",
        "order.create",
        "pending",
    )
    assert row.headers["X-Webhook-Name"] == "order.create"
    assert "X-Webhook-Sha1" not in row.headers  # the signature has done its job at the edge
    assert json.loads(row.body)["order_id"] == "1001"


def test_a_stored_delivery_is_processed_by_the_next_tick_into_an_order(
    client: FlaskClient, worker: Any, factory: sessionmaker[Session], shop: ShopHandle, clock: Clock
) -> None:
    post_webhook(client, shop, "order.create", order_payload(at=clock.now, phone="600 100 200"))

    report = worker.tick(clock.now)

    assert report.ingested == 1
    (row,) = inbox_rows(factory)
    assert row.status == "processed" and row.processed_at == clock.now
    (order,) = orders(factory)
    assert (order.shop_id, order.platform_order_id, order.paid) == (shop.id, "1001", False)
    assert order.email == "anna@example.com" and order.phone == "+48600100200"
    assert (order.status_id, order.status_type, order.currency) == ("1", "new", "PLN")
    assert order.total == Decimal("99.80")


@pytest.mark.parametrize(
    "headers",
    [
        {"X_Webhook_Sha1": "0" * 40},
        {"X_Webhook_Sha1": None},
        {"X_Webhook_Id": None},
        {"X_Webhook_Id": "78"},  # the signed text names the webhook id
    ],
    ids=["forged-signature", "missing-signature", "missing-webhook-id", "other-webhook-id"],
)
def test_a_delivery_without_a_valid_signature_is_401_and_stores_nothing(
    client: FlaskClient,
    factory: sessionmaker[Session],
    shop: ShopHandle,
    clock: Clock,
    headers: dict[str, str | None],
) -> None:
    body = json.dumps(order_payload(at=clock.now)).encode()

    answer = deliver(client, shop, "order.create", body, **headers)

    assert answer.status_code == 401
    assert answer.get_json()["error"] == "bad_signature"
    assert inbox_rows(factory) == []


def test_a_delivery_signed_with_a_wrong_secret_is_401(
    client: FlaskClient, factory: sessionmaker[Session], shop: ShopHandle, clock: Clock
) -> None:
    body = json.dumps(order_payload(at=clock.now)).encode()
    headers = webhook_headers(shop, "order.create", body, secret="not-the-shops-secret")

    answer = client.post(f"/shoper/webhooks/{shop.ref}", data=body, headers=headers)

    assert answer.status_code == 401
    assert inbox_rows(factory) == []


def test_a_body_changed_after_signing_is_401(
    client: FlaskClient, factory: sessionmaker[Session], shop: ShopHandle, clock: Clock
) -> None:
    body = json.dumps(order_payload(at=clock.now)).encode()
    headers = webhook_headers(shop, "order.create", body)
    tampered = body.replace(b'"99.80"', b'"0.01"')

    answer = client.post(f"/shoper/webhooks/{shop.ref}", data=tampered, headers=headers)

    assert answer.status_code == 401
    assert inbox_rows(factory) == []


def test_a_delivery_for_shop_a_signed_with_shop_b_secret_is_401(
    client: FlaskClient,
    factory: sessionmaker[Session],
    settings: Settings,
    shop: ShopHandle,
    clock: Clock,
) -> None:
    other = make_shop(factory, settings, now=clock.now)
    body = json.dumps(order_payload(at=clock.now)).encode()
    headers = webhook_headers(shop, "order.create", body, secret=other.webhook_secret)

    answer = client.post(f"/shoper/webhooks/{shop.ref}", data=body, headers=headers)

    assert answer.status_code == 401
    assert inbox_rows(factory) == []
    # The same delivery at B's own URL is B's, and is stored under B.
    assert (
        client.post(f"/shoper/webhooks/{other.ref}", data=body, headers=headers).status_code == 202
    )
    assert [row.shop_id for row in inbox_rows(factory)] == [other.id]


def test_an_unknown_shop_ref_is_404(
    client: FlaskClient, factory: sessionmaker[Session], shop: ShopHandle, clock: Clock
) -> None:
    body = json.dumps(order_payload(at=clock.now)).encode()

    answer = client.post(
        "/shoper/webhooks/no-such-shop",
        data=body,
        headers=webhook_headers(shop, "order.create", body),
    )

    assert answer.status_code == 404
    assert inbox_rows(factory) == []


def test_a_delivery_for_an_uninstalled_shop_is_404(
    client: FlaskClient, factory: sessionmaker[Session], settings: Settings, clock: Clock
) -> None:
    gone = make_shop(factory, settings, now=clock.now, status="uninstalled")

    answer = post_webhook(client, gone, "order.create", order_payload(at=clock.now))

    assert answer.status_code == 404
    assert inbox_rows(factory) == []


@pytest.mark.parametrize(
    "body",
    [b'{"order_id": "1001", ', b"\xff\xfe not utf-8", b'["order_id", "1001"]'],
    ids=["truncated-json", "not-utf8", "json-but-not-an-object"],
)
def test_a_signed_body_that_is_not_a_json_object_is_400(
    client: FlaskClient, factory: sessionmaker[Session], shop: ShopHandle, body: bytes
) -> None:
    answer = deliver(client, shop, "order.create", body)

    assert answer.status_code == 400
    assert answer.get_json()["error"] == "invalid"
    assert inbox_rows(factory) == []


def test_a_signed_order_without_an_order_id_is_400_at_the_edge(
    client: FlaskClient, factory: sessionmaker[Session], shop: ShopHandle, clock: Clock
) -> None:
    payload = order_payload(at=clock.now)
    del payload["order_id"]

    answer = post_webhook(client, shop, "order.create", payload)

    assert answer.status_code == 400
    assert answer.get_json()["field"] == "order_id"
    assert inbox_rows(factory) == []


@pytest.mark.parametrize(
    "event", ["order.delete", "client.delete", ""], ids=["order.delete", "client.delete", "no-name"]
)
def test_an_event_not_in_the_manifest_is_400(
    client: FlaskClient, factory: sessionmaker[Session], shop: ShopHandle, clock: Clock, event: str
) -> None:
    answer = post_webhook(client, shop, event, order_payload(at=clock.now))

    assert answer.status_code == 400
    assert answer.get_json()["field"] == "X-Webhook-Name"
    assert inbox_rows(factory) == []


def test_a_body_over_the_limit_is_400_and_stores_nothing(
    settings: Settings, factory: sessionmaker[Session], clock: Clock
) -> None:
    small = settings.with_(max_body_bytes=2048)
    app = create_app(small, clock=clock, factory=factory)
    client = app.test_client()
    shop = make_shop(factory, small, now=clock.now)
    payload = order_payload(at=clock.now)
    payload["notes"] = "x" * 4096
    assert len(json.dumps(payload).encode()) > 2048

    answer = post_webhook(client, shop, "order.create", payload)

    assert answer.status_code == 400
    assert answer.get_json()["error"] == "too_large"
    assert inbox_rows(factory) == []
    assert (
        post_webhook(client, shop, "order.create", order_payload(at=clock.now)).status_code == 202
    )


def test_the_same_delivery_three_times_is_stored_once_and_makes_one_order(
    client: FlaskClient, worker: Any, factory: sessionmaker[Session], shop: ShopHandle, clock: Clock
) -> None:
    payload = order_payload(at=clock.now)

    answers = [post_webhook(client, shop, "order.create", payload) for _ in range(3)]

    assert answers[0].status_code == 202
    assert all(a.status_code in (200, 202) for a in answers)  # all acknowledged: no retries
    assert len(inbox_rows(factory)) == 1
    worker.tick(clock.now)
    post_webhook(client, shop, "order.create", payload)  # once more after processing
    worker.tick(clock.advance(minutes=1))
    assert len(inbox_rows(factory)) == 1
    assert len(orders(factory)) == 1


def test_order_paid_processed_before_order_create_leaves_the_order_paid(
    client: FlaskClient, worker: Any, factory: sessionmaker[Session], shop: ShopHandle, clock: Clock
) -> None:
    placed_at = clock.now
    post_webhook(client, shop, "order.paid", order_payload(at=placed_at, paid=True))
    worker.tick(clock.advance(minutes=1))
    post_webhook(client, shop, "order.create", order_payload(at=placed_at, paid=False))
    worker.tick(clock.advance(minutes=1))

    (order,) = orders(factory)
    assert order.paid is True
    assert order.placed_at == placed_at.replace(microsecond=0)
    assert [row.status for row in inbox_rows(factory)] == ["processed", "processed"]


def test_order_paid_marks_the_order_paid_even_when_the_amounts_do_not_say_so(
    client: FlaskClient, worker: Any, factory: sessionmaker[Session], shop: ShopHandle, clock: Clock
) -> None:
    post_webhook(client, shop, "order.create", order_payload(at=clock.now))
    worker.tick(clock.now)
    assert orders(factory)[0].paid is False

    post_webhook(
        client,
        shop,
        "order.paid",
        {**order_payload(at=clock.now), "paid": "0.00", "status_id": "2"},
    )
    worker.tick(clock.advance(minutes=1))

    (order,) = orders(factory)
    assert order.paid is True


def test_order_status_changes_the_orders_status(
    client: FlaskClient, worker: Any, factory: sessionmaker[Session], shop: ShopHandle, clock: Clock
) -> None:
    payload = order_payload(at=clock.now)
    post_webhook(client, shop, "order.create", payload)
    worker.tick(clock.now)

    closed = {**payload, "status_id": "5", "status": {"status_id": "5", "type": "3"}}
    assert post_webhook(client, shop, "order.status", closed).status_code == 202
    worker.tick(clock.advance(minutes=1))

    (order,) = orders(factory)
    assert (order.status_id, order.status_type) == ("5", "closed")
    assert len(inbox_rows(factory)) == 2


@pytest.mark.parametrize("quantity", ["NaN", "Infinity", "dwa"])
def test_an_order_with_an_unreadable_product_quantity_is_still_recorded(
    client: FlaskClient,
    worker: Any,
    factory: sessionmaker[Session],
    shop: ShopHandle,
    clock: Clock,
    quantity: str,
) -> None:
    payload = order_payload(at=clock.now)
    payload["products"][0]["quantity"] = quantity
    post_webhook(client, shop, "order.create", payload)

    worker.tick(clock.now)

    (row,) = inbox_rows(factory)
    assert row.status == "processed"
    assert [o.platform_order_id for o in orders(factory)] == ["1001"]


def test_order_fields_that_do_not_fit_are_dropped_not_retried_forever(
    client: FlaskClient, worker: Any, factory: sessionmaker[Session], shop: ShopHandle, clock: Clock
) -> None:
    """A year-1 date, an over-long user id and a 300-character e-mail must not make the order
    fail on PostgreSQL's column limits (DataError) or in time-zone arithmetic."""
    payload = order_payload("9090", at=clock.now)
    payload.update(date="0001-01-01 00:30:00", user_id="9" * 200, email="a" * 300 + "@example.com")
    assert post_webhook(client, shop, "order.create", payload).status_code == 202
    worker.tick(clock.now)
    with factory() as session:
        order = session.scalars(select(Order)).one()
        assert order.placed_at == clock.now  # unusable date: the time we received it
        assert order.email is None


def test_a_get_on_the_webhook_endpoint_is_405_naming_post(
    client: FlaskClient, factory: sessionmaker[Session], shop: ShopHandle
) -> None:
    answer = client.get(f"/shoper/webhooks/{shop.ref}")

    assert answer.status_code == 405
    assert answer.headers["Allow"] == "POST"
    assert inbox_rows(factory) == []


def test_a_path_below_a_shop_ref_is_not_the_webhook_endpoint(
    client: FlaskClient, factory: sessionmaker[Session], shop: ShopHandle, clock: Clock
) -> None:
    body = json.dumps(order_payload(at=clock.now)).encode()
    headers = webhook_headers(shop, "order.create", body)

    answer = client.post(f"/shoper/webhooks/{shop.ref}/extra", data=body, headers=headers)

    assert answer.status_code == 404
    assert answer.get_json()["error"] == "not_found"  # Flask's: no route, not an unknown shop
    assert inbox_rows(factory) == []


def _raw_post(  # type: ignore[no-untyped-def]
    app: Any,
    path: str,
    body: bytes,
    headers: dict[str, str],
    length: str | None,
    terminated: bool = True,
):
    """Through the app's WSGI callable with a Content-Length of our choosing (None: none, as
    gunicorn and waitress pass a chunked body on, with `wsgi.input_terminated`); the test
    client always sets the right one."""
    from werkzeug.test import EnvironBuilder, run_wsgi_app

    environ = EnvironBuilder(path=path, method="POST", data=body, headers=headers).get_environ()
    environ.pop("CONTENT_LENGTH", None)
    if length is not None:
        environ["CONTENT_LENGTH"] = length
    else:
        environ["wsgi.input_terminated"] = terminated
    chunks, status, response_headers = run_wsgi_app(app, environ, buffered=True)
    return status, json.loads(b"".join(chunks))


def test_a_body_without_content_length_is_read_up_to_the_limit_and_refused_beyond_it(
    settings: Settings, factory: sessionmaker[Session], clock: Clock
) -> None:
    small = settings.with_(max_body_bytes=2048)
    app = create_app(small, clock=clock, factory=factory)
    shop = make_shop(factory, small, now=clock.now)
    fits = json.dumps(order_payload("71", at=clock.now)).encode()
    big_payload = order_payload("72", at=clock.now)
    big_payload["notes"] = "x" * 4096
    too_big = json.dumps(big_payload).encode()
    path = f"/shoper/webhooks/{shop.ref}"

    big = _raw_post(app, path, too_big, webhook_headers(shop, "order.create", too_big), None)
    ok = _raw_post(app, path, fits, webhook_headers(shop, "order.create", fits), None)

    assert big == (
        "400 Bad Request",
        {"error": "too_large", "message": "request body is too large"},
    )
    assert ok[0] == "202 Accepted"
    assert [row.dedupe_key.split(":")[1] for row in inbox_rows(factory)] == ["71"]


def test_a_malformed_content_length_is_400_and_stores_nothing(
    app: Any, factory: sessionmaker[Session], shop: ShopHandle, clock: Clock
) -> None:
    body = json.dumps(order_payload(at=clock.now)).encode()
    headers = webhook_headers(shop, "order.create", body)

    for length in ("12x", "\u00b2", "-1"):  # "²".isdigit() is True in Python
        status, answer = _raw_post(app, f"/shoper/webhooks/{shop.ref}", body, headers, length)

        assert status == "400 Bad Request"
        assert answer["field"] == "Content-Length"
    assert inbox_rows(factory) == []


def test_a_body_with_neither_a_length_nor_an_end_of_input_promise_is_not_read(
    app: Any, factory: sessionmaker[Session], shop: ShopHandle, clock: Clock
) -> None:
    """PEP 3333: reading such a stream may block; it counts as empty (so the signature fails)."""
    body = json.dumps(order_payload(at=clock.now)).encode()
    headers = webhook_headers(shop, "order.create", body)

    status, answer = _raw_post(
        app, f"/shoper/webhooks/{shop.ref}", body, headers, None, terminated=False
    )

    assert status == "401 Unauthorized"
    assert inbox_rows(factory) == []


def test_a_delivery_while_the_database_is_unreachable_is_503_with_retry_after(
    settings: Settings, clock: Clock, tmp_path: Any
) -> None:
    from shoper_retention.db import make_engine, make_session_factory

    gone = f"sqlite:///{tmp_path}/no-such-dir/db.sqlite3"
    app = create_app(
        settings.with_(database_url=gone),
        clock=clock,
        factory=make_session_factory(make_engine(gone)),
    )
    body = json.dumps(order_payload(at=clock.now)).encode()

    answer = app.test_client().post("/shoper/webhooks/some-shop", data=body)

    assert answer.status_code == 503
    assert answer.headers["Retry-After"] == "30"
    assert answer.get_json()["error"] == "unavailable"


# --- signed, but typed by shoppers: the edge still checks the text -------------------------


@pytest.mark.parametrize(("opener", "depth"), [(b"[", 30_000), (b'{"a": ', 30_000)])
def test_a_signed_body_nested_30000_deep_is_400_not_500_and_stores_nothing(
    client: FlaskClient,
    factory: sessionmaker[Session],
    shop: ShopHandle,
    opener: bytes,
    depth: int,
) -> None:
    body = b'{"order_id": "1001", "products": ' + opener * depth

    answer = deliver(client, shop, "order.create", body)  # correctly signed

    assert answer.status_code == 400
    assert answer.get_json()["error"] == "invalid"
    assert inbox_rows(factory) == []


@pytest.mark.parametrize(
    "encode",
    [
        lambda payload: json.dumps(payload).encode(),  # the JSON escape \ud800
        lambda payload: json.dumps(payload, ensure_ascii=False).encode("utf-8", "surrogatepass"),
    ],
    ids=["escape", "raw-bytes"],
)
def test_a_signed_order_with_a_lone_surrogate_is_400_and_stores_nothing(
    client: FlaskClient,
    factory: sessionmaker[Session],
    shop: ShopHandle,
    clock: Clock,
    encode: Any,
) -> None:
    payload = order_payload(at=clock.now)
    payload["billingAddress"]["firstname"] = "Anna\ud800"

    answer = deliver(client, shop, "order.create", encode(payload))

    assert answer.status_code == 400
    assert inbox_rows(factory) == []


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"1e999"])
def test_a_signed_order_with_a_number_json_cannot_hold_is_400(
    client: FlaskClient, factory: sessionmaker[Session], shop: ShopHandle, literal: bytes
) -> None:
    body = b'{"order_id": "1001", "sum": ' + literal + b"}"

    assert deliver(client, shop, "order.create", body).status_code == 400
    assert inbox_rows(factory) == []


def test_a_nul_in_a_signed_order_is_400_since_postgresql_text_cannot_hold_it(
    client: FlaskClient, factory: sessionmaker[Session], shop: ShopHandle, clock: Clock
) -> None:
    payload = order_payload(at=clock.now)
    payload["notes"] = "a\x00b"

    answer = post_webhook(client, shop, "order.create", payload)

    assert answer.status_code == 400
    assert answer.get_json()["field"] == "notes"
    assert inbox_rows(factory) == []


def test_an_order_comment_keeps_its_tabs_and_line_breaks(
    client: FlaskClient, worker: Any, factory: sessionmaker[Session], shop: ShopHandle, clock: Clock
) -> None:
    payload = order_payload(at=clock.now)
    payload["notes"] = "Proszę o fakturę:\r\n\tNIP 123-456-78-90"

    assert post_webhook(client, shop, "order.create", payload).status_code == 202
    worker.tick(clock.now)

    assert [o.platform_order_id for o in orders(factory)] == ["1001"]


@pytest.mark.parametrize(
    "email",
    [
        "v <victim@example.com>",
        "v<victim@example.com>@example.org",
        "a@example.com,b@example.org",
        "<script>alert(7)</script>@example.com",
    ],
)
def test_an_order_with_an_address_we_cannot_write_to_is_kept_without_it(
    client: FlaskClient,
    worker: Any,
    factory: sessionmaker[Session],
    shop: ShopHandle,
    clock: Clock,
    email: str,
) -> None:
    answer = post_webhook(client, shop, "order.create", order_payload(at=clock.now, email=email))

    assert answer.status_code == 202
    worker.tick(clock.now)
    (order,) = orders(factory)
    assert order.email is None
    assert order.phone == "+48600100200"


def test_an_orders_address_is_stored_in_its_canonical_form(
    client: FlaskClient, worker: Any, factory: sessionmaker[Session], shop: ShopHandle, clock: Clock
) -> None:
    payload = order_payload(at=clock.now, email=" Anna.Nowak@Example.COM ")

    post_webhook(client, shop, "order.create", payload)
    worker.tick(clock.now)

    (order,) = orders(factory)
    assert order.email == "anna.nowak@example.com"


def test_an_orders_phone_comes_from_the_delivery_address_when_billing_has_none_usable(
    client: FlaskClient, worker: Any, factory: sessionmaker[Session], shop: ShopHandle, clock: Clock
) -> None:
    payload = order_payload(at=clock.now)
    payload["billingAddress"]["phone"] = "12"
    payload["deliveryAddress"]["phone"] = "600 300 400"

    post_webhook(client, shop, "order.create", payload)
    worker.tick(clock.now)

    (order,) = orders(factory)
    assert order.phone == "+48600300400"
