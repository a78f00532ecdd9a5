"""`POST /storefront/<public_key>/restock` under generated input: raw bytes, random JSON, deep
nesting, and near-valid sign-ups with fields replaced by junk, with odd Content-Types and
Origins. Never a 5xx, always the contract's JSON answer, nothing stored unless accepted, a
stored address only ever in its canonical form, and the worker ingests whatever was accepted."""

from __future__ import annotations

import json
import secrets
from typing import Any

import pytest
from hypothesis import event, given
from hypothesis import strategies as st
from sqlalchemy import select

from shoper_retention.contacts.emails import canonical_email
from shoper_retention.contacts.phones import sms_refusal
from shoper_retention.ingest.pipeline import process_pending
from shoper_retention.models import Consent, Contact, InboxDelivery, RestockSubscription
from tests.fuzz.hostile import (
    any_text,
    assert_json_answer,
    deep_bodies,
    header_text,
    is_standard_json,
    json_bodies,
    json_values,
    mutated,
    numbers,
    row_counts,
    to_json,
)
from tests.support import ShopHandle, make_shop

SHOP_ORIGIN = "https://sklep.example"
STORED = (InboxDelivery, Contact, Consent, RestockSubscription)

content_types = st.one_of(
    st.none(),
    st.sampled_from(["application/json", "text/plain;charset=UTF-8", "multipart/form-data"]),
    header_text,
)
origins = st.one_of(
    st.none(),
    st.just(SHOP_ORIGIN),
    st.sampled_from(["https://evil.example", "null", "http://sklep.example", ""]),
    header_text,
)
FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "type": any_text,
    "product_id": any_text | numbers | json_values,
    "variant_id": any_text | numbers | json_values,
    "channel": st.sampled_from(["email", "sms", "SMS", "push", ""]) | json_values,
    "contact": json_values,
    "consent": json_values,
    "occurred_at": any_text | numbers,
    "contact.email": st.emails().map(str) | any_text | st.emails().map(lambda e: f"{e}\x00"),
    "contact.phone": st.from_regex(r"\+?[0-9 ()\-]{0,20}", fullmatch=True) | any_text | numbers,
    "consent.text_version": any_text | numbers | json_values,
}


@st.composite
def near_valid_signups(draw: st.DrawFn) -> dict[str, Any]:
    channel = draw(st.sampled_from(["email", "sms"]))
    signup: dict[str, Any] = {
        "product_id": draw(st.sampled_from(["101", "7", 42])),
        "channel": channel,
        "contact": {"email": "anna@example.com"}
        if channel == "email"
        else {"phone": "600 100 200"},
        "consent": {"text_version": "restock-v1"},
    }
    for path in draw(st.lists(st.sampled_from(sorted(FIELDS)), max_size=2)):
        target, key = signup, path
        if "." in path:
            parent, key = path.split(".", 1)
            target = signup.get(parent)
        if not isinstance(target, dict):
            continue
        if draw(st.integers(0, 5)) == 0:
            target.pop(key, None)
        else:
            target[key] = draw(FIELDS[path])
    return signup


@pytest.fixture
def shop(factory, settings, clock) -> ShopHandle:  # type: ignore[no-untyped-def]
    return make_shop(factory, settings, now=clock.now)


def check(
    client: Any, factory: Any, shop: ShopHandle, body: bytes, **request: Any
) -> tuple[int, Any]:
    key = request.get("public_key", shop.public_key)
    origin = request.get("origin")
    headers = {} if origin is None else {"Origin": origin}
    if request.get("content_type") is not None:
        headers["Content-Type"] = request["content_type"]
    before = row_counts(factory, *STORED)
    answer = client.post(f"/storefront/{key}/restock", data=body, headers=headers)
    data = assert_json_answer(answer)
    after = row_counts(factory, *STORED)
    status = answer.status_code
    event(f"{status} {data.get('field') or data.get('error') or data.get('status')}")
    if status == 202:
        assert data == {"status": "accepted"}
        assert after["InboxDelivery"] == before["InboxDelivery"] + 1
    else:
        assert after == before, (status, data)
    if status < 300:
        assert not origin or origin.lower() == SHOP_ORIGIN
        assert key == shop.public_key
    return status, data


def ingest_and_check_addresses(factory: Any, platforms: Any, clock: Any) -> None:
    """What the edge accepted ingests cleanly, and every address kept is canonical (and a
    number one an SMS may go to)."""
    process_pending(factory, clock.now, platforms=platforms)
    with factory() as session:
        rows = session.scalars(select(InboxDelivery)).all()
        assert [(r.id, r.error) for r in rows if r.status != "processed"] == []
        for subscription in session.scalars(select(RestockSubscription)):
            if subscription.channel == "email":
                assert canonical_email(subscription.address) == subscription.address
            else:
                assert sms_refusal(subscription.address, {"PL"}) is None


def test_random_bodies_never_500_and_store_nothing_unless_accepted(
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
        status, _ = check(
            client, factory, shop, body, content_type=content_type, origin=origin, public_key=key
        )
        assert status != 202 or json.loads(body).get("product_id")

    run()
    ingest_and_check_addresses(factory, platforms, clock)


def test_near_valid_signups_are_accepted_or_refused_naming_a_field(
    client, factory, platforms, shop, clock
):  # type: ignore[no-untyped-def]
    @given(
        signup=near_valid_signups(),
        ascii_only=st.booleans(),
        origin=st.sampled_from([None, SHOP_ORIGIN]),
        damage=st.integers(0, 4),
        data=st.data(),
    )
    def run(
        signup: dict[str, Any], ascii_only: bool, origin: str | None, damage: int, data: Any
    ) -> None:
        body = to_json(signup, ascii_only=ascii_only)
        if damage == 0:
            body = data.draw(mutated(body))
        status, answer = check(
            client, factory, shop, body, origin=origin, content_type="text/plain"
        )
        assert status in (200, 202, 400), status
        if status == 400 and damage and is_standard_json(body):
            assert answer.get("field"), answer  # well-formed JSON: the field at fault is named

    run()
    ingest_and_check_addresses(factory, platforms, clock)
