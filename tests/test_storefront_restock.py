"""The back-in-stock sign-up (`POST /storefront/<public_key>/restock`) and its parser: what is
kept (one canonical address of the chosen channel), what is refused with a 400 naming the field,
403 or 404, always storing nothing, and the same CORS and limits as cart snapshots."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select

from shoper_retention.errors import BadInput
from shoper_retention.ingest.storefront_restock import parse_restock
from shoper_retention.models import Consent, Contact, InboxDelivery, RestockSubscription
from tests.support import make_shop

SHOP_ORIGIN = "https://sklep.example"
NOW = datetime(2026, 3, 3, 8, 0, tzinfo=UTC)
PL = frozenset({"PL"})


def signup(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "product_id": "101",
        "variant_id": "7",
        "channel": "email",
        "contact": {"email": "Anna@Example.com"},
        "consent": {"text_version": "restock-2026-01"},
        "occurred_at": "2026-03-03T08:00:00Z",
    }
    for key, value in changes.items():
        if value is None:
            body.pop(key, None)
        else:
            body[key] = value
    return body


def _parse(body: dict[str, Any]):  # type: ignore[no-untyped-def]
    return parse_restock(json.dumps(body).encode(), NOW, "PL", PL)


def test_an_email_signup_keeps_the_canonical_address_and_nothing_else() -> None:
    event = _parse(signup(contact={"email": " Anna@Example.com ", "phone": "600100200"}))
    assert (event.product_id, event.variant_id, event.channel) == ("101", "7", "email")
    assert event.contact.email == "anna@example.com"
    assert event.contact.phone is None  # only the chosen channel's address
    assert event.text_version == "restock-2026-01"
    assert event.received_at == NOW


def test_an_sms_signup_keeps_the_number_in_e164() -> None:
    event = _parse(signup(channel="sms", contact={"phone": "600 100 200"}))
    assert event.contact.phone == "+48600100200"
    assert event.contact.email is None


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"product_id": None}, "product_id"),
        ({"product_id": ["101"]}, "product_id"),
        ({"product_id": "1" * 65}, "product_id"),
        ({"variant_id": {"id": 7}}, "variant_id"),
        ({"channel": None}, "channel"),
        ({"channel": "push"}, "channel"),
        ({"contact": None}, "contact"),
        ({"contact": "anna@example.com"}, "contact"),
        ({"contact": {"phone": "+48600100200"}}, "contact.email"),
        ({"contact": {"email": "Anna <anna@example.com>"}}, "contact.email"),
        ({"contact": {"email": "a@example.com, b@example.com"}}, "contact.email"),
        ({"channel": "sms", "contact": {"email": "anna@example.com"}}, "contact.phone"),
        ({"channel": "sms", "contact": {"phone": "12"}}, "contact.phone"),
        # A landline and a foreign mobile: numbers no SMS may ever go to.
        ({"channel": "sms", "contact": {"phone": "+48221234567"}}, "contact.phone"),
        ({"channel": "sms", "contact": {"phone": "+447700900123"}}, "contact.phone"),
        ({"consent": None}, "consent"),
        ({"consent": {}}, "consent.text_version"),
        ({"consent": {"text_version": "x" * 65}}, "consent.text_version"),
        ({"occurred_at": "yesterday"}, "occurred_at"),
        ({"type": "cart"}, "type"),
    ],
)
def test_a_bad_field_is_refused_naming_it(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(BadInput) as refused:
        _parse(signup(**changes))
    assert refused.value.field == field


def _stored(factory) -> tuple[int, ...]:  # type: ignore[no-untyped-def]
    with factory() as session:
        return tuple(
            session.scalar(select(func.count()).select_from(model)) or 0
            for model in (InboxDelivery, Contact, Consent, RestockSubscription)
        )


def _post(client, shop, body: bytes | dict[str, Any], **kw: Any):  # type: ignore[no-untyped-def]
    data = body if isinstance(body, bytes) else json.dumps(body)
    return client.post(
        f"/storefront/{shop.public_key}/restock",
        data=data,
        content_type="application/json",
        **kw,
    )


@pytest.fixture
def shop(factory, settings, clock):  # type: ignore[no-untyped-def]
    return make_shop(factory, settings, now=clock.now)


def test_a_valid_signup_is_accepted_stored_once_and_becomes_a_waiting_subscription(
    client, worker, factory, shop, clock
) -> None:
    assert _post(client, shop, signup()).status_code == 202
    assert _post(client, shop, signup()).status_code == 200  # the same bytes: a repeat
    worker.tick(clock.now)
    with factory() as session:
        (row,) = session.scalars(select(InboxDelivery))
        (subscription,) = session.scalars(select(RestockSubscription))
    assert (row.source, row.event_name, row.status) == ("storefront", "restock", "processed")
    assert (subscription.address, subscription.status) == ("anna@example.com", "waiting")
    assert (subscription.product_id, subscription.variant_id) == ("101", "7")


def test_a_repeat_signup_with_other_bytes_is_the_same_subscription(
    client, worker, factory, shop, clock
) -> None:
    assert _post(client, shop, signup()).status_code == 202
    assert _post(client, shop, signup(occurred_at="2026-03-03T08:05:00Z")).status_code == 202
    worker.tick(clock.now)
    with factory() as session:
        assert session.scalar(select(func.count()).select_from(RestockSubscription)) == 1


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not json",
        b"[1, 2]",
        b'{"product_id": "101", "product_id": "102"}',
        json.dumps(signup(channel="sms", contact={"phone": "+48221234567"})).encode(),
        json.dumps(signup(contact={"email": "anna@example.com\u0000"})).encode(),
        b'{"product_id": "\\ud800", "channel": "email"}',
        b"[" * 5000 + b"]" * 5000,
    ],
)
def test_forged_or_malformed_bodies_are_400_and_store_nothing(
    client, factory, shop, body: bytes
) -> None:
    before = _stored(factory)
    answer = _post(client, shop, body)
    assert answer.status_code == 400
    assert answer.get_json()["error"] in ("invalid", "too_large")
    assert _stored(factory) == before


def test_a_body_over_the_limit_is_400_and_stores_nothing(client, factory, settings, shop) -> None:
    padding = "x" * settings.max_storefront_body_bytes
    answer = _post(client, shop, signup(padding=padding))
    assert answer.status_code == 400
    assert _stored(factory) == (0, 0, 0, 0)


def test_another_origin_is_403_an_unknown_key_404_and_neither_stores_anything(
    client, factory, shop
) -> None:
    answer = _post(client, shop, signup(), headers={"Origin": "https://evil.example"})
    assert answer.status_code == 403
    assert "Access-Control-Allow-Origin" not in answer.headers
    unknown = client.post(
        "/storefront/no-such-key/restock", data=json.dumps(signup()), content_type="text/plain"
    )
    assert unknown.status_code == 404
    assert _stored(factory) == (0, 0, 0, 0)


def test_the_shops_origin_gets_cors_on_the_answer_and_the_preflight(client, shop) -> None:
    preflight = client.options(
        f"/storefront/{shop.public_key}/restock", headers={"Origin": SHOP_ORIGIN}
    )
    assert preflight.status_code == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == SHOP_ORIGIN
    refused = _post(client, shop, signup(channel="push"), headers={"Origin": SHOP_ORIGIN})
    assert refused.status_code == 400
    assert refused.get_json()["field"] == "channel"
    assert refused.headers["Access-Control-Allow-Origin"] == SHOP_ORIGIN


def test_signups_count_against_the_storefront_rate_limits(client, factory, settings, clock) -> None:
    app_settings = client.application.extensions["shoper_retention"].settings
    limit = int(app_settings.limit_storefront_per_shop.split("/")[0])
    shop = make_shop(factory, settings, now=clock.now)
    answers = [
        _post(client, shop, signup(contact={"email": f"a{i}@example.com"})).status_code
        for i in range(limit + 1)
    ]
    assert answers[-1] == 429
    assert set(answers) == {202, 429}
    with factory() as session:  # a refused sign-up is not stored
        stored = session.scalar(select(func.count()).select_from(InboxDelivery))
    assert stored == answers.count(202)
