"""Birthdays and anniversaries end to end, through the HTTP contract (Shoper webhooks, the
storefront sign-up, the merchant's CSV page) and the worker's ticks; messages are read back
from the dev outbox.

(a) Born on 29 February: wished on 28 February at 10:00 in a common year, on 29 February
(once) in a leap year, with a unique code valid 7 days, shown in shop time.
(b) A birthday, two anniversaries and a cart reminder due at once keep the frequency cap.
(c) A merchant's CSV: rows rejected with their line and reason; the shop's dates cannot be
overwritten from the storefront."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import responses
from sqlalchemy import select

from shoper_retention.credentials import CredentialBox
from shoper_retention.links import Links
from shoper_retention.models import Contact
from tests.support import (
    cart_snapshot,
    make_shop,
    messages,
    order_payload,
    outbox_entries,
    post_cart,
    post_webhook,
)

PROMOTION_CODES = "https://sklep.example/webapi/rest/promotion-codes"
UNIQUE_CODE = re.compile(r"\bWRC[A-Z2-9]{8}\b")
FIELD = 7


def customer(
    email: str = "anna@example.com", *, born: str, date_add: str = "2020-01-10 12:00:00"
) -> dict[str, Any]:
    """A Shoper `users` row (samples/shoper/GET_users_page1.json) with the newsletter ticked."""
    return {
        "user_id": "5",
        "date_add": date_add,
        "additional_fields": [{"field_id": str(FIELD), "type": "1", "value": born}],
        "firstname": "Anna",
        "email": email,
        "newsletter": "1",
        "active": "1",
    }


@pytest.fixture
def shoper() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def warsaw(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    """A winter time in Warsaw (UTC+1) as UTC."""
    return datetime(year, month, day, hour - 1, minute, tzinfo=UTC)


def test_born_on_29_february_wished_on_28_february_in_a_common_year_and_29th_in_a_leap_one(
    client, worker, factory, settings, clock, shoper
):
    created = shoper.post(PROMOTION_CODES, json=321)
    box = CredentialBox(settings.secret_key)
    shop = make_shop(
        factory,
        settings,
        now=clock.now,
        cart_recovery=False,
        access_token_enc=box.seal("shop-access-token"),
        refresh_token_enc=box.seal("shop-refresh-token"),
        overrides={"scenarios": {"birthday": {"enabled": True, "shoper_field": FIELD}}},
    )
    clock.set(warsaw(2027, 2, 20, 12))
    assert (
        post_webhook(client, shop, "client.create", customer(born="1992-02-29")).status_code == 202
    )
    worker.tick(clock.now)

    assert worker.tick(clock.set(warsaw(2027, 2, 27, 10))).planned == 0
    assert worker.tick(clock.set(warsaw(2027, 2, 28, 9, 59))).dispatch.sent == 0
    assert worker.tick(clock.set(warsaw(2027, 2, 28, 10))).dispatch.sent == 1
    (email,) = outbox_entries(factory)
    code = UNIQUE_CODE.search(email.body_text)
    assert code is not None and created.call_count == 1
    # Valid 7 days from the send, in the shop's time (10:00 Warsaw, not 09:00 UTC).
    assert "Kod jest ważny do 7 marca 2027, 10:00." in email.body_text
    assert (
        email.subject == "Wszystkiego najlepszego z okazji urodzin! Prezent dla Ciebie: 10% rabatu"
    )

    for later in (warsaw(2027, 2, 28, 18), warsaw(2027, 3, 1, 10)):
        assert worker.tick(clock.set(later)).planned == 0
    assert worker.tick(clock.set(warsaw(2028, 2, 28, 10))).planned == 0  # a leap year: wait
    assert worker.tick(clock.set(warsaw(2028, 2, 29, 10))).dispatch.sent == 1
    assert worker.tick(clock.set(warsaw(2028, 2, 29, 15))).planned == 0
    assert worker.tick(clock.set(warsaw(2028, 3, 1, 10))).planned == 0
    assert [(m.run, m.status) for m in messages(factory)] == [(2027, "sent"), (2028, "sent")]
    assert len({UNIQUE_CODE.search(e.body_text).group() for e in outbox_entries(factory)}) == 2  # type: ignore[union-attr]


def test_a_birthday_two_anniversaries_and_a_cart_reminder_on_one_morning_keep_the_cap(
    client, worker, factory, settings, clock
):
    shop = make_shop(
        factory,
        settings,
        now=clock.now,
        overrides={
            "scenarios": {
                "birthday": {
                    "enabled": True,
                    "shoper_field": FIELD,
                    "coupon": {"mode": "static", "static_code": "URODZINY"},
                },
                "anniversaries": {"enabled": True},
            }
        },
    )
    # A customer since 15 June 2025, with a first order that day, born on 15 June.
    clock.set(datetime(2025, 6, 15, 10, 0, tzinfo=UTC))
    post_webhook(
        client, shop, "client.create", customer(born="15.06.1990", date_add="2025-06-15 11:00:00")
    )
    post_webhook(client, shop, "order.create", order_payload("1", at=clock.now))
    worker.tick(clock.advance(days=1))  # ingested the day after: no birthday planned then

    # A year later, at 09:00 Warsaw time (CEST), a cart: its first reminder is due at 10:00.
    clock.set(datetime(2026, 6, 15, 7, 0, tzinfo=UTC))
    snapshot = cart_snapshot(at=clock.now, phone=None, consent={"email": True})
    assert post_cart(client, shop, snapshot).status_code == 202
    worker.tick(clock.now)
    worker.tick(clock.advance(minutes=31))
    due = messages(factory)
    assert sorted((m.scenario, m.step, m.channel) for m in due) == [
        ("anniversaries", 1, "email"),
        ("anniversaries", 2, "email"),
        ("birthday", 1, "email"),
        ("cart_recovery", 1, "email"),
        ("cart_recovery", 2, "email"),
        ("cart_recovery", 3, "email"),
    ]

    report = worker.tick(clock.set(datetime(2026, 6, 15, 8, 0, tzinfo=UTC)))
    assert report.dispatch.sent == 2  # the default cap: 2 e-mails per contact in 24 h
    assert len(outbox_entries(factory)) == 2
    skipped = [m for m in messages(factory) if m.status == "skipped"]
    assert [m.reason for m in skipped] == ["frequency cap (2 email per 24 h)"] * 2
    assert worker.tick(clock.advance(hours=3)).dispatch.sent == 0
    assert len(outbox_entries(factory)) == 2


def test_a_merchants_csv_and_the_storefront_cannot_overwrite_the_shops_dates(
    client, worker, factory, settings, clock
):
    shop = make_shop(
        factory,
        settings,
        now=clock.now,
        cart_recovery=False,
        overrides={"scenarios": {"birthday": {"enabled": True, "shoper_field": FIELD}}},
    )
    token = Links(settings.secret_key, settings.public_url).settings_form_token(shop.id, clock.now)
    csv_text = (
        "email;phone;birthday\n"
        "ola@example.com;;1991-04-12\n"
        "nie-email;;12.04.1991\n"
        ";600 100 200;12-04\n"
        ";;01.01.1990\n"
        "ewa@example.com;600100300;29.02\n"
    )
    page = client.post(
        f"/shoper/app/birthdays?t={token}",
        data={"file": (io.BytesIO(csv_text.encode()), "urodziny.csv")},
        content_type="multipart/form-data",
    )
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Zapisane daty urodzin: 2." in html
    assert "<tr><td>3</td><td>nieprawidłowy adres e-mail</td></tr>" in html
    assert "<td>4</td><td>nieczytelna data urodzin" in html
    assert "<tr><td>5</td><td>brak e-maila i telefonu</td></tr>" in html

    # Ola's birthday came from the merchant's file; Anna's from the shop's customer field.
    assert (
        post_webhook(client, shop, "client.create", customer(born="15.06.1990")).status_code == 202
    )
    worker.tick(clock.now)
    for email in ("ola@example.com", "anna@example.com"):
        body = {"contact": {"email": email}, "birthday": {"month": 3, "day": 3}}
        reply = client.post(
            f"/storefront/{shop.public_key}/birthday",
            data=json.dumps(body),
            content_type="application/json",
        )
        assert reply.status_code == 202
    worker.tick(clock.now)
    with factory() as session:
        stored = {
            c.email: (c.birthday_md, c.birthday_source)
            for c in session.scalars(select(Contact).where(Contact.shop_id == shop.id))
        }
    assert stored == {
        "ola@example.com": (412, "import"),
        "ewa@example.com": (229, "import"),
        "anna@example.com": (615, "platform"),
    }
    assert worker.tick(clock.now + timedelta(hours=2)).planned == 0  # 3 March is nobody's day
