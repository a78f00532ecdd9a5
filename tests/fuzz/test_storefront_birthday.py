"""`POST /storefront/<public_key>/birthday` under generated input: raw bytes, random JSON, deep
nesting, and near-valid sign-ups with a field replaced by junk. Never a 5xx, always the JSON
answer of the contract, nothing stored unless accepted; whatever was accepted is ingested by
the worker without a failure, and a sign-up never changes a birthday the shop's records gave."""

from __future__ import annotations

import copy
import secrets
from typing import Any

import pytest
from hypothesis import event, given
from hypothesis import strategies as st
from sqlalchemy import select

from shoper_retention.ingest.pipeline import process_pending
from shoper_retention.models import Contact, InboxDelivery
from tests.fuzz.hostile import (
    any_text,
    assert_json_answer,
    deep_bodies,
    json_bodies,
    json_values,
    mutated,
    numbers,
    row_counts,
    to_json,
)
from tests.support import ShopHandle, make_shop

SHOP_ORIGIN = "https://sklep.example"
VALID = {
    "type": "birthday",
    "contact": {"email": "anna@example.com", "phone": "+48 600 100 200"},
    "birthday": {"month": 2, "day": 29},
    "consent": {"email": True},
    "consent_text_version": "urodziny-2026",
}
FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "type": any_text,
    "contact": json_values,
    "birthday": json_values,
    "consent": json_values,
    "consent_text_version": any_text | numbers,
    "contact.email": st.emails().map(str) | any_text,
    "contact.phone": st.from_regex(r"\+?[0-9 ()\-]{0,20}", fullmatch=True) | any_text | numbers,
    "birthday.month": numbers
    | any_text
    | st.integers(-3, 15)
    | st.sampled_from(["02", " 2", "²", "٣", "12.0"]),
    "birthday.day": numbers | any_text | st.integers(-3, 40),
    "consent.email": json_values,
    "consent.sms": json_values,
}


@st.composite
def near_valid_signups(draw: st.DrawFn) -> dict[str, Any]:
    signup = copy.deepcopy(VALID)
    signup["contact"]["email"] = f"p{secrets.token_hex(4)}@example.com"
    for path in draw(st.lists(st.sampled_from(sorted(FIELDS)), min_size=0, max_size=2)):
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
    handle = make_shop(factory, settings, now=clock.now)
    with factory() as session, session.begin():
        session.add(
            Contact(
                shop_id=handle.id,
                email="anna@example.com",
                birthday_md=615,
                birthday_source="platform",
                created_at=clock.now,
                updated_at=clock.now,
            )
        )
    return handle


def check(
    client: Any, factory: Any, shop: ShopHandle, body: bytes, origin: str | None, key: str
) -> int:
    headers = {"Content-Type": "application/json"}
    if origin:
        headers["Origin"] = origin
    before = row_counts(factory, InboxDelivery, Contact)
    answer = client.post(f"/storefront/{key}/birthday", data=body, headers=headers)
    data = assert_json_answer(answer)
    after = row_counts(factory, InboxDelivery, Contact)
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
    return status


def ingest_and_check_the_shops_birthday_held(
    factory: Any, platforms: Any, clock: Any, shop: ShopHandle
) -> None:
    process_pending(factory, clock.now, platforms=platforms)
    with factory() as session:
        rows = session.execute(
            select(InboxDelivery.id, InboxDelivery.status, InboxDelivery.error)
        ).all()
        anna = session.scalars(
            select(Contact).where(Contact.shop_id == shop.id, Contact.email == "anna@example.com")
        ).one()
        birthdays = session.scalars(select(Contact.birthday_md)).all()
    assert [r for r in rows if r.status != "processed"] == []
    assert (anna.birthday_md, anna.birthday_source) == (615, "platform")
    assert all(md is None or 101 <= md <= 1231 and 1 <= md % 100 <= 31 for md in birthdays)


def test_random_bodies_never_500_and_store_nothing_unless_accepted(
    client, factory, platforms, shop, clock
):  # type: ignore[no-untyped-def]
    @given(
        body=st.one_of(st.binary(max_size=300), json_bodies(), deep_bodies),
        origin=st.sampled_from([None, SHOP_ORIGIN, "https://evil.example"]),
        unknown_key=st.booleans(),
    )
    def run(body: bytes, origin: str | None, unknown_key: bool) -> None:
        key = secrets.token_urlsafe(12) if unknown_key else shop.public_key
        check(client, factory, shop, body, origin, key)

    run()
    ingest_and_check_the_shops_birthday_held(factory, platforms, clock, shop)


def test_near_valid_sign_ups_are_accepted_or_refused_and_never_beat_the_shops_record(
    client, factory, platforms, shop, clock
):  # type: ignore[no-untyped-def]
    @given(
        signup=near_valid_signups(),
        aim_at_anna=st.booleans(),
        damage=st.integers(0, 4),
        data=st.data(),
    )
    def run(signup: dict[str, Any], aim_at_anna: bool, damage: int, data: st.DataObject) -> None:
        if aim_at_anna and isinstance(signup.get("contact"), dict):
            signup["contact"]["email"] = "anna@example.com"
        body = to_json(signup, ascii_only=False)
        if damage == 0:
            body = data.draw(mutated(body))
        check(client, factory, shop, body, SHOP_ORIGIN, shop.public_key)

    run()
    ingest_and_check_the_shops_birthday_held(factory, platforms, clock, shop)
