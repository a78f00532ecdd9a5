"""What a shopper meets after a real reminder went out: the unsubscribe page in Chromium (in the
shop's language, honoured at once) and the tracked link's redirect to the restored cart."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from shoper_retention.links import Links
from shoper_retention.models import Cart, LinkClick, Message, Suppression
from shoper_retention.worker import Worker
from tests.browser.conftest import LiveServer
from tests.support import Clock, cart_snapshot, make_shop, messages, outbox_entries, post_cart


def first_reminder(
    client: Any, worker: Worker, factory: Any, settings: Any, clock: Clock, **shop_kw: Any
) -> tuple[Any, Message]:
    """Install a shop, abandon a cart and let step 1 go out (as in tests/e2e)."""
    consent = shop_kw.pop("consent", None)
    shop = make_shop(factory, settings, now=clock.now, **shop_kw)
    start = clock.now
    snapshot = cart_snapshot(at=start, consent=consent)
    assert post_cart(client, shop, snapshot, confirmed=True).status_code == 202
    worker.tick(clock.now)
    worker.tick(clock.advance(minutes=31))
    assert worker.tick(clock.set(start + timedelta(hours=1))).dispatch.sent == 1
    (sent,) = [m for m in messages(factory, shop.id) if m.status == "sent"]
    return shop, sent


@pytest.mark.parametrize(
    ("language", "consent", "channel", "address", "asks", "button", "done"),
    [
        (
            "pl",
            None,
            "sms",
            "+48600100200",
            "Czy na pewno nie chcesz otrzymywać SMS-ów marketingowych od sklepu Sklep Testowy?",
            "Tak, wypisz mnie",
            "Wypisano",
        ),
        (
            "en",
            {"email": True, "sms": False},
            "email",
            "anna@example.com",
            "Stop receiving marketing e-mails from Sklep Testowy?",
            "Yes, unsubscribe me",
            "You are unsubscribed",
        ),
    ],
    ids=["polish-shop-sms", "english-shop-email"],
)
def test_unsubscribe_page_confirms_in_the_shops_language_and_suppresses_the_address(
    page: Page, live_server: LiveServer, client, worker, factory, settings, clock,
    language, consent, channel, address, asks, button, done,
):  # fmt: skip
    shop, sent = first_reminder(
        client, worker, factory, settings, clock, language=language, consent=consent
    )
    assert sent.channel == channel and sent.to_address == address
    # The link in the message is the one we open, only served from the live server.
    (entry,) = outbox_entries(factory)
    delivered_text = entry.body_text + entry.body_html
    assert (
        Links(settings.secret_key, settings.public_url).unsubscribe_url(sent.id) in delivered_text
    )
    url = Links(settings.secret_key, live_server.url).unsubscribe_url(sent.id)

    response = page.goto(url)
    assert response is not None and response.status == 200
    expect(page.locator("html")).to_have_attribute("lang", language)
    expect(page.locator("main p")).to_have_text(asks)
    confirm = page.locator("#confirm")
    expect(confirm).to_have_text(button)
    with factory() as session:  # opening the page (or a link scanner's GET) changes nothing
        assert session.scalars(select(Suppression)).all() == []

    confirm.click()
    expect(page.locator("#done")).to_have_text(done)
    with factory() as session:
        (suppressed,) = session.scalars(select(Suppression)).all()
        assert (suppressed.shop_id, suppressed.channel, suppressed.address) == (
            shop.id,
            channel,
            address,
        )
    # Honoured at once: what was still planned on that channel is cancelled, the rest stays.
    later = [m for m in messages(factory, shop.id) if m.id != sent.id]
    assert {m.status for m in later if m.channel == channel} == {"cancelled"}
    assert {m.status for m in later if m.channel != channel} <= {"scheduled"}


def test_confirming_twice_keeps_one_suppression_and_still_says_done(
    page: Page, live_server: LiveServer, client, worker, factory, settings, clock
):
    _shop, sent = first_reminder(client, worker, factory, settings, clock)
    url = Links(settings.secret_key, live_server.url).unsubscribe_url(sent.id)
    for _ in range(2):
        page.goto(url)
        page.locator("#confirm").click()
        expect(page.locator("#done")).to_have_text("Wypisano")
    with factory() as session:
        assert len(session.scalars(select(Suppression)).all()) == 1


def test_a_damaged_unsubscribe_link_shows_the_error_page(page: Page, live_server: LiveServer):
    response = page.goto(live_server.at("/u/not-a-real-token"))
    assert response is not None and response.status == 404
    expect(page.locator("h1")).to_have_text("This link is not valid")


def test_the_tracked_link_redirects_to_the_restored_cart_and_records_the_click(
    client, worker, factory, settings, clock
):
    shop, sent = first_reminder(client, worker, factory, settings, clock)
    (entry,) = outbox_entries(factory)
    link = Links(settings.secret_key, settings.public_url).click_url(sent.id, "cart")
    assert link in entry.body_text
    path = link.removeprefix(settings.public_url)
    with factory() as session:
        cart = session.scalars(select(Cart)).one()

    first_click = clock.advance(minutes=10)
    answer = client.get(path)
    assert answer.status_code == 302
    assert answer.headers["Location"] == f"{shop.shop_url}/basket?sr_cart={cart.token}"

    clock.advance(hours=2)
    assert client.get(path).headers["Location"] == answer.headers["Location"]
    with factory() as session:
        message = session.get(Message, sent.id)
        assert message is not None
        assert message.clicked_at == first_click  # the first click is the one attribution uses
        assert len(session.scalars(select(LinkClick)).all()) == 2


def test_a_damaged_tracked_link_is_a_404_page_not_a_redirect(client):
    answer = client.get("/c/not-a-real-token")
    assert answer.status_code == 404
    assert "Location" not in answer.headers
    assert "This link is not valid" in answer.get_data(as_text=True)


@pytest.mark.parametrize(
    ("language", "asks", "yes", "thanks"),
    [
        (
            "pl",
            "Czy chcesz otrzymywać SMS-y z ofertami od sklepu Sklep Testowy?",
            "Tak, potwierdzam",
            "Dziękujemy!",
        ),
        (
            "en",
            "Do you want to get offers from Sklep Testowy by text messages?",
            "Yes, I agree",
            "Thank you!",
        ),
    ],
    ids=["polish-shop", "english-shop"],
)
def test_the_confirmation_page_asks_first_and_confirms_on_the_click(
    page: Page, live_server: LiveServer, client, worker, factory, settings, clock,
    language, asks, yes, thanks,
):  # fmt: skip
    from shoper_retention.models import Consent

    shop = make_shop(factory, settings, now=clock.now, language=language)
    snapshot = cart_snapshot(at=clock.now, email=None, consent={"sms": True})
    assert post_cart(client, shop, snapshot).status_code == 202
    worker.tick(clock.now)
    (request,) = [m for m in messages(factory, shop.id) if m.scenario == "consent_confirmation"]
    (entry,) = outbox_entries(factory)
    assert Links(settings.secret_key, settings.public_url).confirmation_url(request.id) in (
        entry.body_text
    )

    def confirmed() -> list[str]:
        with factory() as session:
            return list(session.scalars(select(Consent.assurance).where(Consent.cart_id.is_(None))))

    response = page.goto(Links(settings.secret_key, live_server.url).confirmation_url(request.id))
    assert response is not None and response.status == 200
    expect(page.locator("html")).to_have_attribute("lang", language)
    expect(page.locator("main p")).to_have_text(asks)
    assert confirmed() == []  # opening the link (or a mail scanner fetching it) is not consent
    expect(page.locator("#yes")).to_have_text(yes)
    page.locator("#yes").click()
    expect(page.locator("#confirmed")).to_have_text(thanks)
    assert confirmed() == ["confirmed"]
