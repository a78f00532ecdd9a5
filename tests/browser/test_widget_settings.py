"""The settings page's "Storefront widget" section in Chromium, in both languages: the forms'
switches, the consent texts (a changed text gets a new version, shown on the page and served by
the widget), the line to paste, and whether the widget has been seen."""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy.orm import Session, sessionmaker

from shoper_retention import shop_config
from shoper_retention.links import Links
from shoper_retention.models import Shop
from tests.browser.conftest import LiveServer
from tests.support import Clock, cart_snapshot, make_shop, post_cart


def open_page(page: Page, live_server: LiveServer, settings, clock: Clock, shop_id: int) -> None:
    token = Links(settings.secret_key, settings.public_url).settings_form_token(shop_id, clock.now)
    answer = page.goto(live_server.at(f"/shoper/app?t={token}"))
    assert answer is not None and answer.status == 200


def stored(factory: sessionmaker[Session], shop_id: int) -> Shop:
    with factory() as session:
        row = session.get(Shop, shop_id)
        assert row is not None
        return row


def test_the_merchant_switches_the_forms_on_and_a_new_consent_text_gets_a_new_version(
    page: Page, live_server: LiveServer, client, factory, settings, clock
):
    shop = make_shop(factory, settings, now=clock.now)
    open_page(page, live_server, settings, clock, shop.id)
    section = page.get_by_role("group", name="Widżet w sklepie")

    expect(section.locator("#widget-status")).to_have_text(
        "Nie dotarło jeszcze żadne zdarzenie ze stron sklepu – sprawdź, czy kod jest wklejony."
    )
    snippet = section.get_by_label("Kod do wklejenia")
    expect(snippet).to_have_value(
        f'<script async src="{settings.public_url}/storefront/{shop.public_key}/widget.js">'
        "</script>"
    )
    polish = section.get_by_label("Treść zgody po polsku")
    expect(polish).to_have_value(shop_config.DEFAULT_CONSENT_TEXT["pl"])
    default = shop_config.default_consent_version()
    expect(polish).to_have_accessible_description(re.compile(rf"\(teraz: {default}\)"))
    section.get_by_label("Formularz „Powiadom mnie o dostępności”", exact=False).check()
    polish.fill("Zgadzam się na e-maile od Sklepu Testowego.")
    section.get_by_label("Inne adresy sklepu").fill("https://www.sklep.example")
    page.locator("#save").click()

    expect(page.locator("#saved")).to_be_visible()
    widget = shop_config.widget(stored(factory, shop.id))
    assert (widget.restock_form, widget.birthday_form) == (True, False)
    assert widget.consent_text["pl"] == "Zgadzam się na e-maile od Sklepu Testowego."
    # The English text is still our default: the version names its words as well.
    mark = shop_config.default_consent_mark(shop_config.DEFAULT_CONSENT_TEXT)
    version = f"v2-2026-03-03-default-{mark}"
    assert widget.consent_version == version
    assert shop_config.storefront_origins(stored(factory, shop.id)) == ["https://www.sklep.example"]
    expect(page.locator("#widget-consent-hint")).to_contain_text(f"(teraz: {version})")
    expect(page.locator("#widget_restock")).to_be_checked()
    expect(page.get_by_label("Inne adresy sklepu")).to_have_value("https://www.sklep.example")
    # What shoppers' browsers get from now on.
    served = client.get(f"/storefront/{shop.public_key}/widget.js").get_data(as_text=True)
    config = json.loads(re.search(r"\}\((\{.*\})\)\);\s*$", served, re.DOTALL).group(1))
    assert config["restock"] is True
    assert config["consent"] == {
        "text": {
            "pl": "Zgadzam się na e-maile od Sklepu Testowego.",
            "en": shop_config.DEFAULT_CONSENT_TEXT["en"],
        },
        "version": version,
    }


def test_a_consent_text_too_long_is_refused_naming_the_field(
    page: Page, live_server: LiveServer, factory, settings, clock
):
    shop = make_shop(factory, settings, now=clock.now, language="en_GB")
    before = stored(factory, shop.id).settings
    open_page(page, live_server, settings, clock, shop.id)
    english = page.get_by_label("Consent text in English")
    english.evaluate("(field, text) => { field.value = text; }", "x" * 501)  # past maxlength
    page.locator("#save").click()

    expect(page.locator("#error")).to_have_text(
        "Not saved: Consent text in English: one line of at most 500 characters. "
        "Nothing was changed."
    )
    expect(page.get_by_label("Consent text in English")).to_have_attribute("aria-invalid", "true")
    assert stored(factory, shop.id).settings == before


def test_an_other_address_that_is_not_a_site_is_refused_in_polish(
    page: Page, live_server: LiveServer, factory, settings, clock
):
    shop = make_shop(factory, settings, now=clock.now)
    before = stored(factory, shop.id).settings
    open_page(page, live_server, settings, clock, shop.id)
    page.get_by_label("Inne adresy sklepu").fill("http://www.sklep.example")
    page.locator("#save").click()

    expect(page.locator("#error")).to_have_text(
        "Nie zapisano: Inne adresy sklepu: to nie jest adres strony zaczynający się od "
        "https:// – 'http://www.sklep.example'. Niczego nie zmieniono."
    )
    expect(page.get_by_label("Inne adresy sklepu")).to_have_attribute("aria-invalid", "true")
    assert stored(factory, shop.id).settings == before


@pytest.mark.parametrize("language", ["pl_PL", "en_GB"])
def test_once_the_shops_pages_sent_something_the_page_says_when_first_and_last(
    page: Page, live_server: LiveServer, client, worker, factory, settings, clock, language
):
    shop = make_shop(factory, settings, now=clock.now, language=language)
    assert post_cart(client, shop, cart_snapshot(at=clock.now)).status_code == 202
    worker.tick(clock.now)
    assert (
        post_cart(client, shop, cart_snapshot("c-2", at=clock.advance(hours=3))).status_code == 202
    )
    worker.tick(clock.now)
    open_page(page, live_server, settings, clock, shop.id)
    expected = (
        "Pierwsze zdarzenie ze stron sklepu dotarło 2026-03-03 09:00, a ostatnie 2026-03-03 12:00."
        if language == "pl_PL"
        else "The first event from your shop's pages arrived on 2026-03-03 09:00, the latest on "
        "2026-03-03 12:00."
    )
    expect(page.locator("#widget-status")).to_have_text(expected)
