"""The links shoppers follow from our messages: `/c/<token>` (tracked redirect to the cart)
and `/u/<token>` (unsubscribe page and RFC 8058 one-click), taken from messages really sent."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from shoper_retention.links import Links
from shoper_retention.models import Cart, Consent, LinkClick, Suppression
from tests.support import (
    Clock,
    ShopHandle,
    abandon_cart,
    make_shop,
    messages,
    outbox_entries,
)

CLICK = re.compile(r"https://retention\.example(/c/[\w.\-]+)")
UNSUBSCRIBE = re.compile(r"https://retention\.example(/u/[\w.\-]+)")


def sms_sent(client: Any, worker: Any, shop: ShopHandle, clock: Clock, **snapshot: Any) -> datetime:
    """A cart abandoned and its step-1 SMS sent (to the dev outbox)."""
    start = abandon_cart(client, worker, shop, clock, **snapshot)
    assert worker.tick(clock.set(start + timedelta(hours=1))).dispatch.sent == 1
    return start


def link(pattern: re.Pattern[str], text: str) -> str:
    found = pattern.search(text)
    assert found is not None, text
    return found.group(1)


def cart_token(factory: sessionmaker[Session]) -> str:
    with factory() as session:
        return session.scalars(select(Cart.token)).one()


def count(factory: sessionmaker[Session], model: Any) -> int:
    with factory() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def statuses(factory: sessionmaker[Session]) -> dict[tuple[int, str], str]:
    return {(m.step, m.channel): m.status for m in messages(factory)}


# --- /c/<token> -----------------------------------------------------------------------------


def test_click_records_the_click_and_redirects_to_the_basket_with_the_cart_token(
    client, worker, factory, settings, clock
):
    shop = make_shop(factory, settings, now=clock.now)
    sms_sent(client, worker, shop, clock)
    path = link(CLICK, outbox_entries(factory)[0].body_text)
    first_click = clock.advance(minutes=5)

    answer = client.get(path)

    assert answer.status_code == 302
    assert (
        answer.headers["Location"] == f"https://sklep.example/basket?sr_cart={cart_token(factory)}"
    )
    (sms,) = [m for m in messages(factory) if m.status == "sent"]
    assert sms.clicked_at == first_click
    with factory() as session:
        click = session.scalars(select(LinkClick)).one()
    assert (click.shop_id, click.message_id, click.clicked_at) == (shop.id, sms.id, first_click)

    clock.advance(hours=2)
    assert client.get(path).status_code == 302

    assert count(factory, LinkClick) == 2  # every click is logged ...
    (sms,) = [m for m in messages(factory) if m.status == "sent"]
    assert sms.clicked_at == first_click  # ... but only the first one counts for attribution


def test_click_leads_to_the_snapshots_restore_url_on_the_shops_own_origin(
    client, worker, factory, settings, clock
):
    shop = make_shop(factory, settings, now=clock.now)
    restore = "https://sklep.example/koszyk/odtworz?k=abc123"
    sms_sent(client, worker, shop, clock, restore_url=restore)

    answer = client.get(link(CLICK, outbox_entries(factory)[0].body_text))

    assert answer.status_code == 302
    assert answer.headers["Location"] == restore


@pytest.mark.parametrize(
    "restore",
    [
        "https://evil.example/koszyk",
        "https://sklep.example.evil.example/koszyk",  # a look-alike host
        "https://sklep.example@evil.example/koszyk",  # user-info trick
        "http://sklep.example/koszyk",  # not the shop's scheme
    ],
)
def test_restore_url_on_another_origin_is_not_followed(
    client, worker, factory, settings, clock, restore: str
):
    shop = make_shop(factory, settings, now=clock.now)
    sms_sent(client, worker, shop, clock, restore_url=restore)

    answer = client.get(link(CLICK, outbox_entries(factory)[0].body_text))

    assert answer.status_code == 302
    assert (
        answer.headers["Location"] == f"https://sklep.example/basket?sr_cart={cart_token(factory)}"
    )


def test_forged_click_token_gets_an_html_404_and_records_nothing(
    client, worker, factory, settings, clock
):
    shop = make_shop(factory, settings, now=clock.now)
    sms_sent(client, worker, shop, clock)
    real = link(CLICK, outbox_entries(factory)[0].body_text)
    forged_signature = real[:-3] + ("aaa" if not real.endswith("aaa") else "bbb")
    other_key = Links("another-secret-key-0123456789", settings.public_url).click_url(1, "cart")
    unsubscribe_token = link(UNSUBSCRIBE, outbox_entries(factory)[0].body_text).removeprefix("/u/")

    for path in (
        forged_signature,
        other_key.removeprefix(settings.public_url),
        f"/c/{unsubscribe_token}",
    ):
        answer = client.get(path)
        assert answer.status_code == 404, path
        assert answer.content_type.startswith("text/html")
        assert "This link is not valid" in answer.get_data(as_text=True)

    assert count(factory, LinkClick) == 0
    assert all(m.clicked_at is None for m in messages(factory))


def test_signed_click_for_a_message_that_does_not_exist_gets_a_404(client, settings):
    path = Links(settings.secret_key, settings.public_url).click_url(424242, "cart")

    answer = client.get(path.removeprefix(settings.public_url))

    assert answer.status_code == 404
    assert answer.content_type.startswith("text/html")


# --- /u/<token> -----------------------------------------------------------------------------


def test_unsubscribe_page_asks_first_and_changes_nothing(client, worker, factory, settings, clock):
    shop = make_shop(factory, settings, now=clock.now)
    sms_sent(client, worker, shop, clock)
    path = link(UNSUBSCRIBE, outbox_entries(factory)[0].body_text)
    consents = count(factory, Consent)
    before = statuses(factory)

    page = client.get(path)

    assert page.status_code == 200
    body = page.get_data(as_text=True)
    assert '<form method="post"' in body and 'id="confirm"' in body
    assert "Tak, wypisz mnie" in body  # the shop's language
    assert count(factory, Suppression) == 0
    assert count(factory, Consent) == consents
    assert statuses(factory) == before


def test_unsubscribe_from_an_sms_stops_sms_everywhere_but_keeps_the_emails(
    client, worker, factory, settings, clock
):
    shop = make_shop(factory, settings, now=clock.now)
    start = sms_sent(client, worker, shop, clock)
    path = link(UNSUBSCRIBE, outbox_entries(factory)[0].body_text)
    when = clock.advance(minutes=20)

    answer = client.post(path, data={"confirm": "1"})

    assert answer.status_code == 200
    assert 'id="done"' in answer.get_data(as_text=True)
    with factory() as session:
        suppression = session.scalars(select(Suppression)).one()
        withdrawal = session.scalars(select(Consent).order_by(Consent.id.desc())).first()
    assert (suppression.shop_id, suppression.channel, suppression.address) == (
        shop.id,
        "sms",
        "+48600100200",
    )
    assert withdrawal is not None
    assert (withdrawal.channel, withdrawal.granted, withdrawal.recorded_at) == ("sms", False, when)
    assert statuses(factory) == {
        (1, "sms"): "sent",
        (2, "email"): "scheduled",
        (3, "email"): "scheduled",
        (3, "sms"): "cancelled",
    }
    (cancelled,) = [m for m in messages(factory) if m.status == "cancelled"]
    assert cancelled.reason == "unsubscribed"

    worker.tick(clock.set(start + timedelta(hours=24)))
    worker.tick(clock.set(start + timedelta(hours=72)))

    assert [e.channel for e in outbox_entries(factory)] == ["sms", "email", "email"]


def test_one_click_unsubscribe_from_the_email_header_works_without_cookies(
    client, worker, factory, settings, clock
):
    shop = make_shop(factory, settings, now=clock.now)
    start = sms_sent(client, worker, shop, clock)
    worker.tick(clock.set(start + timedelta(hours=24)))
    email = outbox_entries(factory)[-1]
    assert email.channel == "email"
    header = email.headers["List-Unsubscribe"]
    path = link(UNSUBSCRIBE, header)
    assert header == f"<https://retention.example{path}>"

    # What a mailbox provider sends (RFC 8058): a form body, no cookies, no page visit.
    answer = client.post(
        path, data="List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded"
    )

    assert answer.status_code == 200
    with factory() as session:
        suppression = session.scalars(select(Suppression)).one()
    assert (suppression.channel, suppression.address) == ("email", "anna@example.com")
    assert statuses(factory)[(3, "email")] == "cancelled"
    assert statuses(factory)[(3, "sms")] == "scheduled"


def test_repeated_unsubscribe_is_harmless(client, worker, factory, settings, clock):
    shop = make_shop(factory, settings, now=clock.now)
    sms_sent(client, worker, shop, clock)
    path = link(UNSUBSCRIBE, outbox_entries(factory)[0].body_text)
    assert client.post(path, data={"confirm": "1"}).status_code == 200
    consents = count(factory, Consent)
    after_first = statuses(factory)

    clock.advance(days=1)
    again = client.post(
        path, data="List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded"
    )

    assert again.status_code == 200
    assert count(factory, Suppression) == 1
    assert count(factory, Consent) == consents  # no second withdrawal on record
    assert statuses(factory) == after_first


def test_forged_unsubscribe_token_gets_an_html_404_and_suppresses_nothing(
    client, worker, factory, settings, clock
):
    shop = make_shop(factory, settings, now=clock.now)
    sms_sent(client, worker, shop, clock)
    click_token = link(CLICK, outbox_entries(factory)[0].body_text).removeprefix("/c/")
    other_key = Links("another-secret-key-0123456789", settings.public_url).unsubscribe_url(1)

    for path in (
        "/u/not-a-token",
        f"/u/{click_token}",
        other_key.removeprefix(settings.public_url),
    ):
        answer = client.post(path, data={"confirm": "1"})
        assert answer.status_code == 404, path
        assert answer.content_type.startswith("text/html")

    assert count(factory, Suppression) == 0
    assert "cancelled" not in statuses(factory).values()
