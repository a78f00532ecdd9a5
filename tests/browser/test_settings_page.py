"""The merchant's settings page, as the Shoper admin opens it in its iframe, driven in Chromium;
plus the server-side rules of its form token (forged, expired, another shop's), which no browser
would exercise."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from shoper_retention import shop_config
from shoper_retention.credentials import CredentialBox
from shoper_retention.links import Links
from shoper_retention.models import ChannelPause, Shop
from shoper_retention.scenarios import cart_recovery
from shoper_retention.settings import Settings
from shoper_retention.worker import Worker
from tests.browser.conftest import LiveServer
from tests.conftest import SECRET
from tests.fakes.smsapi_server import FakeSmsapi
from tests.support import Clock, abandon_cart, make_shop, messages, settings_form_fields

LICENCE = "0f" * 20
OTHER_LICENCE = "ab" * 20
APPSTORE_SECRET = "appstore-secret"  # the `settings` fixture's shoper_appstore_secret


def iframe_path(licence: str, *, secret: str = APPSTORE_SECRET, **replace: str) -> str:
    """`/shoper/app?...` as the admin builds it: HMAC-SHA512 over place, shop and timestamp,
    computed here independently of the code under test."""
    params = {"place": "app", "shop": licence, "timestamp": "2026-03-03 09:00:00"}
    signed = f"place={params['place']}&shop={params['shop']}&timestamp={params['timestamp']}"
    params["hash"] = hmac.new(secret.encode(), signed.encode(), hashlib.sha512).hexdigest()
    params["locale"] = "pl_PL"
    params.update(replace)
    return "/shoper/app?" + urlencode(params)


def open_settings(page: Page, live_server: LiveServer, licence: str = LICENCE) -> None:
    response = page.goto(live_server.at(iframe_path(licence)))
    assert response is not None and response.status == 200


def stored_shop(factory: sessionmaker[Session], shop_id: int) -> Shop:
    with factory() as session:
        shop = session.get(Shop, shop_id)
        assert shop is not None
        return shop


def abandon_and_send_step_one(client: Any, worker: Worker, shop: Any, clock: Clock) -> None:
    """The cart story of tests/e2e up to the first reminder (an SMS at +1 h)."""
    start = abandon_cart(client, worker, shop, clock)
    worker.tick(clock.set(start + timedelta(hours=1)))


# --- in the browser ------------------------------------------------------------------------


def test_a_valid_iframe_hash_opens_the_page_with_the_shops_current_settings(
    page: Page, live_server: LiveServer, factory, settings, clock
):
    make_shop(factory, settings, now=clock.now, licence=LICENCE, name="Sklep Testowy")
    open_settings(page, live_server)

    expect(page.locator("h1")).to_have_text("Retention for Sklep Testowy")
    expect(page.locator("#cart_recovery__enabled")).to_be_checked()
    for step, hours in ((1, "1"), (2, "24"), (3, "72")):
        expect(page.locator(f"#step{step}_hours")).to_have_value(hours)
    token = page.locator("#smsapi_token")
    expect(token).to_have_attribute("type", "password")
    expect(token).to_have_value("")
    expect(page.locator("#sms_sender")).to_have_value("")
    expect(page.locator("#mail_from")).to_have_value("")
    expect(page.locator("#mail_from")).to_have_attribute("placeholder", "owner@sklep.example")
    for field, value in (
        ("sms_from", "09:00"),
        ("sms_until", "20:00"),
        ("email_from", "08:00"),
        ("email_until", "21:00"),
    ):
        expect(page.locator(f"#{field}")).to_have_value(value)
    # Nothing has run yet, and nothing can be delivered without a provider: both are said.
    expect(page.locator("#worker-warning")).to_be_visible()
    expect(page.locator("#dev-outbox")).to_contain_text("messages go to the dev outbox")
    expect(page.locator("#messages tbody")).to_have_text("No messages yet.")


def test_saved_changes_show_a_notice_and_persist_after_reload_and_in_the_database(
    page: Page, live_server: LiveServer, factory, settings, clock
):
    shop = make_shop(factory, settings, now=clock.now, licence=LICENCE)
    open_settings(page, live_server)

    page.locator("#cart_recovery__enabled").uncheck()
    page.locator("#cart_recovery__step2_hours").fill("20")
    page.locator("#sms_sender").fill("MojSklep")
    page.locator("#save").click()

    expect(page.locator("#saved")).to_have_text("Settings saved.")
    for opened in ("after the save", "reloaded", "opened again from the admin"):
        if opened == "reloaded":
            page.reload()
        elif opened == "opened again from the admin":
            open_settings(page, live_server)
        expect(page.locator("#cart_recovery__enabled"), opened).not_to_be_checked()
        expect(page.locator("#cart_recovery__step1_hours"), opened).to_have_value("1")
        expect(page.locator("#cart_recovery__step2_hours"), opened).to_have_value("20")
        expect(page.locator("#cart_recovery__step3_hours"), opened).to_have_value("72")
        expect(page.locator("#sms_sender"), opened).to_have_value("MojSklep")

    stored = stored_shop(factory, shop.id)
    config = cart_recovery.read_config(stored)
    assert config.enabled is False
    assert [s.delay for s in config.steps] == [timedelta(hours=h) for h in (1, 20, 72)]
    assert [s.channel for s in config.steps] == ["auto", "email", "both"]
    assert shop_config.sms_sender(stored) == "MojSklep"


def test_a_forged_hash_gets_403_and_shows_nothing_of_the_shop(
    page: Page, live_server: LiveServer, factory, settings, clock
):
    make_shop(factory, settings, now=clock.now, licence=LICENCE, name="Sklep Testowy")
    response = page.goto(live_server.at(iframe_path(LICENCE, secret="not-the-appstore-secret")))
    assert response is not None and response.status == 403
    assert "Sklep Testowy" not in page.content()


@pytest.mark.parametrize(
    "replace",
    [
        {"hash": "00" * 64},
        {"hash": ""},
        {"shop": OTHER_LICENCE},  # a valid hash for one licence, replayed for another
        {"place": "order"},
        {"timestamp": "2026-03-04 09:00:00"},
    ],
    ids=["zero-hash", "no-hash", "other-licence", "other-place", "other-timestamp"],
)
def test_an_iframe_url_whose_signed_fields_were_changed_is_refused(
    client, factory, settings, clock, replace
):
    make_shop(factory, settings, now=clock.now, licence=LICENCE)
    make_shop(factory, settings, now=clock.now, licence=OTHER_LICENCE)
    assert client.get(iframe_path(LICENCE)).status_code == 200
    answer = client.get(iframe_path(LICENCE, **replace))
    assert answer.status_code == 403
    assert answer.json["error"] == "forbidden"


def test_an_invalid_value_shows_the_error_naming_the_field_and_changes_nothing(
    page: Page, live_server: LiveServer, factory, settings, clock
):
    shop = make_shop(factory, settings, now=clock.now, licence=LICENCE)
    before = stored_shop(factory, shop.id).settings
    open_settings(page, live_server)

    page.locator("#cart_recovery__step2_hours").fill("20")
    # The input's maxlength stops a typist at 11 characters; a scripted or old client is not
    # stopped, so the server must refuse it on its own.
    page.locator("#sms_sender").evaluate("(el, v) => { el.value = v; }", "this is far too long")
    page.locator("#save").click()

    error = page.locator("#error")
    expect(error).to_contain_text("Sender name")
    expect(error).to_contain_text("at most 11 letters")
    expect(page.locator("#saved")).to_have_count(0)
    # The form keeps what was typed so the merchant can correct it, and marks the field.
    expect(page.locator("#sms_sender")).to_have_value("this is far too long")
    expect(page.locator("#sms_sender")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#cart_recovery__step2_hours")).to_have_value("20")

    assert stored_shop(factory, shop.id).settings == before
    open_settings(page, live_server)
    expect(page.locator("#cart_recovery__step2_hours")).to_have_value("24")
    expect(page.locator("#sms_sender")).to_have_value("")


def test_the_smsapi_token_is_stored_encrypted_and_never_rendered_back(
    page: Page, live_server: LiveServer, factory, settings, clock
):
    plain = "smsapi-oauth-token-0123456789"
    shop = make_shop(factory, settings, now=clock.now, licence=LICENCE)
    open_settings(page, live_server)

    page.locator("#smsapi_token").fill(plain)
    page.locator("#save").click()
    expect(page.locator("#saved")).to_be_visible()

    sealed = stored_shop(factory, shop.id).smsapi_token_enc
    assert sealed and sealed != plain and plain not in sealed
    assert CredentialBox(settings.secret_key).open(sealed) == plain
    assert plain not in page.content()
    expect(page.locator("#smsapi_token")).to_have_value("")
    expect(page.locator("label[for=smsapi_token]")).to_contain_text(
        "stored; leave empty to keep it"
    )
    # SMS now has a provider; e-mail still has none, and the page says exactly that.
    expect(page.locator("#dev-outbox")).to_have_text(
        "No SMTP server is configured: e-mails go to the dev outbox and are not delivered."
    )

    # Saving other changes with the field left empty keeps the stored token.
    page.locator("#sms_sender").fill("MojSklep")
    page.locator("#save").click()
    expect(page.locator("#saved")).to_be_visible()
    assert (
        CredentialBox(settings.secret_key).open(stored_shop(factory, shop.id).smsapi_token_enc)
        == plain
    )
    assert plain not in page.content()


def test_the_last_messages_table_lists_a_sent_message_with_its_status_in_shop_time(
    page: Page, live_server: LiveServer, client, worker, factory, settings, clock
):
    shop = make_shop(factory, settings, now=clock.now, licence=LICENCE)
    abandon_and_send_step_one(client, worker, shop, clock)
    sms = next(m for m in messages(factory, shop.id) if m.step == 1)
    assert sms.status == "sent"

    open_settings(page, live_server)
    row = page.locator(f"#messages tr.message[data-id='{sms.id}']")
    expect(row).to_have_attribute("data-status", "sent")
    cells = row.locator("td")
    expect(cells.nth(0)).to_have_text("2026-03-03 10:00")  # sent 09:00 UTC = 10:00 in Warsaw
    expect(cells.nth(1)).to_have_text("cart recovery")
    expect(cells.nth(2)).to_have_text("1")
    expect(cells.nth(3)).to_have_text("SMS")
    expect(cells.nth(4)).to_have_text("+48600100200")
    expect(cells.nth(5)).to_contain_text("sent")
    # The three later steps are listed as still scheduled; the worker has run, so no warning.
    expect(page.locator("#messages tr.message[data-status=scheduled]")).to_have_count(3)
    expect(page.locator("#worker-warning")).to_have_count(0)


def test_a_paused_channel_shows_the_notice_until_the_merchant_fixes_the_token(
    page: Page, live_server: LiveServer, client, factory, settings: Settings, clock
):
    box = CredentialBox(settings.secret_key)
    shop = make_shop(
        factory, settings, now=clock.now, licence=LICENCE, smsapi_token_enc=box.seal("wrong-token")
    )
    with FakeSmsapi(access_token="right-token") as smsapi:
        worker = Worker(settings.with_(smsapi_url=smsapi.url), factory, name="test-worker")
        abandon_and_send_step_one(client, worker, shop, clock)  # SMSAPI answers 401
        with factory() as session:
            pause = session.get(ChannelPause, (shop.id, "sms"))
            assert pause is not None

        open_settings(page, live_server)
        notice = page.locator(".pause[data-channel=sms]")
        expect(notice).to_contain_text("SMS sending is paused")
        expect(notice).to_contain_text(pause.reason)

        page.locator("#smsapi_token").fill("right-token")
        page.locator("#save").click()
        expect(page.locator("#saved")).to_be_visible()
        expect(page.locator(".pause")).to_have_count(0)
        with factory() as session:
            assert session.scalars(select(ChannelPause)).all() == []

        # The waiting SMS goes out on the next pass, with the new token.
        assert worker.tick(clock.advance(minutes=1)).dispatch.sent == 1
        assert smsapi.requests[-1].headers["authorization"] == "Bearer right-token"
        assert len(smsapi.sent) == 1


# --- the form token, server-side -----------------------------------------------------------


def form_token(client: Any, licence: str = LICENCE) -> str:
    """The signed token the page puts in its form, read the way a browser gets it."""
    page = client.get(iframe_path(licence))
    assert page.status_code == 200
    match = re.search(r'name="t" value="([^"]+)"', page.get_data(as_text=True))
    assert match
    return match.group(1)


def submitted_form(token: str | None, **changes: str) -> dict[str, str]:
    """A form with changes a test can see stored (step 2 at 20 h, sender "Hacked")."""
    return settings_form_fields(
        token, **{"cart_recovery__step2_hours": "20", "sms_sender": "Hacked", **changes}
    )


def old_token(shop_id: int, signed_at: datetime) -> str:
    """A form token signed as the server signs it, at `signed_at`."""
    return Links(SECRET, "https://retention.example").settings_form_token(shop_id, signed_at)


def test_a_save_with_a_fresh_form_token_is_stored(client, factory, settings, clock):
    shop = make_shop(factory, settings, now=clock.now, licence=LICENCE)
    answer = client.post("/shoper/app/settings", data=submitted_form(form_token(client)))
    assert answer.status_code == 303
    assert "saved=1" in answer.headers["Location"]
    assert shop_config.sms_sender(stored_shop(factory, shop.id)) == "Hacked"


@pytest.mark.parametrize(
    "token",
    [None, "", "not-a-token", "forged"],
    ids=["no-token", "empty-token", "garbage-token", "token-signed-with-another-key"],
)
def test_a_save_without_a_valid_form_token_is_refused_and_changes_nothing(
    client, factory, settings, clock, token
):
    shop = make_shop(factory, settings, now=clock.now, licence=LICENCE)
    if token == "forged":
        token = Links("another-secret-key-0123456789", "https://x.example").settings_form_token(
            shop.id, clock.now
        )
    answer = client.post("/shoper/app/settings", data=submitted_form(token))
    assert answer.status_code == 403
    assert stored_shop(factory, shop.id).settings == {
        "scenarios": {"cart_recovery": {"enabled": True}}
    }


def test_the_iframe_hash_opens_the_page_but_cannot_save_it(client, factory, settings, clock):
    """The iframe URL never expires and lands in browser history: it is no CSRF token."""
    shop = make_shop(factory, settings, now=clock.now, licence=LICENCE)
    query = iframe_path(LICENCE).split("?", 1)[1]
    answer = client.post(f"/shoper/app/settings?{query}", data=submitted_form(None))
    assert answer.status_code == 403
    assert shop_config.sms_sender(stored_shop(factory, shop.id)) == ""


def test_an_expired_form_token_is_refused(client, factory, settings, clock):
    shop = make_shop(factory, settings, now=clock.now, licence=LICENCE)
    an_hour_ago = old_token(shop.id, clock.now - timedelta(hours=1))
    fresh = client.post("/shoper/app/settings", data=submitted_form(an_hour_ago))
    assert fresh.status_code == 303  # an hour-old page still saves
    expired = old_token(shop.id, clock.now - timedelta(hours=3))
    answer = client.post("/shoper/app/settings", data=submitted_form(expired, sms_sender="Later"))
    assert answer.status_code == 403
    assert "expired" in answer.json["message"]
    assert shop_config.sms_sender(stored_shop(factory, shop.id)) == "Hacked"
    assert client.get(f"/shoper/app?t={expired}").status_code == 403


def test_a_form_token_is_bound_to_its_shop(client, factory, settings, clock):
    mine = make_shop(factory, settings, now=clock.now, licence=LICENCE)
    other = make_shop(factory, settings, now=clock.now, licence=OTHER_LICENCE)
    token = form_token(client, LICENCE)

    # Editing the shop id inside the token breaks its signature.
    payload, signature = token.split(".")
    padded = payload + "=" * (-len(payload) % 4)
    _shop_id, signed = json.loads(base64.urlsafe_b64decode(padded))
    other_payload = base64.urlsafe_b64encode(json.dumps([other.id, signed]).encode()).decode()
    tampered = ".".join((other_payload.rstrip("="), signature))
    answer = client.post("/shoper/app/settings", data=submitted_form(tampered))
    assert answer.status_code == 403

    # The genuine token changes its own shop and only that one.
    assert client.post("/shoper/app/settings", data=submitted_form(token)).status_code == 303
    assert shop_config.sms_sender(stored_shop(factory, mine.id)) == "Hacked"
    assert shop_config.sms_sender(stored_shop(factory, other.id)) == ""


def test_an_uninstalled_shop_cannot_open_or_save_the_page(client, factory, settings, clock):
    shop = make_shop(factory, settings, now=clock.now, licence=LICENCE)
    token = form_token(client)
    with factory() as session, session.begin():
        stored = session.get(Shop, shop.id)
        assert stored is not None
        stored.status = "uninstalled"
    assert client.get(iframe_path(LICENCE)).status_code == 404
    assert client.post("/shoper/app/settings", data=submitted_form(token)).status_code == 404
    assert shop_config.sms_sender(stored_shop(factory, shop.id)) == ""


def test_the_page_may_be_framed_only_by_the_shop_admin(client, factory, settings, clock):
    make_shop(factory, settings, now=clock.now, licence=LICENCE, shop_url="https://sklep.example")
    answer = client.get(iframe_path(LICENCE))
    assert (
        answer.headers["Content-Security-Policy"] == "frame-ancestors 'self' https://sklep.example"
    )


def test_an_old_iframe_url_no_longer_opens_the_page(client, factory, settings, clock):
    """The signed admin URL stays in browser history and access logs: it expires."""
    make_shop(factory, settings, now=clock.now, licence=LICENCE)
    assert client.get(iframe_path(LICENCE)).status_code == 200
    clock.advance(hours=3)
    answer = client.get(iframe_path(LICENCE))
    assert answer.status_code == 403 and "expired" in answer.json["message"]
