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
from shoper_retention.messaging.coupons import CouponPolicy
from shoper_retention.models import ChannelPause, HistoryImport, Shop
from shoper_retention.scenarios import cart_recovery, registry
from shoper_retention.scenarios.settings_schema import (
    Choice,
    Coupon,
    Line,
    Number,
    SettingsSchema,
    StepDefault,
    Steps,
    Switch,
)
from shoper_retention.settings import Settings
from shoper_retention.web import page_texts
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

    expect(page.locator("h1")).to_have_text("Ustawienia Retention: Sklep Testowy")
    expect(page.locator("#cart_recovery__enabled")).to_be_checked()
    expect(page.locator("#cart_recovery__idle_minutes")).to_have_value("30")
    for step, hours, channel in ((1, "1", "auto"), (2, "24", "email"), (3, "72", "both")):
        expect(page.locator(f"#cart_recovery__step{step}_hours")).to_have_value(hours)
        expect(page.locator(f"#cart_recovery__step{step}_channel")).to_have_value(channel)
    expect(page.locator("#cart_recovery__coupon_mode")).to_have_value("unique")
    expect(page.locator("#cart_recovery__coupon_percent")).to_have_value("10")
    expect(page.locator("#cart_recovery__coupon_valid")).to_have_value("48")
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
    expect(page.locator("#dev-outbox")).to_have_text(
        "Nie skonfigurowano tokenu SMSAPI ani serwera SMTP: wiadomości trafiają do skrzynki "
        "testowej (dev outbox) i nie są doręczane."
    )
    expect(page.locator("#messages tbody")).to_have_text("Nie ma jeszcze żadnych wiadomości.")


def test_cart_recovery_changed_in_the_form_is_stored_and_shown_again_after_reload(
    page: Page, live_server: LiveServer, factory, settings, clock
):
    shop = make_shop(factory, settings, now=clock.now, licence=LICENCE)
    open_settings(page, live_server)

    section = page.get_by_role("group", name="Porzucone koszyki")
    section.get_by_label("Wysyłaj przypomnienia o porzuconych koszykach").uncheck()
    section.get_by_label("Koszyk porzucony po (minutach bez zmian)").fill("45")
    section.get_by_label("Drugie przypomnienie: po ilu godzinach").fill("20.5")
    section.get_by_label("Ostatnie przypomnienie: kanał").select_option("sms")
    coupon = section.get_by_role("group", name="Kupon w ostatnim przypomnieniu")
    coupon.get_by_label("Rodzaj kuponu").select_option("static")
    coupon.get_by_label("Rabat (%)").fill("15")
    coupon.get_by_label("Ważny przez (godziny)").fill("24")
    coupon.get_by_label("Mój własny kod").fill(" WRACAJ15 ")
    page.get_by_label("Nazwa nadawcy SMS").fill("MojSklep")
    page.get_by_role("button", name="Zapisz ustawienia").click()

    expect(page.locator("#saved")).to_have_text("Zapisano ustawienia.")
    for opened in ("after the save", "reloaded", "opened again from the admin"):
        if opened == "reloaded":
            page.reload()
        elif opened == "opened again from the admin":
            open_settings(page, live_server)
        expect(page.locator("#cart_recovery__enabled"), opened).not_to_be_checked()
        expect(page.locator("#cart_recovery__idle_minutes"), opened).to_have_value("45")
        expect(page.locator("#cart_recovery__step1_hours"), opened).to_have_value("1")
        expect(page.locator("#cart_recovery__step2_hours"), opened).to_have_value("20.5")
        expect(page.locator("#cart_recovery__step3_hours"), opened).to_have_value("72")
        expect(page.locator("#cart_recovery__step3_channel"), opened).to_have_value("sms")
        expect(page.locator("#cart_recovery__coupon_mode"), opened).to_have_value("static")
        expect(page.locator("#cart_recovery__coupon_percent"), opened).to_have_value("15")
        expect(page.locator("#cart_recovery__coupon_valid"), opened).to_have_value("24")
        expect(page.locator("#cart_recovery__coupon_static_code"), opened).to_have_value("WRACAJ15")
        expect(page.locator("#sms_sender"), opened).to_have_value("MojSklep")

    stored = stored_shop(factory, shop.id)
    config = cart_recovery.read_config(stored)
    assert config.enabled is False
    assert config.idle == timedelta(minutes=45)
    assert [s.delay for s in config.steps] == [
        timedelta(hours=1),
        timedelta(hours=20, minutes=30),
        timedelta(hours=72),
    ]
    assert [s.channel for s in config.steps] == ["auto", "email", "sms"]
    assert config.coupon == CouponPolicy("static", 15, timedelta(hours=24), "WRACAJ15")
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

    expect(page.locator("#error")).to_have_text(
        "Nie zapisano: Nazwa nadawcy SMS: najwyżej 11 znaków: litery bez polskich znaków, cyfry, "
        "spacje, kropki lub myślniki. Niczego nie zmieniono."
    )
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
    expect(page.locator("#smsapi_token-hint")).to_have_text(
        "zapisany; zostaw pole puste, aby go zachować"
    )
    # SMS now has a provider; e-mail still has none, and the page says exactly that.
    expect(page.locator("#dev-outbox")).to_have_text(
        "Nie skonfigurowano serwera SMTP: e-maile trafiają do skrzynki testowej (dev outbox) "
        "i nie są doręczane."
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
    expect(cells.nth(1)).to_have_text("Porzucone koszyki")
    expect(cells.nth(2)).to_have_text("1")
    expect(cells.nth(3)).to_have_text("SMS")
    expect(cells.nth(4)).to_have_text("+48600100200")
    expect(cells.nth(5)).to_have_text("wysłana (skrzynka testowa)")
    later = page.locator("#messages tr.message[data-status=scheduled]").first.locator("td")
    expect(later.nth(5)).to_have_text("zaplanowana")
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
        expect(notice).to_contain_text("Wysyłka SMS-ów wstrzymana")
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


# --- the shop's language -------------------------------------------------------------------


def page_words(texts: dict[str, Any], language: str) -> set[str]:
    """Each page text of three words or more in one language, cut before its first
    placeholder (shorter ones, like "od" or "SMS", occur inside words of either language)."""
    cut = {text[language].split("{")[0].strip() for text in texts.values()}
    return {phrase for phrase in cut if len(phrase.split()) >= 3}


@pytest.mark.parametrize(
    ("locale", "language", "other"),
    [("pl_PL", "pl", "en"), ("en_GB", "en", "pl"), ("de_DE", "en", "pl")],
)
def test_the_page_speaks_the_shops_language_and_only_that(
    page: Page, live_server: LiveServer, factory, settings, clock, locale, language, other
):
    make_shop(factory, settings, now=clock.now, licence=LICENCE, language=locale)
    open_settings(page, live_server)
    polish = language == "pl"

    expect(page.locator("html")).to_have_attribute("lang", language)
    expect(page.locator("h1")).to_have_text(
        "Ustawienia Retention: Sklep Testowy" if polish else "Retention settings: Sklep Testowy"
    )
    # Labels are bound to their inputs: the merchant's words find the fields.
    cart = page.get_by_role("group", name="Porzucone koszyki" if polish else "Abandoned carts")
    expect(cart).to_have_attribute("id", "scenario-cart_recovery")
    second = (
        "Drugie przypomnienie: po ilu godzinach" if polish else "Second reminder: after (hours)"
    )
    expect(cart.get_by_label(second)).to_have_value("24")
    channel = "Ostatnie przypomnienie: kanał" if polish else "Last reminder: channel"
    expect(cart.get_by_label(channel)).to_have_value("both")
    percent = cart.get_by_label("Rabat (%)" if polish else "Discount (%)")
    expect(percent).to_have_attribute("id", "cart_recovery__coupon_percent")
    sender = page.get_by_label("Nazwa nadawcy SMS" if polish else "SMS sender name")
    expect(sender).to_have_attribute("id", "sms_sender")
    expect(page.locator("#dev-outbox")).to_contain_text(
        "skrzynki testowej" if polish else "go to the dev outbox"
    )
    expect(page.locator("#save")).to_have_text("Zapisz ustawienia" if polish else "Save settings")
    # No text of the other language anywhere on the page.
    body = page.locator("body").inner_text()
    shown = page_words(page_texts.TEXTS, language) | page_words(page_texts.FIELD_LABELS, language)
    for text in page_words(page_texts.TEXTS, other) - shown:
        assert text not in body, text
    for text in page_words(page_texts.FIELD_LABELS, other) - shown:
        assert text not in body, text


def test_an_error_on_a_polish_shop_names_the_field_and_the_problem_in_polish(
    page: Page, live_server: LiveServer, factory, settings, clock
):
    shop = make_shop(factory, settings, now=clock.now, licence=LICENCE, language="pl_PL")
    before = stored_shop(factory, shop.id).settings
    open_settings(page, live_server)

    page.locator("#cart_recovery__step1_hours").fill("30")  # after the second's 24 h
    page.locator("#save").click()

    expect(page.locator("#error")).to_have_text(
        "Nie zapisano: Porzucone koszyki › Drugie przypomnienie: po ilu godzinach: każda "
        "wiadomość musi wyjść później niż poprzednia. Niczego nie zmieniono."
    )
    field = page.locator("#cart_recovery__step2_hours")
    expect(field).to_have_attribute("aria-invalid", "true")
    expect(field).to_be_focused()
    expect(page.locator("#cart_recovery__step1_hours")).to_have_value("30")
    assert stored_shop(factory, shop.id).settings == before


def test_an_error_on_an_english_shop_reads_in_english(
    page: Page, live_server: LiveServer, factory, settings, clock
):
    make_shop(factory, settings, now=clock.now, licence=LICENCE, language="en_GB")
    open_settings(page, live_server)

    page.locator("#sms_countries").fill("PL, XX")
    page.locator("#save").click()

    expect(page.locator("#error")).to_have_text(
        "Not saved: Countries SMS messages may go to: unknown country code 'XX'. "
        "Nothing was changed."
    )


# --- a scenario the page has never heard of --------------------------------------------------

WIN_BACK = SettingsSchema(
    title={"pl": "Odzyskiwanie klientów", "en": "Win-back"},
    description={
        "pl": "Wiadomość do klienta, który dawno nic nie kupił.",
        "en": "A message to a customer who has not ordered for a while.",
    },
    fields=(
        Switch("enabled", {"pl": "Wysyłaj wiadomości", "en": "Send messages"}),
        Number(
            "inactive_days",
            {"pl": "Nieaktywny po (dniach)", "en": "Inactive after (days)"},
            90,
            30,
            720,
        ),
        Choice(
            "audience",
            {"pl": "Do kogo", "en": "Who"},
            "all",
            (
                ("all", {"pl": "Wszyscy", "en": "Everyone"}),
                ("buyers", {"pl": "Kupujący", "en": "Buyers"}),
            ),
        ),
        Steps(
            "steps",
            {"pl": "Wiadomości", "en": "Messages"},
            (
                StepDefault(60, "email", {"pl": "Pierwsza wiadomość", "en": "First message"}),
                StepDefault(72 * 60, "sms", {"pl": "Druga wiadomość", "en": "Second message"}),
            ),
        ),
        Coupon(
            "coupon",
            {"pl": "Kupon powitalny", "en": "Welcome-back coupon"},
            valid=14,
            valid_unit="days",
        ),
        Line("signature", {"pl": "Podpis", "en": "Signature"}, "Zespół sklepu", max_length=40),
    ),
)


class WinBack:
    """Only what the settings page and form read of a scenario."""

    name = "win_back_trial"
    marketing = True
    switchable = True
    settings = WIN_BACK
    reacts_to: tuple[type, ...] = ()


@pytest.fixture
def win_back(monkeypatch: pytest.MonkeyPatch) -> WinBack:
    scenario = WinBack()
    monkeypatch.setitem(registry.REGISTRY, scenario.name, scenario)  # type: ignore[arg-type]
    return scenario


def test_a_newly_registered_scenario_gets_its_section_and_its_values_are_stored(
    page: Page, live_server: LiveServer, factory, settings, clock, win_back
):
    shop = make_shop(factory, settings, now=clock.now, licence=LICENCE, language="pl_PL")
    open_settings(page, live_server)

    section = page.get_by_role("group", name="Odzyskiwanie klientów")
    expect(section).to_have_attribute("id", "scenario-win_back_trial")
    expect(section).to_contain_text("Wiadomość do klienta, który dawno nic nie kupił.")
    expect(section.get_by_label("Wysyłaj wiadomości")).not_to_be_checked()
    expect(section.get_by_label("Nieaktywny po (dniach)")).to_have_value("90")
    expect(section.get_by_label("Druga wiadomość: po ilu godzinach")).to_have_value("72")
    expect(section.get_by_label("Ważny przez (dni)")).to_have_value("14")
    expect(section.get_by_label("Podpis")).to_have_value("Zespół sklepu")

    section.get_by_label("Wysyłaj wiadomości").check()
    section.get_by_label("Nieaktywny po (dniach)").fill("120")
    section.get_by_label("Do kogo").select_option("buyers")
    section.get_by_label("Druga wiadomość: po ilu godzinach").fill("96")
    section.get_by_label("Pierwsza wiadomość: kanał").select_option("both")
    section.get_by_label("Rodzaj kuponu").select_option("none")
    section.get_by_label("Podpis").fill("  Ania ze sklepu  ")
    page.locator("#save").click()
    expect(page.locator("#saved")).to_be_visible()

    stored = stored_shop(factory, shop.id)
    assert stored.settings["scenarios"]["win_back_trial"] == {
        "enabled": True,
        "inactive_days": 120,
        "audience": "buyers",
        "steps": [
            {"delay_minutes": 60, "channel": "both"},
            {"delay_minutes": 96 * 60, "channel": "sms"},
        ],
        "coupon": {"mode": "none", "discount_percent": 10, "valid_days": 14, "static_code": ""},
        "signature": "Ania ze sklepu",
    }
    assert cart_recovery.read_config(stored).enabled is True  # the other sections untouched
    open_settings(page, live_server)
    expect(page.locator("#win_back_trial__enabled")).to_be_checked()
    expect(page.locator("#win_back_trial__step2_hours")).to_have_value("96")
    expect(page.locator("#win_back_trial__signature")).to_have_value("Ania ze sklepu")


def test_a_newly_registered_scenarios_values_are_validated_by_its_schema(
    page: Page, live_server: LiveServer, factory, settings, clock, win_back
):
    shop = make_shop(factory, settings, now=clock.now, licence=LICENCE, language="pl_PL")
    before = stored_shop(factory, shop.id).settings
    open_settings(page, live_server)

    page.locator("#win_back_trial__signature").evaluate(
        "(el, v) => { el.value = v; }", "X" * 41
    )  # past the input's maxlength, as a scripted client can
    page.locator("#save").click()

    expect(page.locator("#error")).to_have_text(
        "Nie zapisano: Odzyskiwanie klientów › Podpis: jeden wiersz, najwyżej 40 znaków. "
        "Niczego nie zmieniono."
    )
    expect(page.locator("#win_back_trial__signature")).to_have_attribute("aria-invalid", "true")
    assert stored_shop(factory, shop.id).settings == before


def test_a_scenario_the_merchant_cannot_switch_has_no_section(
    page: Page, live_server: LiveServer, factory, settings, clock
):
    make_shop(factory, settings, now=clock.now, licence=LICENCE)
    open_settings(page, live_server)
    expect(page.locator("#scenario-consent_confirmation")).to_have_count(0)
    expect(page.get_by_text("Potwierdzenie zgody")).to_have_count(0)
    expect(page.locator("#scenario-cart_recovery")).to_have_count(1)


def test_the_data_area_starts_the_history_import_and_shows_its_progress(
    page: Page, live_server: LiveServer, factory, settings, clock
):
    shop = make_shop(factory, settings, now=clock.now, licence=LICENCE)
    open_settings(page, live_server)
    data = page.locator("#data")
    expect(data.locator("#history-progress")).to_have_text("Historia nie była jeszcze odczytana.")
    expect(data.get_by_role("link", name="Import dat urodzin z pliku CSV")).to_have_attribute(
        "href", re.compile(r"^/shoper/app/birthdays\?t=")
    )

    data.get_by_role("button", name="Odczytaj historię").click()

    # Back on the page (303 with a fresh form token): both imports are waiting for the worker,
    # and the button cannot start a second one.
    expect(page).to_have_url(re.compile(r"/shoper/app\?t="))
    expect(data.locator("#history-progress li")).to_have_count(2)
    expect(data.get_by_role("button")).to_be_disabled()
    expect(data.get_by_role("button")).to_have_text("Odczyt trwa…")
    with factory() as session:
        kinds = session.scalars(
            select(HistoryImport.kind).where(HistoryImport.shop_id == shop.id)
        ).all()
    assert sorted(kinds) == ["customers", "orders"]
