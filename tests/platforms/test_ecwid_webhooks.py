"""`POST /ecwid/webhooks`: a delivery signed as Ecwid signs it (by the fake's own code) is
stored once in the inbox; forged, unsigned, stale, future, oversized, malformed and unknown-store
deliveries are refused and change nothing; and what the worker makes of a stored one, above
all `application.uninstalled`, which is believed only when Ecwid refuses the token."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from shoper_retention.app import create_app
from shoper_retention.credentials import CredentialBox
from shoper_retention.errors import UpstreamFailed
from shoper_retention.ingest.events import ShopUninstalled
from shoper_retention.models import InboxDelivery, Order, Shop
from shoper_retention.platforms.ecwid.install import TOKEN_MISSING, TOKEN_REFUSED
from shoper_retention.platforms.ecwid.platform import WAITING_FOR_TOKEN, EcwidPlatform
from shoper_retention.settings import Settings
from tests.fakes.ecwid_server import FakeEcwid, sample_cart, sample_order
from tests.platforms.ecwid_support import (
    CLIENT_ID,
    CLIENT_SECRET,
    STORE_ID,
    TOKEN,
    ecwid_shop,
    encrypted_payload,
    inbox_rows,
    installed_store,
    post_webhook,
    webhook,
    with_ecwid,
)
from tests.support import Clock, ShopHandle, cart_snapshot, messages, post_cart


@pytest.fixture
def ecwid() -> Iterator[FakeEcwid]:
    with FakeEcwid(CLIENT_ID, CLIENT_SECRET) as fake:
        fake.add_store(STORE_ID, TOKEN)
        yield fake


@pytest.fixture
def settings(settings: Settings, ecwid: FakeEcwid) -> Settings:
    return with_ecwid(settings, ecwid)


@pytest.fixture
def store(factory: sessionmaker[Session], settings: Settings, clock: Clock) -> ShopHandle:
    return installed_store(factory, settings, now=clock.now)


CART = {"orderId": "RA1SD", "cartId": "6626E60A-A6F9-4CD5-8230-43D5F162E0CD"}


def test_a_signed_delivery_is_stored_once_as_it_came(
    client: Any, factory: sessionmaker[Session], store: ShopHandle, clock: Clock
) -> None:
    headers, body = webhook(
        "unfinished_order.created",
        created=clock.now - timedelta(seconds=5),
        data=CART,
        event_id="95ed494f-362d-4fca-933d-f5c7064b04bb",
    )

    answer = post_webhook(client, headers, body)

    assert answer.status_code == 200
    assert answer.get_json() == {"status": "accepted"}
    (row,) = inbox_rows(factory)
    assert (row.shop_id, row.source, row.event_name, row.status) == (
        store.id,
        "ecwid",
        "unfinished_order.created",
        "pending",
    )
    assert row.dedupe_key.startswith("ecwid:95ed494f-362d-4fca-933d-f5c7064b04bb:")
    assert bytes(row.body) == body
    assert row.received_at == clock.now

    again = post_webhook(client, headers, body)

    assert again.status_code == 200
    assert again.get_json() == {"status": "duplicate"}
    assert len(inbox_rows(factory)) == 1


def test_a_copy_with_an_altered_body_arriving_first_does_not_shut_out_the_real_event(
    client: Any, factory: sessionmaker[Session], store: ShopHandle, clock: Clock
) -> None:
    """Only eventCreated and eventId are signed: someone holding a captured signature can send
    another body under it. Were the id alone the dedupe key, the real delivery arriving second
    would be dropped as a "duplicate" (an order never seen: reminders for a paid cart). Both
    are kept; the worker reads each entity back, so the altered one changes nothing."""
    headers, body = webhook(
        "order.created", created=clock.now, event_id="e-1", data={"orderId": "A"}
    )
    forged = body.replace(b'"A"', b'"B"')
    assert post_webhook(client, headers, forged).get_json() == {"status": "accepted"}

    answer = post_webhook(client, headers, body)

    assert answer.get_json() == {"status": "accepted"}
    assert post_webhook(client, headers, body).get_json() == {"status": "duplicate"}
    assert sorted(bytes(r.body) for r in inbox_rows(factory)) == sorted([forged, body])


def signed_then(how: str, clock: Clock) -> tuple[dict[str, str], bytes]:
    headers, body = webhook("order.created", created=clock.now, data={"orderId": "A"})
    if how == "forged":
        headers["X-Ecwid-Webhook-Signature"] = "MeV28XtFal4HCkYFvdilwckJinc6Dtp4ZWpPhm/pzd4="
    elif how == "missing":
        del headers["X-Ecwid-Webhook-Signature"]
    elif how == "other-secret":
        headers, body = webhook(
            "order.created", created=clock.now, secret="Someone-elses-secret-0123456789"
        )
    elif how == "other-event-id":
        data = json.loads(body)
        data["eventId"] += "x"
        body = json.dumps(data).encode()
    elif how == "other-time":
        data = json.loads(body)
        data["eventCreated"] -= 1
        body = json.dumps(data).encode()
    return headers, body


@pytest.mark.parametrize(
    "how", ["forged", "missing", "other-secret", "other-event-id", "other-time"]
)
def test_a_bad_or_missing_signature_is_401_and_stores_nothing(
    client: Any, factory: sessionmaker[Session], store: ShopHandle, clock: Clock, how: str
) -> None:
    headers, body = signed_then(how, clock)

    answer = post_webhook(client, headers, body)

    assert answer.status_code == 401
    assert answer.get_json()["error"] == "bad_signature"
    assert inbox_rows(factory) == []


@pytest.mark.parametrize(
    ("age", "status"),
    [
        (timedelta(hours=26), 400),
        (timedelta(hours=23, minutes=59), 200),  # Ecwid's last retry, a day after the event
        (-timedelta(minutes=11), 400),
        (-timedelta(minutes=9), 200),
    ],
    ids=["stale", "last-retry", "future", "clock-skew"],
)
def test_only_events_within_ecwids_retry_window_are_taken(
    client: Any,
    factory: sessionmaker[Session],
    store: ShopHandle,
    clock: Clock,
    age: timedelta,
    status: int,
) -> None:
    headers, body = webhook("order.created", created=clock.now - age, data={"orderId": "A"})

    answer = post_webhook(client, headers, body)

    assert answer.status_code == status, answer.get_json()
    if status == 400:
        assert answer.get_json()["field"] == "eventCreated"
    assert len(inbox_rows(factory)) == (1 if status == 200 else 0)


def test_a_store_we_do_not_know_is_404_so_ecwid_retries(
    client: Any, factory: sessionmaker[Session], store: ShopHandle, clock: Clock
) -> None:
    headers, body = webhook("order.created", created=clock.now, store_id=4242, data=CART)

    answer = post_webhook(client, headers, body)

    assert answer.status_code == 404
    assert inbox_rows(factory) == []


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not json",
        b"[1, 2]",
        b'{"eventCreated": 1772524800, "storeId": 1003, "eventType": "order.created"}',
        b'{"eventId": "x", "eventCreated": "soon", "storeId": 1003, "eventType": "order.created"}',
        b'{"eventId": "x", "eventCreated": true, "storeId": 1003, "eventType": "order.created"}',
        b'{"eventId": "' + b"x" * 101 + b'", "eventCreated": 1772524800}',
        b'{"a": ' * 100 + b"1" + b"}" * 100,
        b'{"eventId": "\\ud800", "eventCreated": 1772524800}',
    ],
    ids=[
        "empty",
        "not-json",
        "not-an-object",
        "no-event-id",
        "text-time",
        "boolean-time",
        "long-event-id",
        "deep",
        "lone-surrogate",
    ],
)
def test_a_malformed_body_is_400_and_stores_nothing(
    client: Any, factory: sessionmaker[Session], store: ShopHandle, body: bytes
) -> None:
    answer = post_webhook(
        client,
        {"X-Ecwid-Webhook-Signature": "c2lnbmF0dXJl", "Content-Type": "application/json"},
        body,
    )

    assert answer.status_code == 400
    assert answer.get_json()["error"] == "invalid"
    assert inbox_rows(factory) == []


def test_a_signed_body_without_a_store_or_event_type_is_400(
    client: Any, factory: sessionmaker[Session], store: ShopHandle, clock: Clock
) -> None:
    headers, body = webhook("order.created", created=clock.now, store_id="store-x")
    answer = post_webhook(client, headers, body)
    assert answer.status_code == 400 and answer.get_json()["field"] == "storeId"

    headers, body = webhook("", created=clock.now)
    answer = post_webhook(client, headers, body)
    assert answer.status_code == 400 and answer.get_json()["field"] == "eventType"
    assert inbox_rows(factory) == []


def test_an_oversized_body_is_400_and_stores_nothing(
    client: Any, factory: sessionmaker[Session], store: ShopHandle, settings: Settings, clock: Clock
) -> None:
    headers, body = webhook(
        "order.created", created=clock.now, data={"pad": "x" * settings.max_body_bytes}
    )

    answer = post_webhook(client, headers, body)

    assert answer.status_code == 400
    assert answer.get_json()["error"] == "too_large"
    assert inbox_rows(factory) == []


def test_an_uninstalled_store_and_an_event_we_do_not_take_are_answered_and_not_kept(
    client: Any, factory: sessionmaker[Session], store: ShopHandle, clock: Clock
) -> None:
    headers, body = webhook("application.installed", created=clock.now)
    answer = post_webhook(client, headers, body)
    assert (answer.status_code, answer.get_json()) == (200, {"status": "ignored"})

    with factory() as session, session.begin():
        shop = session.get(Shop, store.id)
        assert shop is not None
        shop.status = "uninstalled"
    headers, body = webhook("order.created", created=clock.now, data={"orderId": "A"})
    answer = post_webhook(client, headers, body)
    assert (answer.status_code, answer.get_json()) == (200, {"status": "ignored"})
    assert inbox_rows(factory) == []


def test_a_server_without_ecwid_answers_404(
    settings: Settings, factory: sessionmaker[Session], store: ShopHandle, clock: Clock
) -> None:
    app = create_app(settings.with_(ecwid_client_secret=""), clock=clock, factory=factory)
    headers, body = webhook("order.created", created=clock.now, data={"orderId": "A"})
    try:
        answer = post_webhook(app.test_client(), headers, body)
    finally:
        app.extensions["shoper_retention"].inbox_writer.dispose()

    assert answer.status_code == 404
    assert inbox_rows(factory) == []


def test_forged_signatures_use_up_the_addresss_budget(
    settings: Settings, factory: sessionmaker[Session], store: ShopHandle, clock: Clock
) -> None:
    app = create_app(settings.with_(limit_rejected_per_ip="3/minute"), clock=clock, factory=factory)
    try:
        client = app.test_client()
        statuses = [
            post_webhook(client, *signed_then("forged", clock)).status_code for _ in range(5)
        ]
        # Once blocked, even a good delivery from that address waits.
        blocked = post_webhook(client, *webhook("order.created", created=clock.now))
    finally:
        app.extensions["shoper_retention"].inbox_writer.dispose()

    assert statuses[:3] == [401, 401, 401]
    assert statuses[3:] == [429, 429]
    assert blocked.status_code == 429 and int(blocked.headers["Retry-After"]) > 0
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
    headers, body = webhook("order.created", created=clock.now, data={"orderId": "A"})
    try:
        answer = post_webhook(app.test_client(), headers, body)
    finally:
        app.extensions["shoper_retention"].inbox_writer.dispose()

    assert answer.status_code == 503
    assert answer.headers["Retry-After"] == "30"
    assert answer.get_json()["error"] == "unavailable"


def test_the_webhook_url_is_the_one_for_every_store(settings: Settings) -> None:
    assert (
        EcwidPlatform.webhook_url(settings.public_url, Shop())
        == "https://retention.example/ecwid/webhooks"
    )


# --- what the worker makes of a stored delivery --------------------------------------------


def schedule_cart_messages(
    client: Any, worker: Any, store: ShopHandle, clock: Clock, factory: sessionmaker[Session]
) -> None:
    post_cart(client, store, cart_snapshot(at=clock.now), confirmed=True)
    worker.tick(clock.now)
    worker.tick(clock.advance(minutes=31))
    assert {m.status for m in messages(factory, store.id)} == {"scheduled"}


def test_an_uninstall_ecwid_confirms_ends_the_store_and_cancels_its_messages(
    client: Any,
    worker: Any,
    ecwid: FakeEcwid,
    factory: sessionmaker[Session],
    store: ShopHandle,
    clock: Clock,
) -> None:
    schedule_cart_messages(client, worker, store, clock, factory)
    headers, body = webhook("application.uninstalled", created=clock.now, entity_id=STORE_ID)
    assert post_webhook(client, headers, body).get_json() == {"status": "accepted"}
    ecwid.fail_next(401)  # the token was revoked with the app

    report = worker.tick(clock.advance(minutes=1))

    assert report.ingested == 1, report.summary()
    shop = ecwid_shop(factory)
    assert shop is not None
    assert (shop.status, shop.uninstalled_at, shop.access_token_enc) == (
        "uninstalled",
        clock.now,
        None,
    )
    planned = messages(factory, store.id)
    assert planned and {(m.status, m.reason) for m in planned} == {
        ("cancelled", "shop uninstalled")
    }
    later = post_webhook(client, *webhook("order.created", created=clock.now, data=CART))
    assert later.get_json() == {"status": "ignored"}


def test_an_uninstall_whose_token_still_works_changes_nothing(
    client: Any,
    worker: Any,
    factory: sessionmaker[Session],
    store: ShopHandle,
    clock: Clock,
) -> None:
    """A captured delivery replayed under this store's id, or an uninstall from before a
    re-install: the body is not signed, Ecwid's answer is."""
    schedule_cart_messages(client, worker, store, clock, factory)
    headers, body = webhook("application.uninstalled", created=clock.now, entity_id=STORE_ID)
    assert post_webhook(client, headers, body).get_json() == {"status": "accepted"}

    worker.tick(clock.advance(minutes=1))

    shop = ecwid_shop(factory)
    assert shop is not None and shop.status == "active" and shop.access_token_enc
    assert {m.status for m in messages(factory, store.id)} == {"scheduled"}


def stored_delivery(factory: sessionmaker[Session]) -> tuple[Shop, InboxDelivery]:
    (row,) = inbox_rows(factory)
    shop = ecwid_shop(factory)
    assert shop is not None
    return shop, row


def test_to_events_reads_the_cart_back_from_ecwid(
    client: Any,
    ecwid: FakeEcwid,
    factory: sessionmaker[Session],
    settings: Settings,
    store: ShopHandle,
    clock: Clock,
) -> None:
    ecwid.put_cart(STORE_ID, sample_cart(CART["cartId"]))
    headers, body = webhook("unfinished_order.created", created=clock.now, data=CART)
    post_webhook(client, headers, body)
    shop, delivery = stored_delivery(factory)

    found = EcwidPlatform(settings).to_events(shop, delivery)

    assert [type(e).__name__ for e in found][:1] == ["CartChanged"]
    assert found[0].cart_id == CART["cartId"].lower()  # type: ignore[union-attr]
    assert f"/api/v3/{STORE_ID}/carts/{CART['cartId']}" in ecwid.paths("GET")


def test_to_events_waits_when_ecwid_does_not_answer(
    client: Any,
    ecwid: FakeEcwid,
    factory: sessionmaker[Session],
    settings: Settings,
    store: ShopHandle,
    clock: Clock,
) -> None:
    headers, body = webhook("unfinished_order.created", created=clock.now, data=CART)
    post_webhook(client, headers, body)
    shop, delivery = stored_delivery(factory)
    for _ in range(3):
        ecwid.fail_next(503)  # the first try and both retries

    with pytest.raises(UpstreamFailed):
        EcwidPlatform(settings).to_events(shop, delivery)


def test_to_events_of_an_uninstall_keeps_it_only_when_ecwid_refuses_the_token(
    client: Any,
    ecwid: FakeEcwid,
    factory: sessionmaker[Session],
    settings: Settings,
    store: ShopHandle,
    clock: Clock,
) -> None:
    headers, body = webhook("application.uninstalled", created=clock.now, entity_id=STORE_ID)
    post_webhook(client, headers, body)
    shop, delivery = stored_delivery(factory)
    platform = EcwidPlatform(settings)

    assert platform.to_events(shop, delivery) == []
    ecwid.fail_next(401)
    (event,) = platform.to_events(shop, delivery)
    assert isinstance(event, ShopUninstalled)


def test_a_token_ecwid_refuses_makes_deliveries_wait_until_the_merchant_opens_the_app(
    client: Any,
    worker: Any,
    ecwid: FakeEcwid,
    factory: sessionmaker[Session],
    store: ShopHandle,
    clock: Clock,
) -> None:
    """Ecwid disabled the stored token (its code exchanged twice, say) while the app stays
    installed: the store's deliveries wait, the settings page tells the merchant what to do,
    and opening the app brings a token that reads them."""
    ecwid.put_order(STORE_ID, sample_order("XJ12H"))
    ecwid.revoke(TOKEN)
    post_webhook(client, *webhook("order.created", created=clock.now, data={"orderId": "XJ12H"}))

    report = worker.tick(clock.now)

    assert (report.ingested, report.ingest_failed, report.ingest_retried) == (0, 0, 1)
    (row,) = inbox_rows(factory)
    assert row.status == "pending" and "token" in (row.error or "")
    shop = ecwid_shop(factory)
    assert shop is not None and shop.status == "active"
    assert shop.setup_error == TOKEN_REFUSED
    assert EcwidPlatform.waiting_reason(shop) == WAITING_FOR_TOKEN

    ecwid.grant_token(STORE_ID, "new-token")
    payload = encrypted_payload(access_token="new-token")
    assert client.get("/ecwid/app", query_string={"payload": payload}).status_code == 200
    worker.tick(clock.advance(minutes=5))

    (row,) = inbox_rows(factory)
    assert row.status == "processed"
    with factory() as session:
        assert session.scalars(select(Order.platform_order_id)).all() == ["XJ12H"]
    shop = ecwid_shop(factory)
    assert shop is not None and shop.setup_error == ""
    assert EcwidPlatform.waiting_reason(shop) is None


@pytest.mark.parametrize("stored", ["none", "unreadable"])
def test_a_store_with_no_usable_token_waits_instead_of_failing(
    client: Any,
    worker: Any,
    ecwid: FakeEcwid,
    factory: sessionmaker[Session],
    store: ShopHandle,
    clock: Clock,
    stored: str,
) -> None:
    with factory() as session, session.begin():
        shop = session.get(Shop, store.id)
        assert shop is not None
        other_key = CredentialBox("a secret key this server no longer has").seal(TOKEN)
        shop.access_token_enc = None if stored == "none" else other_key
    post_webhook(client, *webhook("order.created", created=clock.now, data={"orderId": "XJ12H"}))

    worker.tick(clock.now)

    (row,) = inbox_rows(factory)
    assert row.status == "pending"
    shop = ecwid_shop(factory)
    assert shop is not None and shop.setup_error == TOKEN_MISSING
    assert EcwidPlatform.waiting_reason(shop) == WAITING_FOR_TOKEN


def test_to_events_waits_when_ecwid_refuses_the_token(
    client: Any,
    ecwid: FakeEcwid,
    factory: sessionmaker[Session],
    settings: Settings,
    store: ShopHandle,
    clock: Clock,
) -> None:
    headers, body = webhook("unfinished_order.created", created=clock.now, data=CART)
    post_webhook(client, headers, body)
    shop, delivery = stored_delivery(factory)
    ecwid.revoke(TOKEN)

    with pytest.raises(UpstreamFailed):
        EcwidPlatform(settings).to_events(shop, delivery)
