"""`POST /shoper/webhooks/<shop_ref>` under generated input: bodies correctly signed (so they
reach parsing) under the manifest's events and random names, and bodies with forged, missing
or mangled headers, refs and Content-Lengths. Never a 5xx, always JSON, a delivery is stored
only with a valid signature and a known event, and the worker never crashes on one."""

from __future__ import annotations

import hashlib
import json
import secrets
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from shoper_retention.ingest.pipeline import process_pending
from shoper_retention.manifest import webhook_events
from shoper_retention.models import InboxDelivery
from tests.fuzz.hostile import (
    any_text,
    assert_json_answer,
    deep_bodies,
    header_text,
    json_bodies,
    json_values,
    mutated,
    row_counts,
    to_json,
)
from tests.support import WEBHOOK_ID, ShopHandle, make_shop, order_payload, webhook_headers

EVENTS = sorted(webhook_events("shoper"))
event_names = st.sampled_from(EVENTS) | header_text
ID_KEYS = ["order_id", "user_id", "subscriber_id", "client_id", "id"]


@st.composite
def platform_objects(draw: st.DrawFn) -> dict[str, Any]:
    """A Shoper order, or an object of junk, with an id field of junk (or a good one)."""
    base: dict[str, Any] = (
        order_payload(
            str(draw(st.integers(1, 10**6))),
            at=draw(
                st.datetimes(
                    min_value=datetime(2000, 1, 1),
                    max_value=datetime(2100, 1, 1),
                    timezones=st.just(UTC),
                )
            ),
        )
        if draw(st.booleans())
        else draw(st.dictionaries(any_text, json_values, max_size=5))
    )
    for key in draw(st.lists(st.sampled_from(ID_KEYS), max_size=2)):
        base[key] = draw(json_values | st.integers(1, 10**6))
    for key in draw(st.lists(st.sampled_from(sorted(base) or ["x"]), max_size=2)):
        base[key] = draw(json_values)
    return base


signed_bodies = st.one_of(
    st.binary(max_size=200),
    json_bodies(),
    deep_bodies,
    platform_objects().map(lambda o: to_json(o, ascii_only=True)),
    platform_objects().map(lambda o: to_json(o, ascii_only=False)),
)


@pytest.fixture
def shop(factory, settings, clock) -> ShopHandle:  # type: ignore[no-untyped-def]
    return make_shop(factory, settings, now=clock.now)


def deliver(client: Any, ref: str, body: bytes, headers: dict[str, str], **environ: str) -> Any:
    return client.post(
        f"/shoper/webhooks/{ref}", data=body, headers=headers, environ_overrides=environ
    )


def no_crash_in_ingest(factory: Any, platforms: Any, clock: Any) -> None:
    """Signed junk may fail in the worker (recorded on the row), never crash it."""
    process_pending(factory, clock.now, platforms=platforms)
    with factory() as session:
        rows = session.execute(
            select(InboxDelivery.id, InboxDelivery.status, InboxDelivery.error, InboxDelivery.body)
        ).all()
    crashed = [
        (r.id, r.error, r.body[:300])
        for r in rows
        if r.status == "pending" or (r.error or "").startswith("unexpected error")
    ]
    assert crashed == []


def test_signed_deliveries_of_any_body_and_event_never_500_and_store_only_when_accepted(
    client, factory, platforms, shop, clock
):  # type: ignore[no-untyped-def]
    @given(
        body=signed_bodies,
        event=event_names,
        damage=st.integers(0, 5),
        content_type=st.sampled_from(["application/json", "text/plain", "", "x/y"]),
        data=st.data(),
    )
    def run(body: bytes, event: str, damage: int, content_type: str, data: st.DataObject) -> None:
        if damage == 0:
            body = data.draw(mutated(body))
        headers = webhook_headers(shop, event, body)
        headers["Content-Type"] = content_type
        before = row_counts(factory, InboxDelivery)
        answer = deliver(client, shop.ref, body, headers)
        answer_data = assert_json_answer(answer)
        after = row_counts(factory, InboxDelivery)
        status = answer.status_code
        assert status != 401  # the signature is good
        if status == 202:
            assert answer_data == {"status": "accepted"}
            assert event in EVENTS and len(body) <= 256 * 1024
            assert after["InboxDelivery"] == before["InboxDelivery"] + 1
        else:
            assert after == before, (status, answer_data)
        if status == 200:
            assert answer_data == {"status": "duplicate"}
        if event not in EVENTS:
            assert status == 400
            assert answer_data["error"] == "too_large" or answer_data["field"] == "X-Webhook-Name"

    run()
    no_crash_in_ingest(factory, platforms, clock)


@st.composite
def forged_headers(draw: st.DrawFn, shop: ShopHandle, body: bytes) -> dict[str, str]:
    """Shoper's headers for `body` with the signature, id or secret replaced, dropped or
    mangled; sometimes extra junk headers."""
    event = draw(st.sampled_from(EVENTS))
    headers = webhook_headers(shop, event, body)
    how = draw(
        st.sampled_from(
            ["random-sha1", "other-secret", "other-id", "drop-sha1", "drop-id", "flip", "junk"]
        )
    )
    if how == "random-sha1":
        headers["X-Webhook-Sha1"] = draw(st.from_regex(r"[0-9a-fA-F]{0,41}", fullmatch=True))
    elif how == "other-secret":
        headers = webhook_headers(shop, event, body, secret=draw(any_text.filter(str.isascii)))
    elif how == "other-id":
        headers["X-Webhook-Id"] = draw(header_text.filter(lambda t: t != WEBHOOK_ID))
    elif how == "drop-sha1":
        del headers["X-Webhook-Sha1"]
    elif how == "drop-id":
        del headers["X-Webhook-Id"]
    elif how == "flip":
        sha1 = headers["X-Webhook-Sha1"]
        at = draw(st.integers(0, len(sha1) - 1))
        headers["X-Webhook-Sha1"] = sha1[:at] + ("0" if sha1[at] != "0" else "1") + sha1[at + 1 :]
    else:
        headers["X-Webhook-Sha1"] = draw(header_text)
    for _ in range(draw(st.integers(0, 2))):
        headers[draw(st.from_regex(r"X-[A-Za-z-]{1,12}", fullmatch=True))] = draw(header_text)
    return headers


def test_forged_or_missing_signatures_are_refused_and_store_nothing(
    client, factory, shop, settings
):  # type: ignore[no-untyped-def]
    @given(body=signed_bodies, data=st.data())
    def run(body: bytes, data: st.DataObject) -> None:
        headers = data.draw(forged_headers(shop, body))
        good = hashlib.sha1(f"{WEBHOOK_ID}:{shop.webhook_secret}:".encode() + body).hexdigest()
        forged = (
            headers.get("X-Webhook-Id") != WEBHOOK_ID
            or headers.get("X-Webhook-Sha1", "").strip().lower() != good
        )
        before = row_counts(factory, InboxDelivery)
        answer = deliver(client, shop.ref, body, headers)
        assert_json_answer(answer)
        if forged:
            # A body over the limit is refused before anything is hashed.
            too_large = len(body) > settings.max_body_bytes
            assert answer.status_code == (400 if too_large else 401), answer.get_json()
            assert row_counts(factory, InboxDelivery) == before

    run()


def test_unknown_refs_methods_and_bad_content_lengths_are_refused_and_store_nothing(
    client, factory, shop
):  # type: ignore[no-untyped-def]
    refs = st.one_of(
        st.just(shop.ref),
        st.text(
            st.characters(codec="ascii", exclude_characters="/?#%\x00"), min_size=1, max_size=30
        ),
        st.just(shop.ref.upper()),
        st.just(shop.ref + " "),
    )
    lengths = st.one_of(
        st.none(),
        st.sampled_from(["", "-1", "abc", "²", "1e3", " 10", "99999999999999999999", "0"]),
        st.integers(0, 10**7).map(str),
        header_text,
    )

    @given(
        ref=refs,
        method=st.sampled_from(["POST", "POST", "GET", "PUT", "DELETE", "PATCH", "HEAD"]),
        length=lengths,
        body=json_bodies(),
        event=st.sampled_from(EVENTS),
    )
    def run(ref: str, method: str, length: str | None, body: bytes, event: str) -> None:
        headers = webhook_headers(shop, event, body)
        environ = {} if length is None else {"CONTENT_LENGTH": length}
        before = row_counts(factory, InboxDelivery)
        answer = client.open(
            f"/shoper/webhooks/{ref}",
            method=method,
            data=body,
            headers=headers,
            environ_overrides=environ,
        )
        assert answer.status_code < 500, answer.get_data()[:300]
        if method != "HEAD":
            assert_json_answer(answer)
        if answer.status_code >= 300:
            assert row_counts(factory, InboxDelivery) == before
        else:
            assert method == "POST" and ref == shop.ref
        if ref != shop.ref and method == "POST":
            assert answer.status_code in (400, 404), answer.get_json()
        if method != "POST":
            # 405 on the route; a ref the client cannot put in a path ("\r") is no route: 404.
            assert answer.status_code in (404, 405)
            assert answer.status_code == 405 or ref.strip() != ref or not ref.strip()

    run()


def test_the_same_signed_delivery_twice_is_stored_once(client, factory, shop):  # type: ignore[no-untyped-def]
    @given(order=platform_objects(), event=st.sampled_from(EVENTS))
    def run(order: dict[str, Any], event: str) -> None:
        order["order_id"] = order["user_id"] = order["subscriber_id"] = secrets.token_hex(4)
        body = json.dumps(order).encode()
        first = deliver(client, shop.ref, body, webhook_headers(shop, event, body))
        again = deliver(client, shop.ref, body, webhook_headers(shop, event, body))
        assert_json_answer(first), assert_json_answer(again)
        if first.status_code == 202:
            assert again.status_code == 200 and again.get_json() == {"status": "duplicate"}
        else:
            assert again.status_code == first.status_code

    run()
