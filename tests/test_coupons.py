"""Coupons in the last cart-recovery step: one unique code per cart run, created once at the
shop's Shoper REST API (faked with `responses`) and shared by the e-mail and the SMS; the
merchant's static code when the platform refuses; no coupon sentence when there is neither."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import responses
from sqlalchemy import select

from shoper_retention import shop_config
from shoper_retention.credentials import CredentialBox
from shoper_retention.models import Coupon, Shop
from tests.support import abandon_cart, cart_snapshot, make_shop, messages, outbox_entries

PROMOTION_CODES = "https://sklep.example/webapi/rest/promotion-codes"
CODE = re.compile(r"\bWRC[A-Z2-9]{8}\b")


@pytest.fixture
def shoper() -> Iterator[responses.RequestsMock]:
    """Shoper's REST API; any request the test did not expect fails the test."""
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock


def shop_with_api_access(factory: Any, settings: Any, clock: Any, static_code: str = "") -> Any:
    """A Shoper shop with an access token; make_shop sets its expiry ten years ahead, so no
    token refresh is attempted."""
    box = CredentialBox(settings.secret_key)
    return make_shop(
        factory,
        settings,
        now=clock.now,
        access_token_enc=box.seal("shop-access-token"),
        refresh_token_enc=box.seal("shop-refresh-token"),
        overrides={"scenarios": {"cart_recovery": {"coupon": {"static_code": static_code}}}},
    )


def run_to_step_three(
    client: Any, worker: Any, factory: Any, shop: Any, clock: Any
) -> tuple[Any, Any]:
    """Abandon a cart and tick through all three steps; returns step 3's e-mail and SMS."""
    start = abandon_cart(client, worker, shop, clock)
    for hours in (1, 24):
        worker.tick(clock.set(start + timedelta(hours=hours)))
    assert worker.tick(clock.set(start + timedelta(hours=72))).dispatch.sent == 2
    email, sms = outbox_entries(factory)[-2:]
    assert (email.channel, sms.channel) == ("email", "sms")
    return email, sms


def test_step_three_email_and_sms_share_one_unique_code_created_once_at_shoper(
    client, worker, factory, settings, clock, shoper
):
    created = shoper.post(PROMOTION_CODES, json=321)
    shop = shop_with_api_access(factory, settings, clock)

    email, sms = run_to_step_three(client, worker, factory, shop, clock)

    assert created.call_count == 1
    request = created.calls[0].request
    body = json.loads(request.body)
    assert request.headers["Authorization"] == "Bearer shop-access-token"
    code = body["code"]
    assert CODE.fullmatch(code)
    assert CODE.findall(email.body_text) == [code]
    assert code in email.body_html
    assert CODE.findall(sms.body_text) == [code]
    assert email.subject.startswith("10% rabatu na Twój koszyk")
    assert body["discount"] == 10.0
    assert body["usage_limit"] == 1
    # Sent at 09:00 Warsaw on 6 March; valid 48 h, written in the shop's own wall-clock time.
    assert body["time_from"] == "2026-03-06 09:00:00"
    assert body["time_to"] == "2026-03-08 09:00:00"
    assert "Kod jest ważny do 8 marca 2026, 09:00." in email.body_text
    with factory() as session:
        coupon = session.scalars(select(Coupon)).one()
    assert (coupon.kind, coupon.code, coupon.platform_id) == ("unique", code, "321")
    assert coupon.valid_until == clock.now + timedelta(hours=48)
    step3 = [m for m in messages(factory) if m.step == 3]
    assert [m.coupon_id for m in step3] == [coupon.id, coupon.id]


def test_each_cart_gets_its_own_code(client, worker, factory, settings, clock, shoper):
    created = shoper.post(PROMOTION_CODES, json=321)
    shop = shop_with_api_access(factory, settings, clock)
    start = abandon_cart(
        client,
        worker,
        shop,
        clock,
        cart_snapshot("cart-1", at=clock.now),
        cart_snapshot("cart-2", at=clock.now, email="b@example.com", phone="+48600100300"),
    )

    for hours in (1, 24, 72):
        worker.tick(clock.set(start + timedelta(hours=hours)))

    assert created.call_count == 2
    codes = {json.loads(call.request.body)["code"] for call in created.calls}
    assert len(codes) == 2
    step3 = [e for e in outbox_entries(factory) if CODE.search(e.body_text)]
    assert len(step3) == 4  # e-mail and SMS for each cart
    by_contact: dict[str, set[str]] = {}
    for message in (m for m in messages(factory) if m.step == 3):
        entry = next(e for e in step3 if e.message_id == message.id)
        by_contact.setdefault(str(message.contact_id), set()).update(CODE.findall(entry.body_text))
    assert sorted(len(found) for found in by_contact.values()) == [1, 1]  # one code per cart
    assert set().union(*by_contact.values()) == codes


def test_platform_refusal_falls_back_to_the_static_code(
    client, worker, factory, settings, clock, shoper
):
    refused = shoper.post(PROMOTION_CODES, status=403, json={"error": "insufficient_scope"})
    shop = shop_with_api_access(factory, settings, clock, static_code="STALY10")

    email, sms = run_to_step_three(client, worker, factory, shop, clock)

    assert refused.call_count == 1  # the SMS reused the outcome, it did not ask again
    assert "Kod: STALY10" in email.body_text
    assert "STALY10" in sms.body_text
    assert CODE.search(email.body_text + sms.body_text) is None
    assert "ważny do" not in email.body_text  # a static code has no end date of ours
    with factory() as session:
        coupon = session.scalars(select(Coupon)).one()
    assert (coupon.kind, coupon.code, coupon.valid_until) == ("static", "STALY10", None)


def test_without_a_static_code_a_refusal_leaves_the_coupon_out_of_the_texts(
    client, worker, factory, settings, clock, shoper
):
    refused = shoper.post(PROMOTION_CODES, status=403, json={"error": "insufficient_scope"})
    shop = shop_with_api_access(factory, settings, clock)

    email, sms = run_to_step_three(client, worker, factory, shop, clock)

    assert refused.call_count == 1
    assert email.subject == "Twój koszyk wciąż czeka – ostatnie przypomnienie"
    assert "To ostatnie przypomnienie" in email.body_text
    for text in (email.body_text, email.body_html, sms.body_text):
        assert "rabat" not in text and "10%" not in text and "Kod" not in text
    assert sms.body_text.startswith("Sklep Testowy: Twoj koszyk wciaz czeka.")
    assert "kod" not in sms.body_text
    assert all(m.coupon_id is None for m in messages(factory) if m.step == 3)


def test_coupon_mode_none_never_calls_the_platform(
    client, worker, factory, settings, clock, shoper
):
    shop = shop_with_api_access(factory, settings, clock)
    with factory() as session, session.begin():
        row = session.get(Shop, shop.id)
        assert row is not None
        shop_config.update(row, {"scenarios": {"cart_recovery": {"coupon": {"mode": "none"}}}})

    email, sms = run_to_step_three(client, worker, factory, shop, clock)

    assert [c for c in shoper.calls if "promotion-codes" in c.request.url] == []
    assert email.subject == "Twój koszyk wciąż czeka – ostatnie przypomnienie"
    assert CODE.search(email.body_text + sms.body_text) is None
