"""The storefront cart endpoint (`POST /storefront/<public_key>/events`) through the Flask test
client: what it stores, what it refuses (a 400 naming the field, or 403/404) without storing
anything, CORS for the shop's own origin only, and what `worker.tick` makes of the snapshots."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from shoper_retention.ingest.storefront_events import parse_snapshot
from shoper_retention.models import Cart, Consent, Contact, InboxDelivery
from shoper_retention.settings import Settings
from tests.support import Clock, ShopHandle, cart_snapshot, make_shop, post_cart

SHOP_ORIGIN = "https://sklep.example"


def inbox_rows(factory: sessionmaker[Session]) -> list[InboxDelivery]:
    with factory() as session:
        return list(session.scalars(select(InboxDelivery).order_by(InboxDelivery.id)))


def carts(factory: sessionmaker[Session]) -> list[Cart]:
    with factory() as session:
        return list(session.scalars(select(Cart).order_by(Cart.id)))


@pytest.fixture
def shop(factory: sessionmaker[Session], settings: Settings, clock: Clock) -> ShopHandle:
    return make_shop(factory, settings, now=clock.now)


def test_a_valid_snapshot_is_accepted_and_becomes_a_cart_with_contact_and_consent(
    client: FlaskClient, worker: Any, factory: sessionmaker[Session], shop: ShopHandle, clock: Clock
) -> None:
    snapshot = cart_snapshot(
        "cart-77",
        at=clock.now,
        phone="600 100 200",
        email=" Anna@Example.com ",
        consent_text_version="v2",
    )

    answer = post_cart(client, shop, snapshot)

    assert answer.status_code == 202
    (row,) = inbox_rows(factory)
    assert (row.shop_id, row.source, row.status) == (shop.id, "storefront", "pending")
    assert worker.tick(clock.now).ingested == 1

    (cart,) = carts(factory)
    assert (cart.shop_id, cart.platform_cart_id, cart.status) == (shop.id, "cart-77", "open")
    # Only what names the product: its text comes from the shop's catalogue.
    assert cart.items == [{"product_id": "101", "variant_id": "", "quantity": 2}]
    with factory() as session:
        contact = session.get(Contact, cart.contact_id)
        assert contact is not None
        # A contact the storefront creates holds one address (only platform data links an
        # e-mail and a phone); the phone and the name stay on the cart.
        assert (contact.email, contact.phone, contact.first_name) == ("anna@example.com", None, "")
        assert cart.phone == "+48600100200"
        assert cart.first_name == "Anna"
        consents = session.scalars(select(Consent).where(Consent.contact_id == contact.id)).all()
        assert {
            (c.channel, c.granted, c.source, c.text_version, c.assurance, c.cart_id)
            for c in consents
        } == {
            ("email", True, "storefront", "v2", "claimed", cart.id),
            ("sms", True, "storefront", "v2", "claimed", cart.id),
        }
    assert inbox_rows(factory)[0].status == "processed"


def _set(snapshot: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """Set a dotted path like `items.0.price` in a snapshot (a missing value deletes it)."""
    target: Any = snapshot
    *parents, last = path.split(".")
    for key in parents:
        target = target[int(key)] if isinstance(target, list) else target[key]
    key_: Any = int(last) if isinstance(target, list) else last
    if value is _MISSING:
        del target[key_]
    else:
        target[key_] = value
    return snapshot


_MISSING = object()


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        ("items.0.price", "abc", "items[0].price"),
        ("items.0.price", "-1.00", "items[0].price"),
        ("items.0.price", True, "items[0].price"),
        ("items.0.price", "NaN", "items[0].price"),
        ("items.0.quantity", 0, "items[0].quantity"),
        ("items.0.quantity", 1.5, "items[0].quantity"),
        ("items.0.quantity", "2", "items[0].quantity"),
        ("items.0.product_id", _MISSING, "items[0].product_id"),
        ("items.0.image_url", "javascript:alert(1)", "items[0].image_url"),
        ("items.0.image_url", "https://[sklep.example/x.jpg", "items[0].image_url"),  # was a 500
        ("restore_url", "https://[::1/basket", "restore_url"),
        ("contact.email", "anna@", "contact.email"),
        ("contact.email", "anna example.com", "contact.email"),
        ("contact.phone", "12", "contact.phone"),
        ("contact.phone", 600100200, "contact.phone"),
        ("currency", "PL", "currency"),
        ("currency", "EURO", "currency"),
        ("currency", _MISSING, "currency"),
        ("occurred_at", "yesterday", "occurred_at"),
        ("occurred_at", "2026-03-03T08:00:00", "occurred_at"),  # no time zone
        ("occurred_at", _MISSING, "occurred_at"),
        ("occurred_at", "0001-01-01T00:00:00+14:00", "occurred_at"),  # before year 1 in UTC
        ("occurred_at", "9999-12-31T23:59:59-14:00", "occurred_at"),  # after year 9999
        ("consent.sms", "yes", "consent.sms"),
        ("consent.email", 1, "consent.email"),
        ("cart_id", _MISSING, "cart_id"),
        ("cart_id", "", "cart_id"),
        ("cart_id", ["c"], "cart_id"),
        ("cart_id", "c" * 129, "cart_id"),
        ("items", {"0": {}}, "items"),
        ("type", "order", "type"),
    ],
)
def test_an_invalid_field_is_400_naming_it_and_stores_nothing(
    client: FlaskClient,
    factory: sessionmaker[Session],
    shop: ShopHandle,
    clock: Clock,
    path: str,
    value: Any,
    field: str,
) -> None:
    snapshot = _set(cart_snapshot(at=clock.now), path, value)

    answer = post_cart(client, shop, snapshot)

    assert answer.status_code == 400
    assert answer.get_json()["error"] == "invalid"
    assert answer.get_json()["field"] == field
    assert inbox_rows(factory) == []


def test_too_many_items_is_400(
    client: FlaskClient, factory: sessionmaker[Session], shop: ShopHandle, clock: Clock
) -> None:
    item = {"product_id": "1", "name": "x", "price": "1.00", "quantity": 1}

    answer = post_cart(client, shop, cart_snapshot(at=clock.now, items=[item] * 101))

    assert answer.status_code == 400 and answer.get_json()["field"] == "items"
    assert inbox_rows(factory) == []


def test_a_body_over_the_storefront_limit_is_400(
    client: FlaskClient,
    factory: sessionmaker[Session],
    settings: Settings,
    shop: ShopHandle,
    clock: Clock,
) -> None:
    snapshot = cart_snapshot(at=clock.now, padding="x" * settings.max_storefront_body_bytes)

    answer = post_cart(client, shop, snapshot)

    assert answer.status_code == 400
    assert answer.get_json()["error"] == "too_large"
    assert inbox_rows(factory) == []


@pytest.mark.parametrize("body", [b"not json at all", b'{"cart_id": ', b"\xff\xfe", b"[1, 2]", b""])
def test_a_body_that_is_not_a_json_object_is_400(
    client: FlaskClient, factory: sessionmaker[Session], shop: ShopHandle, body: bytes
) -> None:
    answer = client.post(
        f"/storefront/{shop.public_key}/events", data=body, content_type="application/json"
    )

    assert answer.status_code == 400
    assert answer.get_json()["error"] == "invalid"
    assert inbox_rows(factory) == []


def test_an_unknown_public_key_is_404(
    client: FlaskClient, factory: sessionmaker[Session], clock: Clock
) -> None:
    answer = client.post(
        "/storefront/no-such-key/events",
        data=json.dumps(cart_snapshot(at=clock.now)),
        content_type="application/json",
    )

    assert answer.status_code == 404
    assert inbox_rows(factory) == []


def test_an_uninstalled_shop_takes_no_snapshots(
    client: FlaskClient, factory: sessionmaker[Session], settings: Settings, clock: Clock
) -> None:
    gone = make_shop(factory, settings, now=clock.now, status="uninstalled")

    assert post_cart(client, gone, cart_snapshot(at=clock.now)).status_code == 404
    assert inbox_rows(factory) == []


# --- CORS ----------------------------------------------------------------------------------


def test_preflight_from_the_shops_origin_is_allowed_and_echoes_it(
    client: FlaskClient, shop: ShopHandle
) -> None:
    answer = client.options(
        f"/storefront/{shop.public_key}/events",
        headers={
            "Origin": SHOP_ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )

    assert answer.status_code == 204
    assert answer.headers["Access-Control-Allow-Origin"] == SHOP_ORIGIN
    assert "POST" in answer.headers["Access-Control-Allow-Methods"]
    assert "content-type" in answer.headers["Access-Control-Allow-Headers"].lower()
    assert "Origin" in answer.headers["Vary"]


def test_preflight_from_another_origin_is_refused_without_cors_headers(
    client: FlaskClient, shop: ShopHandle
) -> None:
    answer = client.options(
        f"/storefront/{shop.public_key}/events",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )

    assert answer.status_code == 403
    assert "Access-Control-Allow-Origin" not in answer.headers


def test_a_post_from_the_shops_origin_carries_the_cors_header(
    client: FlaskClient, factory: sessionmaker[Session], shop: ShopHandle, clock: Clock
) -> None:
    answer = post_cart(client, shop, cart_snapshot(at=clock.now), headers={"Origin": SHOP_ORIGIN})

    assert answer.status_code == 202
    assert answer.headers["Access-Control-Allow-Origin"] == SHOP_ORIGIN
    assert len(inbox_rows(factory)) == 1


def test_a_400_to_the_shops_origin_carries_the_cors_header_so_the_widget_can_read_it(
    client: FlaskClient, factory: sessionmaker[Session], shop: ShopHandle, clock: Clock
) -> None:
    snapshot = cart_snapshot(at=clock.now, currency="EURO")

    answer = post_cart(client, shop, snapshot, headers={"Origin": SHOP_ORIGIN})

    assert answer.status_code == 400
    assert answer.get_json()["field"] == "currency"
    assert answer.headers["Access-Control-Allow-Origin"] == SHOP_ORIGIN
    assert inbox_rows(factory) == []


def test_an_extra_origin_from_the_shops_settings_is_allowed(
    client: FlaskClient, factory: sessionmaker[Session], settings: Settings, clock: Clock
) -> None:
    shop = make_shop(
        factory,
        settings,
        now=clock.now,
        overrides={"storefront_origins": ["https://www.sklep.example"]},
    )

    answer = post_cart(
        client, shop, cart_snapshot(at=clock.now), headers={"Origin": "https://www.sklep.example"}
    )

    assert answer.status_code == 202
    assert answer.headers["Access-Control-Allow-Origin"] == "https://www.sklep.example"


@pytest.mark.parametrize(
    "origin",
    ["https://evil.example", "http://sklep.example", "https://sklep.example.evil.example", "null"],
)
def test_a_post_from_another_origin_is_403_and_stores_nothing(
    client: FlaskClient, factory: sessionmaker[Session], shop: ShopHandle, clock: Clock, origin: str
) -> None:
    answer = post_cart(client, shop, cart_snapshot(at=clock.now), headers={"Origin": origin})

    assert answer.status_code == 403
    assert "Access-Control-Allow-Origin" not in answer.headers
    assert inbox_rows(factory) == []


# --- order and repeats ---------------------------------------------------------------------


def test_an_older_snapshot_arriving_after_a_newer_one_does_not_roll_the_cart_back(
    client: FlaskClient, worker: Any, factory: sessionmaker[Session], shop: ShopHandle, clock: Clock
) -> None:
    first_at = clock.now
    mug = [{"product_id": "101", "name": "Kubek", "price": "49.90", "quantity": 1}]
    jug = [{"product_id": "303", "name": "Dzbanek", "price": "89.00", "quantity": 1}]
    newer = cart_snapshot(at=first_at + timedelta(minutes=5), items=jug)
    older = cart_snapshot(at=first_at, items=mug)

    post_cart(client, shop, newer)
    worker.tick(clock.advance(minutes=6))
    post_cart(client, shop, older)  # delayed in the shopper's network
    worker.tick(clock.advance(minutes=1))

    (cart,) = carts(factory)
    assert [i["product_id"] for i in cart.items] == ["303"]
    assert cart.snapshot_at == first_at + timedelta(minutes=5)
    assert [row.status for row in inbox_rows(factory)] == ["processed", "processed"]


def test_a_newer_snapshot_updates_the_cart(
    client: FlaskClient, worker: Any, factory: sessionmaker[Session], shop: ShopHandle, clock: Clock
) -> None:
    jug = [{"product_id": "303", "name": "Dzbanek", "price": "89.00", "quantity": 3}]
    post_cart(client, shop, cart_snapshot(at=clock.now))
    worker.tick(clock.now)
    post_cart(client, shop, cart_snapshot(at=clock.advance(minutes=2), items=jug))
    worker.tick(clock.now)

    (cart,) = carts(factory)
    assert cart.items == [{"product_id": "303", "variant_id": "", "quantity": 3}]
    assert cart.last_activity_at == clock.now


def test_the_same_snapshot_twice_is_stored_once(
    client: FlaskClient, worker: Any, factory: sessionmaker[Session], shop: ShopHandle, clock: Clock
) -> None:
    snapshot = cart_snapshot(at=clock.now)

    first = post_cart(client, shop, snapshot)
    second = post_cart(client, shop, snapshot)

    assert first.status_code == 202
    assert second.status_code in (200, 202)  # acknowledged, so the widget does not resend
    assert len(inbox_rows(factory)) == 1
    worker.tick(clock.now)
    assert len(carts(factory)) == 1


def test_two_different_snapshots_of_a_cart_with_a_long_id_are_both_stored(
    client: FlaskClient, worker: Any, factory: sessionmaker[Session], shop: ShopHandle, clock: Clock
) -> None:
    """The dedupe key must not lose the body hash to truncation when the cart id is long."""
    cart_id = "c" * 128
    jug = [{"product_id": "303", "name": "Dzbanek", "price": "89.00", "quantity": 1}]
    assert post_cart(client, shop, cart_snapshot(cart_id, at=clock.now)).status_code == 202
    later = clock.advance(minutes=3)
    assert post_cart(client, shop, cart_snapshot(cart_id, at=later, items=jug)).status_code == 202

    assert len(inbox_rows(factory)) == 2
    worker.tick(clock.now)
    (cart,) = carts(factory)
    assert cart.platform_cart_id == cart_id
    assert [i["product_id"] for i in cart.items] == ["303"]


def test_snapshots_are_scoped_to_their_shop(
    client: FlaskClient,
    worker: Any,
    factory: sessionmaker[Session],
    settings: Settings,
    shop: ShopHandle,
    clock: Clock,
) -> None:
    other = make_shop(factory, settings, now=clock.now)
    snapshot = cart_snapshot("same-id", at=clock.now)

    assert post_cart(client, shop, snapshot).status_code == 202
    assert post_cart(client, other, snapshot).status_code == 202  # not a duplicate of shop A's
    worker.tick(clock.now)

    assert sorted(c.shop_id for c in carts(factory)) == sorted([shop.id, other.id])


# --- untrusted input: the storefront cannot be used to spam --------------------------------


@pytest.mark.parametrize(
    "email",
    [
        "v<victim@example.com>@example.org",  # SMTP's parseaddr found victim@ in it
        "v<victim@x.test>@a.test",
        "v <victim@example.com>",
        "<script>alert(7)</script>@example.com",
        "a@example.com,b@example.org",  # two addresses in To:
        "a@example.com b@example.org",
        '"anna nowak"@example.com',
        "anna(comment)@example.com",
        "anna@[192.0.2.1]",
        "anna@localhost",
        "anna@shop.test",
        "anna@example.com\r\nBcc: victim@example.com",
        ["anna@example.com"],
    ],
)
def test_an_address_that_is_not_one_plain_address_is_400_naming_it_and_stores_nothing(
    client: FlaskClient, factory: sessionmaker[Session], shop: ShopHandle, clock: Clock, email: Any
) -> None:
    answer = post_cart(client, shop, cart_snapshot(at=clock.now, email=email))

    assert answer.status_code == 400
    assert answer.get_json()["error"] == "invalid"
    assert answer.get_json()["field"] == "contact.email"
    assert inbox_rows(factory) == []


def test_an_address_is_kept_in_its_one_canonical_form(clock: Clock) -> None:
    body = json.dumps(cart_snapshot(at=clock.now, email="  ANNA.Nowak@Example.COM ")).encode()

    assert parse_snapshot(body, clock.now).contact.email == "anna.nowak@example.com"


# Objects nest in more bytes: 12,000 of them fit the 64 KiB limit (and any depth over
# Python's recursion limit of 1,000 was a 500).
@pytest.mark.parametrize(("opener", "depth"), [(b"[", 30_000), (b'{"":', 12_000)])
def test_a_body_nested_30000_deep_is_400_not_500_and_stores_nothing(
    client: FlaskClient,
    factory: sessionmaker[Session],
    shop: ShopHandle,
    opener: bytes,
    depth: int,
) -> None:
    body = b'{"cart_id": "d", "items": ' + opener * depth

    answer = client.post(
        f"/storefront/{shop.public_key}/events", data=body, content_type="application/json"
    )

    assert answer.status_code == 400
    assert answer.get_json()["error"] == "invalid"
    assert inbox_rows(factory) == []


@pytest.mark.parametrize(
    ("path", "field"),
    [("contact.first_name", "contact.first_name"), ("items.0.name", "items[0].name")],
)
def test_a_lone_surrogate_escape_is_400_naming_the_field_and_stores_nothing(
    client: FlaskClient,
    factory: sessionmaker[Session],
    shop: ShopHandle,
    clock: Clock,
    path: str,
    field: str,
) -> None:
    snapshot = _set(cart_snapshot(at=clock.now), path, "Anna\ud800")
    body = json.dumps(snapshot)  # ensure_ascii: the surrogate goes as the escape \ud800
    assert "\\ud800" in body

    answer = client.post(
        f"/storefront/{shop.public_key}/events", data=body, content_type="application/json"
    )

    assert answer.status_code == 400
    assert answer.get_json()["field"] == field
    assert inbox_rows(factory) == []


def test_a_surrogate_sent_as_raw_bytes_is_400_and_stores_nothing(
    client: FlaskClient, factory: sessionmaker[Session], shop: ShopHandle, clock: Clock
) -> None:
    snapshot = cart_snapshot(at=clock.now, first_name="Anna\ud800")
    body = json.dumps(snapshot, ensure_ascii=False).encode("utf-8", "surrogatepass")
    assert b"\xed\xa0\x80" in body  # what json.loads(bytes) would have let through

    answer = client.post(
        f"/storefront/{shop.public_key}/events", data=body, content_type="application/json"
    )

    assert answer.status_code == 400
    assert answer.get_json()["error"] == "invalid"
    assert inbox_rows(factory) == []


@pytest.mark.parametrize("char", ["\u0007", "\x00", "\n", "\t", "\x1b", "\x7f", "\u0085"])
@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("contact.first_name", "contact.first_name"),
        ("items.0.name", "items[0].name"),
        ("items.0.product_id", "items[0].product_id"),
        ("cart_id", "cart_id"),
    ],
)
def test_a_control_character_in_any_text_is_400_naming_the_field_and_stores_nothing(
    client: FlaskClient,
    factory: sessionmaker[Session],
    shop: ShopHandle,
    clock: Clock,
    char: str,
    path: str,
    field: str,
) -> None:
    snapshot = _set(cart_snapshot(at=clock.now), path, f"ab{char}cd")

    answer = post_cart(client, shop, snapshot)

    assert answer.status_code == 400
    assert answer.get_json()["field"] == field
    assert inbox_rows(factory) == []


def test_bidirectional_marks_are_left_alone(
    client: FlaskClient, factory: sessionmaker[Session], shop: ShopHandle, clock: Clock
) -> None:
    snapshot = _set(cart_snapshot(at=clock.now), "items.0.name", "Kubek \u202eteks")

    assert post_cart(client, shop, snapshot).status_code == 202
    assert len(inbox_rows(factory)) == 1


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        ("items.0.name", "x" * 256, "items[0].name"),
        ("items.0.variant_id", "v" * 65, "items[0].variant_id"),
        ("items.0.product_id", "p" * 65, "items[0].product_id"),
        ("items.0.product_url", "https://sklep.example/" + "k" * 2048, "items[0].product_url"),
    ],
)
def test_over_long_item_text_is_400_naming_the_field(
    client: FlaskClient,
    factory: sessionmaker[Session],
    shop: ShopHandle,
    clock: Clock,
    path: str,
    value: str,
    field: str,
) -> None:
    answer = post_cart(client, shop, _set(cart_snapshot(at=clock.now), path, value))

    assert answer.status_code == 400
    assert answer.get_json()["field"] == field
    assert inbox_rows(factory) == []


@pytest.mark.parametrize(
    ("typed", "kept"),
    [
        ("Anna", "Anna"),
        ("  Łucja  ", "Łucja"),
        ("Zażółć Gęślą", "Zażółć Gęślą"),
        ("Anna-Maria", "Anna-Maria"),
        ("O'Neil", "O'Neil"),
        ("O\u2019Neil", "O\u2019Neil"),
        ("Jean Claude Van", "Jean Claude Van"),
        ("Zoe\u0308", "Zoë"),  # a decomposed accent, stored composed
        ("Αλέξανδρος", "Αλέξανδρος"),
        ("Владимир", "Владимир"),
        ("李小龙", "李小龙"),
        ("WIN 1000 PLN at evil.example/x", ""),
        ("evil.example", ""),
        ("https://evil.example", ""),
        ("Anna2", ""),
        ("Anna.", ""),
        ("Anna!", ""),
        ("Anna, call", ""),
        ("Anna  Maria", ""),  # two spaces
        ("Jean Claude Van Damme", ""),  # four words
        ("-Anna", ""),
        ("Anna-", ""),
        ("O''Neil", ""),
        ("A" * 41, ""),
        ("_", ""),
        ("\u0308Anna", ""),  # a mark with no letter under it
        ("½", ""),
        ("", ""),
        (12, ""),
        (["Anna"], ""),
        (None, ""),
    ],
)
def test_a_first_name_is_kept_only_if_it_looks_like_a_name(
    clock: Clock, typed: Any, kept: str
) -> None:
    body = json.dumps(cart_snapshot(at=clock.now, first_name=typed)).encode()

    assert parse_snapshot(body, clock.now).contact.first_name == kept


def test_a_spam_line_as_a_first_name_is_dropped_but_the_cart_is_kept(
    client: FlaskClient, worker: Any, factory: sessionmaker[Session], shop: ShopHandle, clock: Clock
) -> None:
    snapshot = cart_snapshot(at=clock.now, first_name="WIN 1000 PLN at evil.example/x")

    assert post_cart(client, shop, snapshot).status_code == 202
    worker.tick(clock.now)

    (cart,) = carts(factory)
    with factory() as session:
        contact = session.get(Contact, cart.contact_id)
        assert contact is not None
        assert contact.email == "anna@example.com"
        assert not contact.first_name
