"""The widget's server side through the Flask test client: `widget.js` (headers, the shop's
public settings laid in, nothing secret, 404s), the Ecwid loader, the error reports, the cart a
reminder's link restores, the widget section of the settings form, and the worker noting when
the widget was first seen. The script's behaviour in a browser is tests/browser/test_widget_*."""

from __future__ import annotations

import gzip
import json
import logging
import re
from dataclasses import replace
from datetime import timedelta
from typing import Any
from urllib.parse import quote

import pytest
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from limits import parse as parse_limit
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from shoper_retention import shop_config
from shoper_retention.app import create_app
from shoper_retention.credentials import CredentialBox
from shoper_retention.errors import BadInput
from shoper_retention.ingest import inbox
from shoper_retention.models import Cart, InboxDelivery, Shop
from shoper_retention.settings import Settings
from shoper_retention.web import settings_form
from shoper_retention.web.rate_limits import STOREFRONT_PER_IP
from shoper_retention.web.widget import ERRORS_PER_SHOP, ERRORS_PER_SHOP_LIMIT
from tests.fuzz.hostile import any_text, deep_bodies, json_bodies
from tests.support import (
    Clock,
    ShopHandle,
    cart_snapshot,
    make_shop,
    order_payload,
    post_cart,
    post_webhook,
    settings_form_fields,
)

SHOP_ORIGIN = "https://sklep.example"
CONFIG = re.compile(r"\}\((\{.*\})\)\);\s*$", re.DOTALL)  # the IIFE's argument, at the end


@pytest.fixture
def shop(factory: sessionmaker[Session], settings: Settings, clock: Clock) -> ShopHandle:
    return make_shop(factory, settings, now=clock.now)


def stored(factory: sessionmaker[Session], shop_id: int) -> Shop:
    with factory() as session:
        row = session.get(Shop, shop_id)
        assert row is not None
        return row


def change(factory: sessionmaker[Session], shop_id: int, **fields: Any) -> None:
    """Columns `make_shop` sets itself (the platform, the currency)."""
    with factory() as session, session.begin():
        row = session.get(Shop, shop_id)
        assert row is not None
        for name, value in fields.items():
            setattr(row, name, value)


def served_config(body: str) -> dict[str, Any]:
    match = CONFIG.search(body)
    assert match, body[-300:]
    return json.loads(match.group(1))


# --- widget.js -------------------------------------------------------------------------


def test_the_widget_is_javascript_cached_for_five_minutes_with_an_etag(
    client: FlaskClient, shop: ShopHandle
) -> None:
    answer = client.get(f"/storefront/{shop.public_key}/widget.js")

    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == "application/javascript; charset=utf-8"
    assert answer.headers["Cache-Control"] == "public, max-age=300"
    etag = answer.headers["ETag"]
    assert etag
    again = client.get(f"/storefront/{shop.public_key}/widget.js", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""


def test_the_widget_carries_the_shops_public_settings_and_nothing_secret(
    client: FlaskClient, factory: sessionmaker[Session], settings: Settings, clock: Clock
) -> None:
    shop = make_shop(
        factory,
        settings,
        now=clock.now,
        language="en_GB",
        smsapi_token_enc=CredentialBox(settings.secret_key).seal("sms-secret-token"),
        overrides={
            "widget": {
                "restock_form": True,
                "consent": {"pl": "Zgoda </script>", "n": 2, "version": "v2-2026-03-01"},
            }
        },
    )
    change(factory, shop.id, currency="EUR")
    row = stored(factory, shop.id)

    body = client.get(f"/storefront/{shop.public_key}/widget.js").get_data(as_text=True)

    config = served_config(body)
    assert config["key"] == shop.public_key
    assert config["base"] == settings.public_url
    assert (config["lang"], config["currency"], config["platform"]) == ("en", "EUR", "shoper")
    assert (config["restock"], config["birthday"]) == (True, False)
    assert (config["restockVersion"], config["birthdayVersion"]) == (
        "widget-restock-2",
        "widget-birthday-1",
    )
    # The English text is our default: the version names its words too.
    mark = shop_config.default_consent_mark(shop_config.DEFAULT_CONSENT_TEXT)
    assert config["consent"]["version"] == f"v2-2026-03-01-default-{mark}"
    assert config["consent"]["text"]["pl"] == "Zgoda </script>"
    assert config["consent"]["text"]["en"] == shop_config.DEFAULT_CONSENT_TEXT["en"]
    assert "</script>" not in body  # escaped: the text can never end a script
    for secret in (
        shop.webhook_secret,
        shop.report_token,
        shop.ref,
        row.platform_shop_id,
        row.webhook_secret_enc,
        row.smsapi_token_enc,
        settings.secret_key,
        "sms-secret-token",
    ):
        assert secret and secret not in body


def test_the_widget_is_under_ten_kilobytes_gzipped(client: FlaskClient, shop: ShopHandle) -> None:
    body = client.get(f"/storefront/{shop.public_key}/widget.js").data
    assert len(gzip.compress(body, 9)) < 10 * 1024
    # What shoppers download is the code: the source's comments stay on our side.
    assert b"\n//" not in body and b"developers.shoper.pl" not in body


def test_an_unknown_key_or_an_uninstalled_shop_gets_a_404_script_that_does_nothing(
    client: FlaskClient, factory: sessionmaker[Session], settings: Settings, clock: Clock
) -> None:
    gone = make_shop(factory, settings, now=clock.now, status="uninstalled")
    for key in ("no-such-key", gone.public_key):
        answer = client.get(f"/storefront/{key}/widget.js")
        assert answer.status_code == 404
        assert answer.headers["Content-Type"] == "application/javascript; charset=utf-8"
        assert answer.get_data(as_text=True).startswith("// ")
        assert answer.get_data(as_text=True).count("\n") == 1  # a comment and nothing else


def test_an_ecwid_shops_widget_knows_the_app_client_id_and_ecwid_api(
    factory: sessionmaker[Session], settings: Settings, clock: Clock, http: Any
) -> None:
    ecwid = replace(settings, ecwid_client_id="retention-app", ecwid_client_secret="s" * 32)
    app = create_app(ecwid, clock=clock, http=http, factory=factory)
    try:
        shop = make_shop(factory, ecwid, now=clock.now)
        change(factory, shop.id, platform="ecwid")
        body = app.test_client().get(f"/storefront/{shop.public_key}/widget.js")
        config = served_config(body.get_data(as_text=True))
        assert config["platform"] == "ecwid"
        assert config["ecwid"] == {"clientId": "retention-app", "api": ecwid.ecwid_api_url}
        assert "s" * 32 not in body.get_data(as_text=True)
    finally:
        app.extensions["shoper_retention"].inbox_writer.dispose()


# --- the Ecwid loader ----------------------------------------------------------------------


def test_the_ecwid_loader_names_the_app_and_our_base_url(
    factory: sessionmaker[Session], settings: Settings, clock: Clock, http: Any
) -> None:
    ecwid = replace(settings, ecwid_client_id="retention-app", ecwid_client_secret="s" * 32)
    app = create_app(ecwid, clock=clock, http=http, factory=factory)
    try:
        answer = app.test_client().get("/ecwid/storefront.js")
        assert answer.status_code == 200
        assert answer.headers["Content-Type"] == "application/javascript; charset=utf-8"
        assert answer.headers["Cache-Control"] == "public, max-age=300" and answer.headers["ETag"]
        assert served_config(answer.get_data(as_text=True)) == {
            "clientId": "retention-app",
            "base": settings.public_url,
        }
        assert "s" * 32 not in answer.get_data(as_text=True)
    finally:
        app.extensions["shoper_retention"].inbox_writer.dispose()


def test_without_ecwid_configured_the_loader_is_a_404(client: FlaskClient) -> None:
    answer = client.get("/ecwid/storefront.js")
    assert answer.status_code == 404 and answer.get_data(as_text=True).startswith("// ")


# --- error reports ---------------------------------------------------------------------------


def report(client: FlaskClient, key: str, body: Any, **headers: str) -> Any:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return client.post(
        f"/storefront/{key}/errors",
        data=data,
        headers={"Content-Type": "text/plain", "Origin": SHOP_ORIGIN, **headers},
    )


def test_an_error_report_is_logged_without_the_shoppers_details_and_answered_204(
    client: FlaskClient, shop: ShopHandle, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="shoper_retention.web.widget")
    answer = report(
        client,
        shop.public_key,
        {
            "where": "getBasketInfo",
            "message": "cannot read anna.nowak@example.com of +48 600 100 200",
            "stack": "at https://sklep.example/basket?mail=anna.nowak@example.com\n at x.js:1",
        },
    )

    assert answer.status_code == 204
    assert answer.headers["Access-Control-Allow-Origin"] == SHOP_ORIGIN
    (record,) = [r for r in caplog.records if "widget error" in r.getMessage()]
    line = record.getMessage()
    assert f"shop {shop.id}" in line and "getBasketInfo" in line and "cannot read" in line
    assert "anna" not in line and "600" not in line and "example.com" not in line
    assert "mail=" not in line and "\n" not in line


def test_error_reports_refuse_a_foreign_origin_an_unknown_shop_and_a_bad_body(
    client: FlaskClient, shop: ShopHandle, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="shoper_retention.web.widget")
    ok = {"where": "x", "message": "y"}
    assert report(client, shop.public_key, ok, Origin="https://evil.example").status_code == 403
    assert report(client, "no-such-key", ok).status_code == 404
    assert report(client, shop.public_key, b"not json").status_code == 400
    big = report(client, shop.public_key, {"message": "x" * 5000})
    assert big.status_code == 400 and big.json["error"] == "too_large"
    assert not [r for r in caplog.records if "widget error" in r.getMessage()]


def test_error_reports_are_limited_per_shop(client: FlaskClient, shop: ShopHandle) -> None:
    per_shop = int(ERRORS_PER_SHOP_LIMIT.split("/")[0])
    for n in range(per_shop):
        # From many addresses (a broken template on every shopper's page).
        extra = {"REMOTE_ADDR": f"10.0.{n // 250}.{n % 250}"}
        answer = client.post(
            f"/storefront/{shop.public_key}/errors",
            data=b'{"where": "x"}',
            headers={"Origin": SHOP_ORIGIN},
            environ_base=extra,
        )
        assert answer.status_code == 204
    over = client.post(
        f"/storefront/{shop.public_key}/errors",
        data=b'{"where": "x"}',
        headers={"Origin": SHOP_ORIGIN},
        environ_base={"REMOTE_ADDR": "10.9.9.9"},
    )
    assert over.status_code == 429 and over.headers["Retry-After"]


def test_an_error_report_can_neither_drive_a_terminal_nor_hide_an_escaped_address(
    client: FlaskClient, shop: ShopHandle, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="shoper_retention.web.widget")
    answer = report(
        client,
        shop.public_key,
        {
            "where": "x\u202ey",
            "message": "ok \u009b2J\u009b31m\u0085 FAKE: shop 99 paid \u202etxet\u2066\u200f",
            "stack": "at a%40b.pl, jan.kowalski%2540gmail.com, ewa%40EXAMPLE.com",
        },
    )

    assert answer.status_code == 204
    (record,) = [r for r in caplog.records if "widget error" in r.getMessage()]
    line = record.getMessage()
    controls = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
    assert not controls.search(line), repr(line)
    assert "FAKE: shop 99 paid" in line and "2J" in line  # the words stay, readable
    for part in ("a@b", "kowalski", "gmail", "ewa", "EXAMPLE", "%40"):
        assert part not in line, (part, line)


def test_reports_from_elsewhere_are_refused_before_they_count_against_the_shop(
    client: FlaskClient, shop: ShopHandle, caplog: pytest.LogCaptureFixture
) -> None:
    """A stranger (no Origin: curl; another site's Origin) must not use up the shop's budget
    and silence the reports of its real pages."""
    caplog.set_level(logging.WARNING, logger="shoper_retention.web.widget")
    per_shop = int(ERRORS_PER_SHOP_LIMIT.split("/")[0])
    for n in range(per_shop + 5):
        foreign = {"Origin": "https://evil.example"} if n % 2 else {}
        answer = client.post(
            f"/storefront/{shop.public_key}/errors",
            data=b'{"where": "x"}',
            headers={"Content-Type": "text/plain", **foreign},
            environ_base={"REMOTE_ADDR": f"10.1.{n // 250}.{n % 250}"},
        )
        assert answer.status_code == 403
    assert not [r for r in caplog.records if "widget error" in r.getMessage()]

    real = report(client, shop.public_key, {"where": "getBasketInfo", "message": "broken"})
    assert real.status_code == 204


def test_a_preflight_for_error_reports_is_answered_for_the_shops_origin_only(
    client: FlaskClient, shop: ShopHandle
) -> None:
    path = f"/storefront/{shop.public_key}/errors"
    good = client.options(path, headers={"Origin": SHOP_ORIGIN})
    assert good.status_code == 204 and good.headers["Access-Control-Allow-Origin"] == SHOP_ORIGIN
    assert client.options(path, headers={"Origin": "https://evil.example"}).status_code == 403


# --- the cart a reminder restores --------------------------------------------------------------


def test_a_reminders_cart_token_gives_back_its_cart_id_and_items(
    client: FlaskClient, worker: Any, factory: sessionmaker[Session], shop: ShopHandle, clock: Clock
) -> None:
    items = [
        {"product_id": "101", "variant_id": "7", "name": "Kubek", "price": "49.90", "quantity": 2},
        {"product_id": "102", "name": "Talerz", "price": "19.90", "quantity": 1},
    ]
    assert (
        post_cart(client, shop, cart_snapshot("cart-9", at=clock.now, items=items)).status_code
        == 202
    )
    worker.tick(clock.now)
    with factory() as session:
        cart = session.scalars(select(Cart)).one()

    answer = client.get(
        f"/storefront/{shop.public_key}/carts/{cart.token}", headers={"Origin": SHOP_ORIGIN}
    )

    assert answer.status_code == 200
    assert answer.headers["Access-Control-Allow-Origin"] == SHOP_ORIGIN
    assert answer.headers["Cache-Control"] == "no-store"
    assert answer.json == {
        "cart_id": "cart-9",
        "items": [
            {"product_id": "101", "variant_id": "7", "quantity": 2},
            {"product_id": "102", "variant_id": "", "quantity": 1},
        ],
    }


def test_a_token_of_another_shop_or_of_a_closed_cart_restores_nothing(
    client: FlaskClient,
    worker: Any,
    factory: sessionmaker[Session],
    settings: Settings,
    shop: ShopHandle,
    clock: Clock,
) -> None:
    other = make_shop(factory, settings, now=clock.now)
    assert post_cart(client, shop, cart_snapshot("cart-1", at=clock.now)).status_code == 202
    worker.tick(clock.now)
    with factory() as session:
        token = session.scalars(select(Cart)).one().token
    assert client.get(f"/storefront/{other.public_key}/carts/{token}").status_code == 404
    assert client.get(f"/storefront/{shop.public_key}/carts/not-a-token").status_code == 404
    # The shopper bought it: nothing is left to restore.
    assert (
        post_webhook(client, shop, "order.create", order_payload(at=clock.now)).status_code == 202
    )
    worker.tick(clock.advance(minutes=1))
    with factory() as session:
        assert session.scalars(select(Cart)).one().status == "ordered"
    assert client.get(f"/storefront/{shop.public_key}/carts/{token}").status_code == 404


def test_a_cart_taken_over_by_another_address_gets_a_new_token(
    client: FlaskClient, worker: Any, factory: sessionmaker[Session], shop: ShopHandle, clock: Clock
) -> None:
    """The first address's reminder links must not open the cart once someone else's run
    started on it (a token is read off a shared link or a browser's history)."""
    assert post_cart(client, shop, cart_snapshot("cart-1", at=clock.now)).status_code == 202
    worker.tick(clock.now)
    with factory() as session:
        first = session.scalars(select(Cart)).one().token
    other = cart_snapshot(
        "cart-1", at=clock.advance(minutes=5), email="ewa@example.com", phone=None
    )
    assert post_cart(client, shop, other).status_code == 202
    worker.tick(clock.now)
    with factory() as session:
        cart = session.scalars(select(Cart)).one()
    assert (cart.email, cart.run) == ("ewa@example.com", 2) and cart.token != first
    assert client.get(f"/storefront/{shop.public_key}/carts/{first}").status_code == 404
    assert client.get(f"/storefront/{shop.public_key}/carts/{cart.token}").status_code == 200


# --- the settings form's widget section ---------------------------------------------------------


def widget_form(**changes: str | None) -> dict[str, str]:
    fields = {
        "widget__section": "1",
        "widget_consent_pl": shop_config.DEFAULT_CONSENT_TEXT["pl"],
        "widget_consent_en": shop_config.DEFAULT_CONSENT_TEXT["en"],
    }
    fields.update({k: v for k, v in changes.items() if v is not None})
    return settings_form_fields(**fields)


def apply_form(
    factory: sessionmaker[Session], settings: Settings, shop_id: int, form: Any, now: Any
):
    with factory() as session, session.begin():
        row = session.get(Shop, shop_id)
        assert row is not None
        settings_form.apply(session, row, form, CredentialBox(settings.secret_key), now)


def test_switches_are_stored_and_an_unchanged_text_keeps_its_version(
    factory: sessionmaker[Session], settings: Settings, shop: ShopHandle, clock: Clock
) -> None:
    apply_form(factory, settings, shop.id, widget_form(widget_restock="on"), clock.now)

    widget = shop_config.widget(stored(factory, shop.id))
    assert (widget.restock_form, widget.birthday_form) == (True, False)
    assert widget.consent_version == shop_config.default_consent_version()
    assert widget.consent_text == shop_config.DEFAULT_CONSENT_TEXT
    # The form showed our default and it came back unchanged: it stays ours, not a copy.
    consent = shop_config.merged(stored(factory, shop.id).settings)["widget"]["consent"]
    assert (consent["pl"], consent["en"]) == ("", "")


def test_a_changed_consent_text_gets_the_next_version_and_the_old_one_is_kept(
    factory: sessionmaker[Session], settings: Settings, shop: ShopHandle, clock: Clock
) -> None:
    # 23:30 UTC on 3 March is already 4 March in Warsaw: the version carries the shop's date.
    late = clock.now.replace(hour=23, minute=30)
    text = "Zgadzam się\n  na e-maile   od sklepu."
    apply_form(factory, settings, shop.id, widget_form(widget_consent_pl=text), late)

    widget = shop_config.widget(stored(factory, shop.id))
    assert widget.consent_text["pl"] == "Zgadzam się na e-maile od sklepu."
    mark = shop_config.default_consent_mark(shop_config.DEFAULT_CONSENT_TEXT)
    assert widget.consent_version == f"v2-2026-03-04-default-{mark}"  # English is ours
    history = shop_config.merged(stored(factory, shop.id).settings)["widget"]["consent"]["history"]
    assert history == [
        {"version": shop_config.default_consent_version(), **shop_config.DEFAULT_CONSENT_TEXT}
    ]

    apply_form(factory, settings, shop.id, widget_form(widget_consent_pl=text), late)  # again
    assert shop_config.widget(stored(factory, shop.id)).consent_version == widget.consent_version
    later = late + timedelta(days=2)
    both = widget_form(widget_consent_pl=text, widget_consent_en="I agree.")
    apply_form(factory, settings, shop.id, both, later)
    assert shop_config.widget(stored(factory, shop.id)).consent_version == "v3-2026-03-06"


def test_a_consent_version_changes_whenever_our_default_words_shown_with_it_change(
    factory: sessionmaker[Session],
    settings: Settings,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    untouched = make_shop(factory, settings, now=clock.now)
    polish_only = make_shop(
        factory,
        settings,
        now=clock.now,
        overrides={"widget": {"consent": {"pl": "Zgoda.", "n": 2, "version": "v2-2026-03-01"}}},
    )
    own = make_shop(
        factory,
        settings,
        now=clock.now,
        overrides={
            "widget": {"consent": {"pl": "Zgoda.", "en": "I agree.", "n": 2, "version": "v2-x"}}
        },
    )
    shops = [stored(factory, s.id) for s in (untouched, polish_only, own)]
    before = [shop_config.widget(row).consent_version for row in shops]

    new_default = {**shop_config.DEFAULT_CONSENT_TEXT, "en": "Other words of ours."}
    monkeypatch.setattr(shop_config, "DEFAULT_CONSENT_TEXT", new_default)
    after = [shop_config.widget(row).consent_version for row in shops]

    assert after[0] != before[0] and after[0].startswith("v1-default-")
    assert after[1] != before[1] and after[1].startswith("v2-2026-03-01-default-")
    assert after[2] == before[2] == "v2-x"  # none of our words shown: nothing moved


@pytest.mark.parametrize("text", ["x" * 501, "Zgoda\x00"])
def test_a_consent_text_too_long_or_with_control_characters_is_refused(
    factory: sessionmaker[Session], settings: Settings, shop: ShopHandle, clock: Clock, text: str
) -> None:
    before = stored(factory, shop.id).settings
    with pytest.raises(BadInput) as refused:
        apply_form(factory, settings, shop.id, widget_form(widget_consent_en=text), clock.now)
    assert refused.value.field == "widget_consent_en"
    assert stored(factory, shop.id).settings == before


def test_a_form_without_the_widget_section_leaves_the_widget_as_it_was(
    factory: sessionmaker[Session], settings: Settings, shop: ShopHandle, clock: Clock
) -> None:
    apply_form(factory, settings, shop.id, widget_form(widget_birthday="on"), clock.now)
    apply_form(factory, settings, shop.id, settings_form_fields(), clock.now)
    assert shop_config.widget(stored(factory, shop.id)).birthday_form is True


def test_the_shops_other_addresses_are_stored_as_origins_and_its_pages_there_are_answered(
    client: FlaskClient, factory: sessionmaker[Session], settings: Settings, shop: ShopHandle,
    clock: Clock,
) -> None:  # fmt: skip
    www = "https://www.sklep.example"
    snapshot = cart_snapshot("c-1", at=clock.now)
    assert post_cart(client, shop, snapshot, headers={"Origin": www}).status_code == 403

    typed = (
        "https://WWW.sklep.example/\n https://drugi-sklep.example:8443, https://www.sklep.example"
    )
    apply_form(factory, settings, shop.id, widget_form(widget_origins=typed), clock.now)

    assert shop_config.storefront_origins(stored(factory, shop.id)) == [
        www,
        "https://drugi-sklep.example:8443",
    ]
    answer = post_cart(client, shop, snapshot, headers={"Origin": www})
    assert answer.status_code == 202 and answer.headers["Access-Control-Allow-Origin"] == www
    assert (
        client.options(f"/storefront/{shop.public_key}/errors", headers={"Origin": www}).headers[
            "Access-Control-Allow-Origin"
        ]
        == www
    )
    # Emptied again: that address is a stranger once more.
    apply_form(factory, settings, shop.id, widget_form(widget_origins=""), clock.now)
    again = cart_snapshot("c-2", at=clock.now)
    assert post_cart(client, shop, again, headers={"Origin": www}).status_code == 403


@pytest.mark.parametrize(
    "typed",
    [
        "http://www.sklep.example",  # not https
        "https://www.sklep.example/koszyk",  # a page, not a site
        "https://user@www.sklep.example",
        "https://www.sklep.example?x=1",
        "www.sklep.example",
        "https://localhost",
        "https://www.sklep.example:99999",
        " ".join(f"https://s{n}.sklep.example" for n in range(11)),
    ],
)
def test_an_other_address_that_is_not_one_https_site_is_refused(
    factory: sessionmaker[Session], settings: Settings, shop: ShopHandle, clock: Clock, typed: str
) -> None:
    before = stored(factory, shop.id).settings
    with pytest.raises(BadInput) as refused:
        apply_form(factory, settings, shop.id, widget_form(widget_origins=typed), clock.now)
    assert refused.value.field == "widget_origins"
    assert stored(factory, shop.id).settings == before


# --- when the shop's pages were last heard from --------------------------------------------------


def test_the_first_processed_storefront_delivery_marks_the_widget_seen_and_the_latest_moves_hourly(
    client: FlaskClient, worker: Any, factory: sessionmaker[Session], shop: ShopHandle, clock: Clock
) -> None:
    assert (
        post_webhook(client, shop, "order.create", order_payload(at=clock.now)).status_code == 202
    )
    worker.tick(clock.now)
    assert stored(factory, shop.id).widget_seen_at is None  # a webhook is not the widget

    first = clock.advance(minutes=5)
    assert post_cart(client, shop, cart_snapshot("c-1", at=first)).status_code == 202
    worker.tick(clock.advance(minutes=1))
    row = stored(factory, shop.id)
    assert (row.widget_seen_at, row.widget_last_seen_at) == (first, first)  # when it arrived

    soon = clock.advance(minutes=20)  # within the hour: no write for it
    assert post_cart(client, shop, cart_snapshot("c-2", at=soon)).status_code == 202
    worker.tick(clock.advance(minutes=1))
    assert stored(factory, shop.id).widget_last_seen_at == first

    later = clock.advance(hours=2)
    assert post_cart(client, shop, cart_snapshot("c-3", at=later)).status_code == 202
    worker.tick(clock.advance(minutes=1))
    row = stored(factory, shop.id)
    assert (row.widget_seen_at, row.widget_last_seen_at) == (first, later)


def test_a_storefront_delivery_that_failed_says_nothing_about_the_widget(
    client: FlaskClient, worker: Any, factory: sessionmaker[Session], shop: ShopHandle, clock: Clock
) -> None:
    # Junk in the inbox (nothing a browser on the shop's pages sent): it fails.
    with factory() as session, session.begin():
        session.add(
            InboxDelivery(
                **inbox.new_row(
                    shop_id=shop.id,
                    source="storefront",
                    event_name="cart",
                    dedupe_key="junk",
                    body=b'{"type": "cart"}',
                    headers={},
                    now=clock.now,
                )
            )
        )
    # A real snapshot, for a shop uninstalled before the worker got to it: ignored, failed.
    assert post_cart(client, shop, cart_snapshot("c-1", at=clock.now)).status_code == 202
    change(factory, shop.id, status="uninstalled")
    worker.tick(clock.advance(minutes=1))

    with factory() as session:
        statuses = session.scalars(select(InboxDelivery.status)).all()
    assert statuses == ["failed", "failed"]
    row = stored(factory, shop.id)
    assert (row.widget_seen_at, row.widget_last_seen_at) == (None, None)


def test_the_settings_page_says_what_arrived_from_the_shops_pages_and_gives_the_snippet(
    client: FlaskClient, worker: Any, factory: sessionmaker[Session], settings: Settings,
    shop: ShopHandle, clock: Clock,
) -> None:  # fmt: skip
    links = client.application.extensions["shoper_retention"].links

    def page() -> str:
        token = links.settings_form_token(shop.id, clock.now)
        answer = client.get(f"/shoper/app?t={token}")
        assert answer.status_code == 200
        return answer.get_data(as_text=True)

    before = page()
    assert (
        "Nie dotarło jeszcze żadne zdarzenie ze stron sklepu – sprawdź, czy kod jest wklejony."
        in before
    )
    snippet = (
        f"&lt;script async src=&#34;{settings.public_url}/storefront/{shop.public_key}"
        "/widget.js&#34;&gt;&lt;/script&gt;"
    )
    assert snippet in before
    assert post_cart(client, shop, cart_snapshot("c-1", at=clock.now)).status_code == 202
    worker.tick(clock.now)
    assert (
        post_cart(client, shop, cart_snapshot("c-2", at=clock.advance(hours=2))).status_code == 202
    )
    worker.tick(clock.now)
    seen = page()
    # Shop time (Warsaw); no claim that it works now, only what arrived when.
    assert (
        "Pierwsze zdarzenie ze stron sklepu dotarło 2026-03-03 09:00, a ostatnie 2026-03-03 11:00."
        in seen
    )
    assert "działa" not in seen.split('id="widget-status"')[1].split("</p>")[0]

    clock.advance(days=8)  # nothing since: the page warns
    assert "Od ponad 7 dni ze stron sklepu nie dotarło nic nowego" in page()


# --- hostile input -------------------------------------------------------------------------------


@hypothesis_settings(
    max_examples=150,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(body=st.binary(max_size=5000) | json_bodies() | deep_bodies, token=any_text)
def test_no_error_report_and_no_cart_token_gets_a_5xx(
    client: FlaskClient, shop: ShopHandle, body: bytes, token: str
) -> None:
    limits = client.application.extensions["shoper_retention"].limits
    limits.items[ERRORS_PER_SHOP] = limits.items[STOREFRONT_PER_IP] = parse_limit("1000000/minute")

    answer = report(client, shop.public_key, body)
    assert answer.status_code in (204, 400), answer.data[:200]
    if answer.status_code == 400:
        assert answer.json["error"] in ("invalid", "too_large")

    path_token = quote(token.encode("utf-8", "surrogatepass"), safe="")
    restored = client.get(
        f"/storefront/{shop.public_key}/carts/{path_token}", headers={"Origin": SHOP_ORIGIN}
    )
    assert restored.status_code == 404 and restored.json["error"] == "not_found"
