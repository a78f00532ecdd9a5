"""`POST /storefront/<public_key>/events` under generated input: raw bytes, random JSON, deep
nesting, huge strings, and near-valid cart snapshots with one field replaced by junk, sent with
odd Content-Types and Origins. Never a 5xx, always the JSON answer of the contract, nothing
stored unless accepted, and whatever was accepted is ingested by the worker without a crash."""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import event, given
from hypothesis import strategies as st
from sqlalchemy import select

from shoper_retention.ingest.pipeline import process_pending
from shoper_retention.models import Cart, Consent, Contact, InboxDelivery
from tests.fuzz.hostile import (
    any_text,
    assert_json_answer,
    deep_bodies,
    header_text,
    json_bodies,
    json_values,
    mutated,
    nasty_text,
    numbers,
    row_counts,
    to_json,
)
from tests.support import ShopHandle, cart_snapshot, make_shop

SHOP_ORIGIN = "https://sklep.example"
STORED = (InboxDelivery, Contact, Consent, Cart)

content_types = st.one_of(
    st.none(),
    st.sampled_from(
        [
            "application/json",
            "application/json; charset=utf-8",
            "text/plain;charset=UTF-8",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            "application/octet-stream",
        ]
    ),
    header_text,
)
origins = st.one_of(
    st.none(),
    st.just(SHOP_ORIGIN),
    st.sampled_from(
        ["HTTPS://SKLEP.EXAMPLE", "null", "https://evil.example", "http://sklep.example", ""]
    ),
    header_text,
)
timestamps = st.one_of(
    st.datetimes(timezones=st.timezones()).map(datetime.isoformat),
    st.datetimes().map(datetime.isoformat),  # no zone
    numbers,
    any_text,
)
FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "type": any_text,
    "cart_id": st.one_of(any_text, numbers, st.integers(60_000, 70_000).map("x".__mul__)),
    "occurred_at": timestamps,
    "currency": any_text,
    "items": st.lists(json_values, max_size=3) | st.integers(101, 120).map(lambda n: [{}] * n),
    "contact": json_values,
    "consent": json_values,
    "consent_text_version": any_text,
    "restore_url": any_text | st.just("https://sklep.example/basket?x=\x00"),
    "order_id": any_text | numbers,
    "items[0].product_id": any_text | numbers,
    "items[0].variant_id": any_text | numbers,
    "items[0].name": any_text,
    "items[0].price": numbers | any_text,
    "items[0].quantity": numbers | any_text,
    "items[0].image_url": any_text,
    "items[0].product_url": any_text,
    "contact.email": st.emails().map(str) | any_text | st.emails().map(lambda e: f" {e}\x00"),
    "contact.phone": st.from_regex(r"\+?[0-9 ()\-]{0,20}", fullmatch=True) | any_text | numbers,
    "contact.first_name": any_text,
    "consent.email": json_values,
    "consent.sms": json_values,
}


@st.composite
def near_valid_snapshots(draw: st.DrawFn, at: datetime) -> dict[str, Any]:
    """A valid snapshot of a fresh cart with one or two fields replaced by junk or dropped,
    sometimes with an extra key of junk."""
    snapshot = cart_snapshot(f"cart-{secrets.token_hex(6)}", at=at)
    for path in draw(st.lists(st.sampled_from(sorted(FIELDS)), min_size=0, max_size=2)):
        target, key = snapshot, path
        if path.startswith("items[0]."):
            items = snapshot.get("items")
            first = items[0] if isinstance(items, list) and items else None
            target, key = first, path.removeprefix("items[0].")
        elif "." in path:
            parent, key = path.split(".", 1)
            target = snapshot.get(parent)
        if not isinstance(target, dict):
            continue  # the parent was replaced by junk or dropped a step ago
        if draw(st.integers(0, 5)) == 0:
            target.pop(key, None)
        else:
            target[key] = draw(FIELDS[path])
    if draw(st.integers(0, 5)) == 0:
        snapshot[draw(any_text)] = draw(json_values)
    return snapshot


@pytest.fixture
def shop(factory, settings, clock) -> ShopHandle:  # type: ignore[no-untyped-def]
    return make_shop(factory, settings, now=clock.now)


def post(client: Any, public_key: str, body: bytes, content_type: str | None, origin: str | None):  # type: ignore[no-untyped-def]
    headers = {} if origin is None else {"Origin": origin}
    if content_type is not None:
        headers["Content-Type"] = content_type
    return client.post(f"/storefront/{public_key}/events", data=body, headers=headers)


def check(client: Any, factory: Any, shop: ShopHandle, body: bytes, **request: Any) -> int:
    """One request and the properties every answer keeps; returns the status."""
    key = request.pop("public_key", shop.public_key)
    before = row_counts(factory, *STORED)
    answer = post(client, key, body, request.get("content_type"), request.get("origin"))
    data = assert_json_answer(answer)
    after = row_counts(factory, *STORED)
    status = answer.status_code
    event(f"{status} {data.get('field') or data.get('error') or data.get('status')}")
    origin = request.get("origin")
    if status == 202:
        assert data == {"status": "accepted"}
        assert after["InboxDelivery"] == before["InboxDelivery"] + 1
    else:
        assert after == before, (status, data)  # refused or a repeat: nothing new stored
    if status == 200:
        assert data == {"status": "duplicate"}
    if status < 300:
        assert len(body) <= 64 * 1024
        assert not origin or origin.lower() == SHOP_ORIGIN
    if status == 404:
        assert key != shop.public_key
    if origin and origin.lower() == SHOP_ORIGIN and key == shop.public_key:
        # Even on a 400 (a too large body included), so the widget can read what is wrong.
        assert answer.headers.get("Access-Control-Allow-Origin") == origin
    elif origin:
        assert answer.headers.get("Access-Control-Allow-Origin") is None
    return status


def ingest_everything_accepted(factory: Any, platforms: Any, clock: Any) -> None:
    """The worker parses what the edge accepted again: it must not fail on any of it."""
    process_pending(factory, clock.now, platforms=platforms)
    with factory() as session:
        rows = session.execute(
            select(InboxDelivery.id, InboxDelivery.status, InboxDelivery.error, InboxDelivery.body)
        ).all()
    broken = [(r.id, r.status, r.error, r.body[:300]) for r in rows if r.status != "processed"]
    assert broken == []


def test_random_bytes_and_json_never_500_and_store_nothing_unless_accepted(
    client, factory, platforms, shop, clock
):  # type: ignore[no-untyped-def]
    @given(
        body=st.one_of(st.binary(max_size=300), json_bodies(), deep_bodies),
        content_type=content_types,
        origin=origins,
        unknown_key=st.booleans(),
    )
    def run(body: bytes, content_type: str | None, origin: str | None, unknown_key: bool) -> None:
        key = secrets.token_urlsafe(12) if unknown_key else shop.public_key
        status = check(
            client, factory, shop, body, content_type=content_type, origin=origin, public_key=key
        )
        assert status != 202 or json.loads(body).get("cart_id")

    run()
    ingest_everything_accepted(factory, platforms, clock)


def test_near_valid_snapshots_are_accepted_or_refused_naming_a_field_and_never_500(
    client, factory, platforms, shop, clock
):  # type: ignore[no-untyped-def]
    @given(
        snapshot=near_valid_snapshots(datetime(2026, 3, 3, 8, 0, tzinfo=UTC)),
        ascii_only=st.booleans(),
        content_type=st.sampled_from(["application/json", "text/plain;charset=UTF-8"]),
        origin=st.sampled_from([None, SHOP_ORIGIN]),
        damage=st.integers(0, 4),
        data=st.data(),
    )
    def run(
        snapshot: dict[str, Any],
        ascii_only: bool,
        content_type: str,
        origin: str | None,
        damage: int,
        data: st.DataObject,
    ) -> None:
        body = to_json(snapshot, ascii_only=ascii_only)
        if damage == 0:
            body = data.draw(mutated(body))
        check(client, factory, shop, body, content_type=content_type, origin=origin)

    run()
    ingest_everything_accepted(factory, platforms, clock)


def test_a_string_in_a_snapshot_with_a_control_character_or_lone_surrogate_is_refused(
    client, factory, shop
):  # type: ignore[no-untyped-def]
    """A contract field holding a refused character (C0, DEL, C1 or a lone surrogate, in any
    one-line field) is a 400, however it is escaped; nothing is stored."""
    fields = ["cart_id", "currency", "consent_text_version", "order_id", "items[0].product_id"]

    @given(
        path=st.sampled_from(fields),
        text=nasty_text.filter(
            lambda t: any(c < " " or "\x7f" <= c <= "\x9f" or "\ud800" <= c <= "\udfff" for c in t)
        ),
        ascii_only=st.booleans(),
    )
    def run(path: str, text: str, ascii_only: bool) -> None:
        snapshot = cart_snapshot(
            f"cart-{secrets.token_hex(6)}", at=datetime(2026, 3, 3, tzinfo=UTC)
        )
        if path.startswith("items[0]."):
            snapshot["items"][0][path.removeprefix("items[0].")] = "a" + text
        else:
            snapshot[path] = "a" + text
        body = to_json(snapshot, ascii_only=ascii_only)
        status = check(client, factory, shop, body, content_type="application/json")
        assert status == 400

    run()
