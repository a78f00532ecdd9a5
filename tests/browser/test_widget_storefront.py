"""The storefront widget in Chromium, on test pages that reproduce each storefront's own
JavaScript API as the platforms document it (tests/browser/pages/): Shoper's new storefront
(the event bus), Shoper's older templates (frontAPI) and Ecwid (its storefront JS API, the
widget loaded through our Ecwid loader).

The pages are served from their own loopback origin, which is the test shop's `shop_url`; the
app answers on another port, so the widget's calls are real cross-origin requests under our
CORS rule. A shopper adds two products, types an e-mail at checkout, ticks the consent box and
leaves; the snapshot reaches the inbox, and the worker, with the clock moved on, sends the first
reminder. Also: an error inside the widget never reaches the page and is reported to us; the
back-in-stock and birthday forms post valid sign-ups; a reminder's link continues its cart; and
nothing sets a cookie."""

from __future__ import annotations

import json
import mimetypes
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote

import pytest
from flask import Flask
from playwright.sync_api import Page, expect
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.serving import BaseWSGIServer, make_server

from shoper_retention import shop_config
from shoper_retention.credentials import CredentialBox
from shoper_retention.models import Cart, Consent, InboxDelivery, RestockSubscription, Shop
from shoper_retention.platforms.ecwid.events import same_cart_key
from shoper_retention.settings import Settings
from tests.support import Clock, cart_snapshot, make_shop, outbox_entries, post_cart

PAGES = Path(__file__).resolve().parent / "pages"
ECWID_CLIENT_ID = "retention-app"
ECWID_STORE = "1003"
OUT_OF_STOCK = "505"  # the product the fake Ecwid REST API reports as sold out
CONSENT_TEXT = "Chcę dostawać e-maile o moim koszyku i ofertach sklepu."
CONSENT_TEXT_EN = "Send me e-mails about my basket and the shop's offers."
CONSENT_VERSION = "v3-2026-03-01"
# What a consent given beside the Polish text names: the version and the language shown.
CONSENT_VERSION_PL = f"{CONSENT_VERSION}-pl"
RESTOCK_DONE = (
    "Jeśli dostaniesz od nas prośbę o potwierdzenie adresu, kliknij link w tej wiadomości."
)
CATALOGUE = {
    key: {"name": name, "price": price, "product_url": f"https://sklep.example/{slug}"}
    for key, name, price, slug in (
        ("101", "Kubek ceramiczny", "49.90", "kubek"),
        ("101/11", "Kubek ceramiczny", "49.90", "kubek"),
        ("102", "Talerz płytki", "29.90", "talerz"),
        ("102/12", "Talerz płytki", "29.90", "talerz"),
    )
}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class ShopPages:
    """The shop's own origin: the test pages, and Ecwid's product read (its REST API) for the
    back-in-stock check, answering CORS as Ecwid's public API does."""

    ecwid_reads: list[str] = field(default_factory=list)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        path = environ["PATH_INFO"]
        if path.startswith(f"/api/v3/{ECWID_STORE}/products/"):
            product_id = path.rsplit("/", 1)[1]
            self.ecwid_reads.append(environ.get("QUERY_STRING", ""))
            token = parse_qs(environ.get("QUERY_STRING", "")).get("token", [""])[0]
            if not token.startswith("public_"):
                return self._answer(start_response, "403 Forbidden", b"{}", "application/json")
            sold_out = product_id == OUT_OF_STOCK
            product = {
                "id": int(product_id),
                "inStock": not sold_out,
                "unlimited": False,
                "quantity": 0 if sold_out else 5,
            }
            return self._answer(start_response, "200 OK", json.dumps(product).encode(), "")
        file = (PAGES / path.lstrip("/")).resolve()
        if PAGES not in file.parents or not file.is_file():
            return self._answer(start_response, "404 Not Found", b"not found", "text/plain")
        kind = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
        return self._answer(start_response, "200 OK", file.read_bytes(), kind)

    @staticmethod
    def _answer(start_response: Any, status: str, body: bytes, kind: str) -> list[bytes]:
        headers = [
            ("Content-Type", (kind or "application/json") + "; charset=utf-8"),
            ("Content-Length", str(len(body))),
            ("Access-Control-Allow-Origin", "*"),
            ("Cache-Control", "no-store"),
        ]
        start_response(status, headers)
        return [body]


@dataclass(frozen=True)
class Origins:
    app: str  # where the app answers (settings.public_url)
    shop: str  # the shop's own pages (its shop_url)
    pages: ShopPages

    def page(self, path: str, widget: str, **params: str) -> str:
        query = "&".join(
            f"{k}={quote(v, safe='')}" for k, v in {**params, "widget": widget}.items()
        )
        return f"{self.shop}/{path}?{query}"


@pytest.fixture
def ports() -> tuple[int, int]:
    return _free_port(), _free_port()


@pytest.fixture
def settings(settings: Settings, ports: tuple[int, int]) -> Settings:
    """The conftest's settings, with the app's public URL on its live port and Ecwid pointed at
    the shop pages' fake REST API."""
    app_port, shop_port = ports
    return replace(
        settings,
        public_url=f"http://127.0.0.1:{app_port}",
        ecwid_client_id=ECWID_CLIENT_ID,
        ecwid_client_secret="ecwid-client-secret-0123456789ab",
        ecwid_api_url=f"http://127.0.0.1:{shop_port}/api/v3/",
    )


def _serve(app: Any, port: int) -> Iterator[None]:
    server: BaseWSGIServer = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def origins(app: Flask, ports: tuple[int, int]) -> Iterator[Origins]:
    pages = ShopPages()
    app_port, shop_port = ports
    app_server = _serve(app, app_port)
    shop_server = _serve(pages, shop_port)
    next(app_server)
    next(shop_server)
    try:
        yield Origins(f"http://127.0.0.1:{app_port}", f"http://127.0.0.1:{shop_port}", pages)
    finally:
        for server in (app_server, shop_server):
            next(server, None)


@pytest.fixture
def page(page: Page, clock: Clock) -> Page:
    """The browser's clock reads the app's (it moves on in real time from there): snapshots
    are ordered by the shopper's clock."""
    page.clock.set_system_time(clock.now)
    return page


def shop_at(
    origins: Origins,
    factory: Any,
    settings: Settings,
    clock: Clock,
    platform: str = "shoper",
    **widget: Any,
):
    overrides = {
        "consent": {"email_opt_in": "single"},  # the tick alone lets this cart's reminders go
        "widget": {
            "consent": {
                "pl": CONSENT_TEXT,
                "en": CONSENT_TEXT_EN,
                "n": 3,
                "version": CONSENT_VERSION,
            },
            **widget,
        },
    }
    shop = make_shop(
        factory,
        settings,
        now=clock.now,
        shop_url=origins.shop,
        overrides=overrides,
        products=CATALOGUE,
    )
    with factory() as session, session.begin():
        row = session.get(Shop, shop.id)
        assert row is not None
        row.platform = platform
        if platform == "ecwid":  # the store's token came with its first admin visit
            row.access_token_enc = CredentialBox(settings.secret_key).seal("secret_token")
    return shop


def widget_src(origins: Origins, shop: Any) -> str:
    return f"{origins.app}/storefront/{shop.public_key}/widget.js"


def deliveries(factory: sessionmaker[Session], event_name: str) -> list[dict[str, Any]]:
    with factory() as session:
        rows = session.scalars(
            select(InboxDelivery)
            .where(InboxDelivery.event_name == event_name)
            .order_by(InboxDelivery.id)
        ).all()
        return [json.loads(row.body) for row in rows]


def wait_for(find: Callable[[], Any], what: str, seconds: float = 5.0) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = find()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def snapshot_with_consent(factory: sessionmaker[Session]) -> dict[str, Any]:
    return wait_for(
        lambda: [b for b in deliveries(factory, "cart") if b.get("consent")],
        "a cart snapshot with consent",
    )[-1]


def shopper_checks_out(page: Page, email_label: str) -> None:
    """Adds two products (one twice), types an e-mail at checkout, ticks our consent box."""
    page.get_by_role("button", name="Dodaj kubek").click()
    page.get_by_role("button", name="Dodaj talerz").click()
    page.get_by_role("button", name="Dodaj kubek").click()
    page.get_by_label(email_label, exact=True).fill("Anna.Nowak@example.com")
    consent = page.get_by_label(CONSENT_TEXT)
    expect(consent).not_to_be_checked()
    consent.check()  # focus leaves the e-mail field: the widget reads it
    page.keyboard.press("Tab")


def first_reminder_follows(worker: Any, factory: Any, clock: Clock) -> None:
    start = clock.now
    worker.tick(clock.now)
    worker.tick(clock.advance(minutes=31))
    worker.tick(clock.set(start + timedelta(hours=1)))
    (entry,) = outbox_entries(factory)
    assert (entry.channel, entry.to_address) == ("email", "anna.nowak@example.com")
    assert "Kubek ceramiczny" in entry.body_text and "Talerz płytki" in entry.body_text


def assert_items(snapshot: dict[str, Any], expected: dict[str, int]) -> None:
    assert {i["product_id"]: i["quantity"] for i in snapshot["items"]} == expected
    for item in snapshot["items"]:
        assert float(item["price"]) > 0 and item["name"]


# --- carts, on each storefront ---------------------------------------------------------------


def test_shoper_storefront_event_bus_cart_reaches_us_and_gets_its_reminder(
    page: Page, origins: Origins, factory, settings, clock, worker
):
    shop = shop_at(origins, factory, settings, clock)
    page.goto(origins.page("shoper-storefront/basket.html", widget_src(origins, shop)))

    shopper_checks_out(page, "E-mail")
    basket_id = page.evaluate("__shop.basket.id")
    page.goto("about:blank")  # leaving sends what is left (sendBeacon)

    snapshot = snapshot_with_consent(factory)
    assert snapshot["cart_id"] == basket_id  # the storefront's own basket id
    assert_items(snapshot, {"101": 2, "102": 1})
    assert {i["variant_id"] for i in snapshot["items"]} == {"11", "12"}
    assert snapshot["contact"] == {"email": "Anna.Nowak@example.com"}
    assert snapshot["consent"] == {"email": True}
    assert snapshot["consent_text_version"] == CONSENT_VERSION_PL
    assert snapshot["currency"] == "PLN"
    first_reminder_follows(worker, factory, clock)
    assert page.context.cookies() == []


def test_shoper_frontapi_cart_reaches_us_and_gets_its_reminder(
    page: Page, origins: Origins, factory, settings, clock, worker
):
    shop = shop_at(origins, factory, settings, clock)
    page.goto(origins.page("shoper-classic/basket.html", widget_src(origins, shop)))

    shopper_checks_out(page, "Adres e-mail")
    # No basket events on these templates: the widget reads the basket again after clicks.
    wait_for(
        lambda: [b for b in deliveries(factory, "cart") if len(b["items"]) == 2],
        "a snapshot with both products",
    )
    page.goto("about:blank")

    snapshot = snapshot_with_consent(factory)
    assert_items(snapshot, {"101": 2, "102": 1})
    assert snapshot["contact"] == {"email": "Anna.Nowak@example.com"}
    assert (snapshot["consent"], snapshot["consent_text_version"]) == (
        {"email": True},
        CONSENT_VERSION_PL,
    )
    # The template names no basket: the widget keeps its own key, the same for every snapshot.
    assert len({b["cart_id"] for b in deliveries(factory, "cart")}) == 1
    first_reminder_follows(worker, factory, clock)
    assert page.context.cookies() == []


def test_ecwid_cart_through_our_loader_uses_ecwids_cart_id_and_gets_its_reminder(
    page: Page, origins: Origins, factory, settings, clock, worker
):
    shop = shop_at(origins, factory, settings, clock, "ecwid")
    loader = f"{origins.app}/ecwid/storefront.js"
    page.goto(origins.page("ecwid/store.html", loader, key=shop.public_key))
    page.wait_for_function("__ecwid.ready()")  # the loader loaded the widget, which listens

    page.evaluate("__ecwid.open({type: 'CHECKOUT_ADDRESS'})")
    shopper_checks_out(page, "Adres e-mail")
    page.goto("about:blank")

    snapshot = snapshot_with_consent(factory)
    # Ecwid's cartId, the id its unfinished_order webhooks carry, in the one case both sides
    # store it in (platforms/ecwid/events.same_cart_key): one cart, one series.
    assert snapshot["cart_id"] == same_cart_key("6626E60A-A6F9-4CD5-8230-43D5F162E0CD")
    assert_items(snapshot, {"101": 2, "102": 1})
    assert snapshot["contact"] == {"email": "Anna.Nowak@example.com"}
    assert snapshot["consent"] == {"email": True}
    first_reminder_follows(worker, factory, clock)
    assert page.context.cookies() == []


def test_no_tick_claims_no_consent_and_unticking_withdraws_it_for_this_cart(
    page: Page, origins: Origins, factory, settings, clock
):
    shop = shop_at(origins, factory, settings, clock)
    page.goto(origins.page("shoper-storefront/basket.html", widget_src(origins, shop)))
    page.get_by_role("button", name="Dodaj kubek").click()
    page.get_by_label("E-mail", exact=True).fill("anna@example.com")
    page.get_by_label("Telefon").fill("600 100 200")
    page.keyboard.press("Tab")

    last = wait_for(
        lambda: [b for b in deliveries(factory, "cart") if b.get("contact", {}).get("phone")],
        "a snapshot with the phone",
    )[-1]
    assert last["contact"] == {"email": "anna@example.com", "phone": "600 100 200"}
    assert "consent" not in last and "consent_text_version" not in last

    consent = page.get_by_label(CONSENT_TEXT)
    consent.check()
    wait_for(lambda: deliveries(factory, "cart")[-1].get("consent"), "the tick")
    consent.uncheck()
    withdrawn = wait_for(
        lambda: [b for b in deliveries(factory, "cart") if b.get("consent") == {"email": False}],
        "the untick",
    )
    assert withdrawn[-1]["consent_text_version"] == CONSENT_VERSION_PL


def test_a_phone_the_server_refuses_does_not_cost_the_cart(
    page: Page, origins: Origins, factory, settings, clock
):
    shop = shop_at(origins, factory, settings, clock)
    page.goto(origins.page("shoper-storefront/basket.html", widget_src(origins, shop)))
    page.get_by_role("button", name="Dodaj kubek").click()
    page.get_by_label("E-mail", exact=True).fill("anna@example.com")
    page.get_by_label("Telefon").fill("100 000 000")  # nine digits, no such Polish number
    page.keyboard.press("Tab")

    stored = wait_for(
        lambda: [b for b in deliveries(factory, "cart") if b.get("contact")], "the snapshot"
    )
    assert stored[-1]["contact"] == {"email": "anna@example.com"}


# --- errors -------------------------------------------------------------------------------------


def test_a_broken_frontapi_never_reaches_the_page_and_is_reported_to_us(
    page: Page, origins: Origins, factory, settings, clock, caplog
):
    """The `page` fixture fails the test on any error the page sees; the page's own
    window.onerror and unhandledrejection handlers record what reaches them."""
    caplog.set_level("WARNING", logger="shoper_retention.web.widget")
    shop = shop_at(origins, factory, settings, clock)
    with page.expect_response(lambda r: r.url.endswith("/errors")) as answer:
        page.goto(origins.page("shoper-classic/basket.html", widget_src(origins, shop), broken="1"))
    assert answer.value.status == 204
    sent: list[str] = []
    page.on("request", lambda r: sent.append(r.url) if r.url.endswith("/errors") else None)
    for _ in range(4):  # each click reads the basket again 1.5 s later, and that throws
        page.get_by_role("button", name="Dodaj kubek").click()
        page.wait_for_timeout(1700)

    assert page.evaluate("window.__pageErrors") == []
    reports = [r.getMessage() for r in caplog.records if "widget error" in r.getMessage()]
    assert all(f"shop {shop.id} (shoper) in getBasketInfo" in r for r in reports)
    assert "frontAPI.getBasketInfo is broken" in reports[0]
    # At most 3 reports a page load: the first, then two of the four reads after clicks.
    assert (len(reports), len(sent)) == (3, 2)
    # The rest of the widget still works: the consent box is there at checkout.
    expect(page.get_by_label(CONSENT_TEXT)).to_be_visible()


# --- back in stock ------------------------------------------------------------------------------


def restock_signup(page: Page, factory: Any, worker: Any, clock: Clock) -> dict[str, Any]:
    form = page.locator("#sr-restock")
    expect(form).to_be_visible()
    expect(form.get_by_role("status")).to_have_attribute("aria-live", "polite")
    form.get_by_label("Adres e-mail").fill("nie-adres")
    form.get_by_role("button", name="Powiadom mnie").click()
    expect(form.get_by_role("status")).to_have_text("Wpisz poprawny adres e-mail.")
    expect(form.get_by_label("Adres e-mail")).to_be_focused()
    form.get_by_label("Adres e-mail").fill("ola@example.com")
    form.get_by_role("button", name="Powiadom mnie").click()
    expect(form.get_by_role("status")).to_have_text(RESTOCK_DONE)
    (signup,) = deliveries(factory, "restock")
    worker.tick(clock.now)
    with factory() as session:
        (subscription,) = session.scalars(select(RestockSubscription)).all()
        assert subscription.address == "ola@example.com"
    return signup


def test_the_restock_form_on_a_shoper_storefront_product_that_cannot_be_bought(
    page: Page, origins: Origins, factory, settings, clock, worker
):
    shop = shop_at(origins, factory, settings, clock, restock_form=True)
    page.goto(origins.page("shoper-storefront/product.html", widget_src(origins, shop)))

    signup = restock_signup(page, factory, worker, clock)
    assert signup == {
        "type": "restock",
        "product_id": "303",
        "variant_id": "33",
        "channel": "email",
        "contact": {"email": "ola@example.com"},
        "consent": {"text_version": "widget-restock-2-pl"},
        "occurred_at": signup["occurred_at"],
    }
    # Right after Shoper's own button, not somewhere else on the page.
    follows = page.evaluate(
        "document.querySelector('availability-notifier-btn').nextElementSibling.id"
    )
    assert follows == "sr-restock"


def test_the_restock_form_on_an_older_shoper_template_asks_frontapi_whether_it_can_be_bought(
    page: Page, origins: Origins, factory, settings, clock, worker
):
    shop = shop_at(origins, factory, settings, clock, restock_form=True)
    page.goto(origins.page("shoper-classic/product.html", widget_src(origins, shop)))

    signup = restock_signup(page, factory, worker, clock)
    assert (signup["product_id"], signup["variant_id"]) == ("303", "33")


def test_the_restock_form_on_ecwid_reads_the_stock_with_the_apps_public_token(
    page: Page, origins: Origins, factory, settings, clock, worker
):
    shop = shop_at(origins, factory, settings, clock, "ecwid", restock_form=True)
    loader = f"{origins.app}/ecwid/storefront.js"
    page.goto(origins.page("ecwid/store.html", loader, key=shop.public_key))
    page.wait_for_function("__ecwid.ready()")
    page.evaluate("__ecwid.open({type: 'PRODUCT', productId: 102, name: 'Talerz'})")
    page.wait_for_timeout(500)
    expect(page.locator("#sr-restock")).to_have_count(0)  # in stock: no form

    page.evaluate(f"__ecwid.open({{type: 'PRODUCT', productId: {OUT_OF_STOCK}}})")
    signup = restock_signup(page, factory, worker, clock)
    assert signup["product_id"] == OUT_OF_STOCK and "variant_id" not in signup
    assert all("token=public_" in q for q in origins.pages.ecwid_reads)


def test_no_restock_form_unless_the_merchant_switched_it_on(
    page: Page, origins: Origins, factory, settings, clock
):
    shop = shop_at(origins, factory, settings, clock)
    page.goto(origins.page("shoper-storefront/product.html", widget_src(origins, shop)))
    page.wait_for_function("window.__srWidget === 1")
    page.wait_for_timeout(500)
    expect(page.locator("#sr-restock")).to_have_count(0)


# --- birthdays ----------------------------------------------------------------------------------


BIRTHDAY_CONSENT = (
    "Chcę otrzymywać od sklepu e-maile z życzeniami i prezentem na urodziny oraz z ofertami. "
    "Zgodę mogę w każdej chwili wycofać, klikając link w wiadomości."
)


def test_the_birthday_form_sits_before_the_footer_and_posts_a_signup_with_its_own_consent(
    page: Page, origins: Origins, factory, settings, clock
):
    shop = shop_at(origins, factory, settings, clock, birthday_form=True)
    page.goto(origins.page("shoper-storefront/home.html", widget_src(origins, shop)))
    form = page.locator("#sr-birthday")
    expect(form).to_be_visible()
    expect(form.locator(".sr-note")).to_have_text(
        "Podaj dzień i miesiąc swoich urodzin – w tym dniu wyślemy Ci prezent."
    )
    # Its own words, for what this form is for: not the checkout's cart-reminder text.
    expect(form.get_by_text(CONSENT_TEXT)).to_have_count(0)
    assert page.evaluate("document.getElementById('sr-birthday').nextElementSibling.id") == (
        "page-footer"
    )

    form.get_by_label("Adres e-mail").fill("ola@example.com")
    form.get_by_label("Dzień").select_option("29")
    form.get_by_label("Miesiąc").select_option(label="luty")
    form.get_by_role("button", name="Zapisz mnie").click()
    expect(form.get_by_role("status")).to_have_text(
        "Zaznacz zgodę, abyśmy mogli wysłać Ci prezent."
    )
    assert deliveries(factory, "birthday") == []
    consent = form.get_by_label(BIRTHDAY_CONSENT)
    expect(consent).not_to_be_checked()
    consent.check()
    form.get_by_role("button", name="Zapisz mnie").click()
    expect(form.get_by_role("status")).to_have_text(RESTOCK_DONE)

    (signup,) = deliveries(factory, "birthday")
    assert signup == {
        "type": "birthday",
        "contact": {"email": "ola@example.com"},
        "birthday": {"month": 2, "day": 29},
        "consent": {"email": True},
        "consent_text_version": "widget-birthday-1-pl",
    }
    # Signed up: this browser is not asked again.
    page.reload()
    page.wait_for_function("window.__srWidget === 1")
    page.wait_for_timeout(300)
    expect(page.locator("#sr-birthday")).to_have_count(0)
    assert page.context.cookies() == []


def test_the_basket_gets_no_birthday_block_of_our_choosing(
    page: Page, origins: Origins, factory, settings, clock
):
    shop = shop_at(origins, factory, settings, clock, birthday_form=True)
    page.goto(origins.page("shoper-storefront/basket.html", widget_src(origins, shop)))
    expect(page.locator("#sr-consent")).to_be_attached()  # the widget ran
    page.wait_for_timeout(300)
    expect(page.locator("#sr-birthday")).to_have_count(0)


def test_an_english_page_gets_the_forms_in_english(
    page: Page, origins: Origins, factory, settings, clock
):
    shop = shop_at(origins, factory, settings, clock, birthday_form=True)
    page.goto(origins.page("shoper-storefront/home-en.html", widget_src(origins, shop)))
    form = page.locator("#sr-birthday")
    expect(form.locator(".sr-title")).to_have_text("A birthday gift")
    expect(form.get_by_label("E-mail address")).to_be_visible()
    expect(form.get_by_label("Month")).to_contain_text("February")
    form.get_by_label("E-mail address").fill("ola@example.com")
    form.get_by_label("Day", exact=True).select_option("3")
    form.get_by_label("Month").select_option(label="May")
    form.get_by_label(
        re.compile(r"^I'd like to receive e-mails from the shop with birthday")
    ).check()
    form.get_by_role("button", name="Sign me up").click()
    expect(form.get_by_role("status")).to_have_text(
        "If we send you a request to confirm your address, click the link in that message."
    )
    (signup,) = deliveries(factory, "birthday")
    assert signup["consent_text_version"] == "widget-birthday-1-en"


# --- a reminder's link --------------------------------------------------------------------------


def test_a_reminders_link_refills_an_empty_basket_and_continues_the_same_cart(
    page: Page, origins: Origins, client, factory, settings, clock, worker
):
    shop = shop_at(origins, factory, settings, clock)
    items = [
        {"product_id": "101", "variant_id": "11", "name": "Kubek", "price": "49.90", "quantity": 3}
    ]
    abandoned = cart_snapshot("cart-from-yesterday", at=clock.now - timedelta(hours=2), items=items)
    assert post_cart(client, shop, abandoned, headers={"Origin": origins.shop}).status_code == 202
    worker.tick(clock.now)
    with factory() as session:
        token = session.scalars(select(Cart)).one().token

    page.goto(
        origins.page("shoper-storefront/basket.html", widget_src(origins, shop), sr_cart=token)
    )

    page.wait_for_function("__shop.addItemCalls.length === 1")
    assert page.evaluate("__shop.addItemCalls") == [
        {
            "variantId": 11,
            "quantity": 3,
            "variantOptions": {},
            "showAddedModal": False,
            "bundleItems": [],
        }
    ]
    latest = wait_for(lambda: deliveries(factory, "cart")[1:], "the refilled basket's snapshot")
    assert [b["cart_id"] for b in latest] == ["cart-from-yesterday"]
    assert_items(latest[0], {"101": 3})


# --- the consent tick: this page, this cart, this address -----------------------------------


def storage(page: Page) -> str:
    return page.evaluate("JSON.stringify(window.localStorage)")


def test_a_tick_is_not_kept_for_the_next_page_or_the_next_shopper(
    page: Page, origins: Origins, factory, settings, clock, worker
):
    shop = shop_at(origins, factory, settings, clock)
    src = widget_src(origins, shop)
    page.goto(origins.page("shoper-storefront/basket.html", src, basket="basket-anna"))
    page.get_by_role("button", name="Dodaj kubek").click()
    page.get_by_label("E-mail", exact=True).fill("anna@example.com")
    page.get_by_label(CONSENT_TEXT).check()
    page.keyboard.press("Tab")
    snapshot_with_consent(factory)
    assert "tick" not in storage(page)
    page.goto("about:blank")
    worker.tick(clock.now)

    # The next page of the same checkout: the box is empty, and nothing claims the tick again
    # (we hold it for this cart already).
    page.goto(origins.page("shoper-storefront/basket.html", src, basket="basket-anna"))
    expect(page.get_by_label(CONSENT_TEXT)).not_to_be_checked()
    before = len(deliveries(factory, "cart"))
    page.get_by_role("button", name="Dodaj talerz").click()
    again = wait_for(lambda: deliveries(factory, "cart")[before:], "the next page's snapshot")
    assert again[-1]["cart_id"] == "basket-anna"
    assert again[-1]["contact"] == {"email": "anna@example.com"}
    assert "consent" not in again[-1] and "consent_text_version" not in again[-1]
    page.goto("about:blank")
    worker.tick(clock.advance(seconds=5))
    with factory() as session:
        cart = session.scalars(select(Cart).where(Cart.platform_cart_id == "basket-anna")).one()
        claims = session.scalars(select(Consent).where(Consent.cart_id == cart.id)).all()
        assert [(c.granted, c.text_version) for c in claims] == [(True, CONSENT_VERSION_PL)]

    # Someone else at this computer, later, with a new basket: an empty box, and nothing of
    # Anna's goes with their cart.
    page.goto(origins.page("shoper-storefront/basket.html", src, basket="basket-bartek"))
    expect(page.get_by_label(CONSENT_TEXT)).not_to_be_checked()
    page.get_by_role("button", name="Dodaj talerz").click()
    page.get_by_label("E-mail", exact=True).fill("bartek@example.com")
    page.keyboard.press("Tab")
    theirs = wait_for(
        lambda: [b for b in deliveries(factory, "cart") if b["cart_id"] == "basket-bartek"
                 and b.get("contact")],
        "the next shopper's snapshot",
    )  # fmt: skip
    assert theirs[-1]["contact"] == {"email": "bartek@example.com"}
    bartek = [b for b in deliveries(factory, "cart") if b["cart_id"] == "basket-bartek"]
    assert all("consent" not in b and "anna" not in json.dumps(b) for b in bartek)


def test_a_tick_speaks_only_for_the_address_beside_which_it_was_given(
    page: Page, origins: Origins, factory, settings, clock
):
    shop = shop_at(origins, factory, settings, clock)
    page.goto(origins.page("shoper-storefront/basket.html", widget_src(origins, shop)))
    page.get_by_role("button", name="Dodaj kubek").click()
    page.get_by_label("E-mail", exact=True).fill("anna@example.com")
    page.get_by_label(CONSENT_TEXT).check()
    # The checkout's "deliver to someone else" part, and a newsletter box in the footer: both
    # e-mail fields, both filled after the tick.
    page.evaluate(
        """() => {
        const part = document.createElement('div');
        part.innerHTML = '<label for="email_2">E-mail odbiorcy</label>' +
          '<input type="email" id="email_2" name="email_2">';
        document.getElementById('checkout').appendChild(part);
        document.querySelector('footer').innerHTML =
          '<label for="nl">Newsletter</label><input type="email" id="nl" name="email">';
      }"""
    )
    page.get_by_label("E-mail odbiorcy").fill("ewa@example.com")
    page.get_by_label("Newsletter").fill("jan@example.com")
    page.keyboard.press("Tab")
    page.wait_for_timeout(600)  # past the widget's debounce: whatever it meant to send, it sent
    page.get_by_role("button", name="Dodaj talerz").click()
    got = wait_for(
        lambda: [b for b in deliveries(factory, "cart") if len(b["items"]) == 2],
        "the snapshot with both products",
    )
    assert (got[-1]["contact"], got[-1]["consent"]) == (
        {"email": "anna@example.com"},
        {"email": True},
    )
    sent = json.dumps(deliveries(factory, "cart"))
    assert "ewa@" not in sent and "jan@" not in sent

    # Another address beside the box takes the tick off: it was not given for that one.
    page.get_by_label("E-mail", exact=True).fill("bartek@example.com")
    page.keyboard.press("Tab")
    expect(page.get_by_label(CONSENT_TEXT)).not_to_be_checked()
    bartek = wait_for(
        lambda: [b for b in deliveries(factory, "cart")
                 if b.get("contact", {}).get("email") == "bartek@example.com"],
        "the snapshot with the new address",
    )  # fmt: skip
    assert all("consent" not in b for b in bartek)


def test_a_tick_given_before_the_address_is_typed_goes_with_that_address(
    page: Page, origins: Origins, factory, settings, clock
):
    shop = shop_at(origins, factory, settings, clock)
    page.goto(origins.page("shoper-storefront/basket.html", widget_src(origins, shop)))
    page.get_by_role("button", name="Dodaj kubek").click()
    page.get_by_label(CONSENT_TEXT).check()
    page.get_by_label("E-mail", exact=True).fill("anna@example.com")
    page.keyboard.press("Tab")

    snapshot = snapshot_with_consent(factory)
    assert snapshot["contact"] == {"email": "anna@example.com"}
    assert (snapshot["consent"], snapshot["consent_text_version"]) == (
        {"email": True},
        CONSENT_VERSION_PL,
    )


def test_an_english_page_shows_the_default_english_text_and_names_its_version_and_language(
    page: Page, origins: Origins, factory, settings, clock
):
    """The merchant wrote only the Polish text: the English page shows our default, whose
    version changes with its words (shop_config.widget)."""
    shop = shop_at(
        origins,
        factory,
        settings,
        clock,
        consent={"pl": CONSENT_TEXT, "n": 3, "version": CONSENT_VERSION},
    )
    page.goto(origins.page("shoper-storefront/en/basket.html", widget_src(origins, shop)))
    page.get_by_role("button", name="Add the mug").click()
    page.get_by_label("E-mail", exact=True).fill("anna@example.com")
    page.get_by_label(shop_config.DEFAULT_CONSENT_TEXT["en"]).check()
    page.keyboard.press("Tab")

    snapshot = snapshot_with_consent(factory)
    with factory() as session:
        version = shop_config.widget(session.get(Shop, shop.id)).consent_version
    mark = shop_config.default_consent_mark(shop_config.DEFAULT_CONSENT_TEXT)
    assert version == f"{CONSENT_VERSION}-default-{mark}"
    assert snapshot["consent_text_version"] == f"{version}-en"


# --- cart keys: a new cart, a new key ---------------------------------------------------------


def test_an_older_template_starts_a_new_cart_key_once_its_cart_was_bought(
    page: Page, origins: Origins, factory, settings, clock, worker
):
    shop = shop_at(origins, factory, settings, clock)
    url = origins.page("shoper-classic/basket.html", widget_src(origins, shop))
    page.goto(url)
    page.get_by_role("button", name="Dodaj kubek").click()
    page.get_by_label("Adres e-mail", exact=True).fill("anna@example.com")
    page.get_by_label(CONSENT_TEXT).check()
    page.keyboard.press("Tab")
    wait_for(lambda: [b for b in deliveries(factory, "cart") if b.get("consent")], "first cart")
    page.goto("about:blank")
    worker.tick(clock.now)
    with factory() as session, session.begin():  # the order webhook closed it
        first = session.scalars(select(Cart)).one()
        first.status, first_id = "ordered", first.platform_cart_id

    # A week later, the same browser: the template's basket is empty, then a new one fills.
    page.goto(url)
    expect(page.get_by_label(CONSENT_TEXT)).not_to_be_checked()
    page.get_by_role("button", name="Dodaj talerz").click()
    page.get_by_label("Adres e-mail", exact=True).fill("bartek@example.com")
    page.keyboard.press("Tab")
    later = wait_for(
        lambda: [b for b in deliveries(factory, "cart")
                 if [i["product_id"] for i in b["items"]] == ["102"] and b.get("contact")],
        "the second cart",
    )  # fmt: skip
    assert later[-1]["cart_id"] != first_id
    assert later[-1]["contact"] == {"email": "bartek@example.com"} and "consent" not in later[-1]
    page.goto("about:blank")
    worker.tick(clock.advance(seconds=5))
    with factory() as session:
        carts = {c.platform_cart_id: c for c in session.scalars(select(Cart))}
    assert carts[first_id].status == "ordered"
    assert [i["product_id"] for i in carts[first_id].items] == ["101"]
    second = carts[later[-1]["cart_id"]]
    assert (second.status, second.email) == ("open", "bartek@example.com")
    assert [i["product_id"] for i in second.items] == ["102"]


def test_after_an_order_on_the_storefront_the_next_basket_starts_without_the_tick(
    page: Page, origins: Origins, factory, settings, clock
):
    shop = shop_at(origins, factory, settings, clock)
    page.goto(origins.page("shoper-storefront/basket.html", widget_src(origins, shop)))
    page.get_by_role("button", name="Dodaj kubek").click()
    page.get_by_label("E-mail", exact=True).fill("anna@example.com")
    page.get_by_label(CONSENT_TEXT).check()
    page.keyboard.press("Tab")
    snapshot_with_consent(factory)

    page.get_by_role("button", name="Zamawiam i płacę").click()  # basket.orderPlaced
    expect(page.get_by_label(CONSENT_TEXT)).not_to_be_checked()
    assert "anna" not in storage(page)


# --- a reminder's link, on someone else's computer ---------------------------------------------


def test_a_reminders_link_continues_its_cart_without_this_browsers_contact_or_tick(
    page: Page, origins: Origins, client, factory, settings, clock, worker
):
    shop = shop_at(origins, factory, settings, clock)
    # Adam used this browser before, and ticked.
    page.goto(origins.page("shoper-storefront/basket.html", widget_src(origins, shop)))
    page.get_by_role("button", name="Dodaj kubek").click()
    page.get_by_label("E-mail", exact=True).fill("adam@example.com")
    page.get_by_label(CONSENT_TEXT).check()
    page.keyboard.press("Tab")
    snapshot_with_consent(factory)
    page.goto("about:blank")
    # Anna's cart, from another device; she opens her reminder here.
    items = [
        {"product_id": "102", "variant_id": "12", "name": "T", "price": "29.90", "quantity": 1}
    ]
    annas = cart_snapshot(
        "annas-cart", at=clock.now - timedelta(hours=2), items=items, email="anna@example.com"
    )
    assert post_cart(client, shop, annas, headers={"Origin": origins.shop}).status_code == 202
    worker.tick(clock.now)
    with factory() as session:
        token = (
            session.scalars(select(Cart).where(Cart.platform_cart_id == "annas-cart")).one().token
        )

    page.goto(
        origins.page("shoper-storefront/basket.html", widget_src(origins, shop), sr_cart=token)
    )

    restored = wait_for(
        lambda: [b for b in deliveries(factory, "cart") if b["cart_id"] == "annas-cart"][1:],
        "the restored cart's snapshot",
    )
    assert all("contact" not in b and "consent" not in b for b in restored)
    # The token left the address bar (shared links, analytics), the rest of it stayed.
    assert "sr_cart" not in page.url and "widget=" in page.url
    expect(page.get_by_label(CONSENT_TEXT)).not_to_be_checked()
    page.goto("about:blank")
    worker.tick(clock.advance(seconds=5))
    with factory() as session:
        cart = session.scalars(select(Cart).where(Cart.platform_cart_id == "annas-cart")).one()
        assert (cart.email, cart.token) == ("anna@example.com", token)
