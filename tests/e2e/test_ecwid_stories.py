"""The stories of the Shoper e2e tests, told on Ecwid, through Ecwid's HTTP contract only: the
store installs by opening the app (the admin iframe's encrypted payload), Ecwid's signed
webhooks are POSTed to /ecwid/webhooks, and every fact is read back from a fake Ecwid on
loopback (tests/fakes/ecwid_server.py); the worker's `tick(now)` moves the clock, and what the
shopper receives is read from the dev outbox.

(a) an unfinished order's marketing box is confirmed by the shopper first (confirmed opt-in),
then it is reminded of, its link fills Ecwid's cart, a paid order ends it;
(b) a body changed in transit is never believed: the API's cart is; (c) a cart the merchant
hid stops its reminders; (d) back in stock from `product.updated`; (e) a birthday with a
coupon created at Ecwid; (f) an uninstall Ecwid confirms, and one it does not; (g) Ecwid
down: deliveries wait and none is lost; (h) a story through `shoper-retention tick --now`."""

from __future__ import annotations

import html
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
import requests
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from shoper_retention import shop_config
from shoper_retention.models import (
    Cart,
    Consent,
    Contact,
    DevOutboxEntry,
    InboxDelivery,
    Order,
    Shop,
)
from shoper_retention.settings import Settings
from tests.fakes.ecwid_server import FakeEcwid, sample_cart, sample_order, sample_product
from tests.platforms.ecwid_support import (
    CLIENT_ID,
    CLIENT_SECRET,
    STORE_ID,
    TOKEN,
    encrypted_payload,
    inbox_rows,
    post_webhook,
    webhook,
    with_ecwid,
)
from tests.support import Clock, messages, outbox_entries

STORE_URL = f"https://store{STORE_ID}.company.site"  # the fake profile's generalInfo.storeUrl
CART_ID = "6626E60A-A6F9-4CD5-8230-43D5F162E0CD"
KUBEK, CZAJNIK = 66722483, 692730761
ANNA = "anna.kowalska@example.com"  # the cart's "Anna.Kowalska@Example.com", canonical
JAN = "jan@example.com"
MALLORY = "mallory@evil.example"
# A stalled Ecwid is a timeout of the test's transport, not a ten-second wait per attempt.
TRANSPORT_TIMEOUT = 0.5
CLI = Path(sys.executable).parent / "shoper-retention"
CLICK = re.compile(r"https://retention\.example/c/([\w.-]+)")
CONFIRM = re.compile(r"https://retention\.example/k/([\w.-]+)")
UNIQUE_CODE = re.compile(r"\bWRC[A-Z2-9]{8}\b")
CART_RECOVERY = {"cart_recovery": {"enabled": True}}
RED = [{"name": "Kolor", "value": "Czerwony", "type": "CHOICE"}]  # an item's chosen option


class ShortTimeouts(requests.Session):
    """The app's and the worker's HTTP session, with every timeout cut to TRANSPORT_TIMEOUT."""

    def request(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        kwargs["timeout"] = min(kwargs.get("timeout") or TRANSPORT_TIMEOUT, TRANSPORT_TIMEOUT)
        return super().request(*args, **kwargs)


@pytest.fixture
def http() -> requests.Session:
    return ShortTimeouts()


@pytest.fixture
def ecwid() -> Iterator[FakeEcwid]:
    with FakeEcwid(CLIENT_ID, CLIENT_SECRET) as fake:
        fake.add_store(STORE_ID, TOKEN)
        fake.put_product(STORE_ID, sample_product(KUBEK, quantity=0))
        czajnik = {"pl": "Czajnik", "en": "Kettle"}
        fake.put_product(
            STORE_ID,
            sample_product(
                CZAJNIK,
                name="Kettle",
                nameTranslated=czajnik,
                quantity=5,
                inStock=True,
                defaultDisplayedPrice=59.9,
                hdThumbnailUrl="https://d2j6dbq0eux0bg.cloudfront.net/images/1003/czajnik.jpg",
            ),
        )
        yield fake


@pytest.fixture
def settings(settings: Settings, ecwid: FakeEcwid) -> Settings:
    return with_ecwid(settings, ecwid)


# --- the store and its shoppers ------------------------------------------------------------


def install(
    client: Any,
    worker: Any,
    factory: sessionmaker[Session],
    clock: Clock,
    email_opt_in: str = "confirmed",
    **scenarios: Any,
) -> Shop:
    """The merchant opens the app in the Ecwid admin (which installs the store), switches
    `scenarios` on and picks the e-mail opt-in; one pass runs the history import the install
    asked for. Single opt-in lets a checkout's marketing box alone allow that cart's
    reminders, for the stories about what comes after consent."""
    answer = client.get("/ecwid/app", query_string={"payload": encrypted_payload()})
    assert answer.status_code == 200, answer.get_data(as_text=True)[:300]
    with factory() as session, session.begin():
        shop = session.scalars(select(Shop).where(Shop.platform == "ecwid")).one()
        shop_config.update(
            shop, {"scenarios": scenarios, "consent": {"email_opt_in": email_opt_in}}
        )
    report = worker.tick(clock.now)
    assert report.errors == [], report.summary()
    with factory() as session:
        installed = session.get(Shop, shop.id)
        assert installed is not None and installed.shop_url == STORE_URL
        return installed


def item(product_id: int, name: str, price: float, quantity: int, **fields: Any) -> dict[str, Any]:
    line = {"id": product_id * 10, "productId": product_id, "name": name, "price": price}
    return {**line, "quantity": quantity, **fields}


def anna_cart(at: datetime, cart_id: str = CART_ID, **fields: Any) -> dict[str, Any]:
    """Anna's unfinished order as Ecwid's API answers it: her e-mail, the marketing box
    ticked, a mug (two) and a kettle."""
    stamp = int(at.timestamp())
    cart: dict[str, Any] = {
        "email": "Anna.Kowalska@Example.com",
        "acceptMarketing": True,
        "createTimestamp": stamp,
        "updateTimestamp": stamp,
        "items": [
            item(KUBEK, "Kubek ceramiczny", 29.95, 2, selectedOptions=RED),
            item(CZAJNIK, "Czajnik", 59.9, 1),
        ],
        **fields,
    }
    found = sample_cart(cart_id, **cart)
    del found["createDate"], found["updateDate"]
    return found


def send(client: Any, event_type: str, at: datetime, **kw: Any) -> dict[str, Any]:
    """A delivery signed as Ecwid signs it, POSTed to our webhook URL; its JSON answer."""
    headers, body = webhook(event_type, created=at, **kw)
    answer = post_webhook(client, headers, body)
    assert answer.status_code == 200, answer.get_data(as_text=True)
    return answer.get_json()  # type: ignore[no-any-return]


def cart_event(client: Any, clock: Clock, cart_id: str = CART_ID, kind: str = "created") -> None:
    data = {"cartId": cart_id, "orderId": "RA1SD"}
    assert send(client, f"unfinished_order.{kind}", clock.now, data=data) == {"status": "accepted"}


def paid_order(client: Any, ecwid: FakeEcwid, clock: Clock, order_id: str, email: str) -> None:
    """`order.created` for an order Ecwid holds as paid, placed now."""
    stamp = int(clock.now.timestamp())
    ecwid.put_order(
        STORE_ID,
        sample_order(
            order_id,
            email=email,
            paymentStatus="PAID",
            createTimestamp=stamp,
            updateTimestamp=stamp,
        ),
    )
    data = {"orderId": order_id}
    answer = send(client, "order.created", clock.now, entity_id=516483487, data=data)
    assert answer == {"status": "accepted"}


def sent_to(factory: sessionmaker[Session]) -> list[str]:
    return [e.to_address for e in outbox_entries(factory)]


def reminders(factory: sessionmaker[Session]) -> list[DevOutboxEntry]:
    """What went out, but the requests to confirm consent."""
    return [e for e in outbox_entries(factory) if "potwierdź zgodę" not in e.subject]


def follow(client: Any, url_token: str) -> str:
    """The shopper clicks a tracked link: where it sends them."""
    answer = client.get(f"/c/{url_token}")
    assert answer.status_code == 302
    return str(answer.headers["Location"])


def prefilled_cart(location: str) -> dict[str, Any]:
    """The JSON of an Ecwid pre-filled cart link, `<store>/#!/~/cart/create=<JSON>`
    (docs.ecwid.com/storefronts/manage-cart-and-checkout/create-pre-filled-shopping-carts)."""
    prefix = f"{STORE_URL}/#!/~/cart/create="
    assert location.startswith(prefix), location
    return json.loads(unquote(location[len(prefix) :]))  # type: ignore[no-any-return]


def abandon(client: Any, worker: Any, ecwid: FakeEcwid, clock: Clock) -> datetime:
    """Anna leaves her cart now; the worker reads it back and, 31 minutes on, plans it."""
    start = clock.now
    ecwid.put_cart(STORE_ID, anna_cart(start))
    cart_event(client, clock)
    assert worker.tick(clock.now).ingested == 1
    worker.tick(clock.advance(minutes=31))
    return start


# --- (a) an unfinished order, its reminders, and the paid order that ends them -------------


def test_an_unfinished_order_is_reminded_of_its_link_fills_ecwids_cart_and_a_paid_order_ends_it(
    client: Any, worker: Any, ecwid: FakeEcwid, factory: sessionmaker[Session], clock: Clock
) -> None:
    shop = install(client, worker, factory, clock, **CART_RECOVERY)
    start = abandon(client, worker, ecwid, clock)
    # Anyone may type any e-mail at a checkout: its ticked box is a claim for this cart, and
    # under confirmed opt-in (the default) the address's owner is asked first, once.
    assert [(e.to_address, e.subject) for e in outbox_entries(factory)] == [
        (ANNA, "Sklep Testowy: potwierdź zgodę na e-maile marketingowe")
    ]
    with factory() as session:
        claims = session.scalars(select(Consent)).all()
    assert [(c.address, c.granted, c.assurance, c.cart_id is not None) for c in claims] == [
        (ANNA, True, "claimed", True)
    ]
    # No SMS: Ecwid's marketing tick is for the e-mail, and SMS needs its own confirmation.
    assert [(m.scenario, m.step, m.channel, m.status) for m in messages(factory)] == [
        ("consent_confirmation", 1, "email", "sent"),
        ("cart_recovery", 1, "email", "scheduled"),
        ("cart_recovery", 2, "email", "scheduled"),
        ("cart_recovery", 3, "email", "scheduled"),
    ]
    confirm_request(client, factory, ANNA)  # Anna follows the link: /k/...
    assert worker.tick(start + timedelta(minutes=59)).dispatch.sent == 0

    # Step 1 at +1 h, by e-mail: the cart gave the marketing tick for its e-mail only.
    assert worker.tick(clock.set(start + timedelta(hours=1))).dispatch.sent == 1
    (first,) = reminders(factory)
    assert first.channel == "email" and first.to_address == ANNA
    assert first.subject == "Anna, Twój koszyk na Ciebie czeka"  # billingPerson.name
    # Names and prices from the store's catalogue (GET /products), in Polish.
    assert "Kubek ceramiczny × 2: 59,90\xa0zł" in first.body_text
    assert "Czajnik × 1: 59,90\xa0zł" in first.body_text
    assert "Razem: 119,80\xa0zł" in first.body_text
    assert "Sklep Testowy" in first.body_text  # the store's name from its Ecwid profile

    # Its link leads, through our redirect, to Ecwid's pre-filled cart on the store's URL.
    links = CLICK.findall(first.body_text)
    assert links
    filled = prefilled_cart(follow(client, links[0]))
    assert filled == {
        "gotoCheckout": True,
        "products": [
            {"id": KUBEK, "quantity": 2, "options": {"Kolor": "Czerwony"}},
            {"id": CZAJNIK, "quantity": 1},
        ],
        "profile": {"email": ANNA},
    }

    # A paid order by Anna before step 2: nothing more goes, ever.
    clock.set(start + timedelta(hours=5))
    paid_order(client, ecwid, clock, "XJ12H", "Anna.Kowalska@example.com")
    assert worker.tick(clock.now).ingested == 1
    with factory() as session:
        order = session.scalars(select(Order)).one()
        cart = session.scalars(select(Cart)).one()
    assert (order.platform_order_id, order.paid, order.email) == ("XJ12H", True, ANNA)
    assert cart.status == "recovered" and cart.order_id == order.id
    for hours in (24, 72, 24 * 14):
        assert worker.tick(clock.set(start + timedelta(hours=hours))).dispatch.sent == 0
    assert [e.to_address for e in reminders(factory)] == [ANNA]
    pending = [m for m in messages(factory, shop.id) if m.status != "sent"]
    assert pending and {(m.status, m.reason) for m in pending} == {("cancelled", "order placed")}


# --- (b) a body changed on its way: the API's cart is believed, never the body ------------


def altered(
    event_type: str, at: datetime, data: dict[str, Any], changes: dict[str, Any]
) -> tuple[dict[str, str], bytes]:
    """A delivery Ecwid signed for `data`, its body changed afterwards (`changes` to the top
    level; under "data", to `data`): only eventCreated and eventId are signed, so the
    signature still holds."""
    headers, body = webhook(event_type, created=at, data=data)
    fields = json.loads(body)
    for key, value in changes.items():
        fields[key] = {**fields[key], **value} if key == "data" else value
    return headers, json.dumps(fields).encode()


JAN_CART = "0A1B2C3D-0000-4000-8000-00000000A11A"


@pytest.mark.parametrize(
    ("changes", "reminded"),
    [
        ({"email": MALLORY, "data": {"customerEmail": MALLORY, "email": MALLORY}}, [ANNA]),
        ({"data": {"cartId": JAN_CART, "customerEmail": MALLORY}}, [JAN]),
        ({"data": {"cartId": "FORGED-0001", "customerEmail": MALLORY}}, []),
    ],
    ids=["an-e-mail-added", "another-shoppers-cart-named", "an-unknown-cart-named"],
)
def test_a_cart_webhook_changed_in_transit_stores_and_reminds_only_what_ecwid_says(
    client: Any,
    worker: Any,
    ecwid: FakeEcwid,
    factory: sessionmaker[Session],
    clock: Clock,
    changes: dict[str, Any],
    reminded: list[str],
) -> None:
    install(client, worker, factory, clock, "single", **CART_RECOVERY)
    start = clock.now
    ecwid.put_cart(STORE_ID, anna_cart(start))
    jan = {"name": "Jan Nowak", "countryCode": "PL", "phone": ""}
    ecwid.put_cart(STORE_ID, anna_cart(start, JAN_CART, email="Jan@Example.com", billingPerson=jan))
    headers, body = altered(
        "unfinished_order.created", start, {"cartId": CART_ID, "orderId": "RA1SD"}, changes
    )

    answer = post_webhook(client, headers, body)

    assert answer.status_code == 200 and answer.get_json() == {"status": "accepted"}
    assert worker.tick(clock.now).ingested == 1
    worker.tick(clock.advance(minutes=31))
    for hours in (1, 24, 72):
        worker.tick(clock.set(start + timedelta(hours=hours)))

    assert sorted(set(sent_to(factory))) == reminded
    # Every step at its time, to the API's address; the last one's unique code made at Ecwid.
    expected = [(1, 1), (2, 24), (3, 72)] if reminded else []
    assert [(m.step, m.sent_at) for m in messages(factory) if m.status == "sent"] == [
        (step, start + timedelta(hours=hours)) for step, hours in expected
    ]
    codes = [
        found.group() for e in outbox_entries(factory) if (found := UNIQUE_CODE.search(e.body_text))
    ]
    assert codes == [c["code"] for c in ecwid.coupons(STORE_ID)] and len(codes) == len(reminded)
    with factory() as session:
        known = set(session.scalars(select(Contact.email)))
        carts = {c.platform_cart_id: c for c in session.scalars(select(Cart))}
        entries = list(session.scalars(select(DevOutboxEntry)))
    assert MALLORY not in known
    assert known == set(reminded)
    assert all(c.email != MALLORY for c in carts.values())
    assert all(MALLORY not in e.body_text + e.body_html + e.subject for e in entries)
    for entry in entries:  # the API's items, from the API's catalogue
        assert "Kubek ceramiczny × 2" in entry.body_text and "Czajnik × 1" in entry.body_text


# --- (c) a cart the merchant hid ----------------------------------------------------------


def test_a_cart_the_merchant_hid_gets_no_more_reminders(
    client: Any, worker: Any, ecwid: FakeEcwid, factory: sessionmaker[Session], clock: Clock
) -> None:
    install(client, worker, factory, clock, "single", **CART_RECOVERY)
    start = abandon(client, worker, ecwid, clock)
    assert worker.tick(clock.set(start + timedelta(hours=1))).dispatch.sent == 1

    # "Delete" in the Ecwid admin hides the cart (its last change stays as it was).
    clock.set(start + timedelta(hours=2))
    ecwid.put_cart(STORE_ID, anna_cart(start, hidden=True))
    cart_event(client, clock, kind="updated")
    assert worker.tick(clock.now).ingested == 1

    with factory() as session:
        cart = session.scalars(select(Cart)).one()
    assert cart.status == "emptied"
    waiting = [m for m in messages(factory) if m.status != "sent"]
    assert [(m.step, m.status, m.reason) for m in waiting] == [
        (2, "cancelled", "cart emptied"),
        (3, "cancelled", "cart emptied"),
    ]
    for hours in (24, 72, 96):
        assert worker.tick(clock.set(start + timedelta(hours=hours))).dispatch.sent == 0
    assert sent_to(factory) == [ANNA]


# --- (d) back in stock --------------------------------------------------------------------


def storefront(client: Any, shop: Shop, form: str, body: dict[str, Any], origin: str) -> Any:
    """A sign-up posted by the store's page (the widget), from `origin`."""
    return client.post(
        f"/storefront/{shop.public_key}/{form}", json=body, headers={"Origin": origin}
    )


def confirm_request(client: Any, factory: sessionmaker[Session], address: str) -> None:
    """The owner of `address` follows the link in our confirmation request."""
    (asked,) = [e for e in outbox_entries(factory) if e.to_address == address]
    assert "potwierdź" in asked.subject
    link = CONFIRM.search(asked.body_text)
    assert link is not None, asked.body_text
    answer = client.post(f"/k/{link.group(1)}", data={"answer": "yes"})
    assert answer.status_code == 200 and 'id="confirmed"' in answer.get_data(as_text=True)


def test_a_restock_signup_for_an_ecwid_product_is_told_when_product_updated_shows_stock(
    client: Any, worker: Any, ecwid: FakeEcwid, factory: sessionmaker[Session], clock: Clock
) -> None:
    shop = install(client, worker, factory, clock, back_in_stock={"enabled": True})
    signup = {
        "product_id": str(KUBEK),
        "channel": "email",
        "contact": {"email": "Ewa@Example.com"},
        "consent": {"text_version": "widget-restock-1-pl"},
    }
    assert storefront(client, shop, "restock", signup, "https://evil.example").status_code == 403
    answer = storefront(client, shop, "restock", signup, STORE_URL)
    assert answer.status_code == 202, answer.get_data(as_text=True)
    assert answer.headers["Access-Control-Allow-Origin"] == STORE_URL
    worker.tick(clock.advance(minutes=1))

    # The default confirmed opt-in: one request, for these notices only; Ewa confirms it.
    assert sent_to(factory) == ["ewa@example.com"]
    confirm_request(client, factory, "ewa@example.com")
    worker.tick(clock.advance(minutes=1))

    def notices() -> list[DevOutboxEntry]:
        return [e for e in outbox_entries(factory) if e.subject.startswith("Znów w sprzedaży")]

    assert notices() == []  # still none in stock at Ecwid

    clock.advance(hours=3)
    ecwid.put_product(STORE_ID, sample_product(KUBEK, quantity=2, inStock=True))
    assert send(client, "product.updated", clock.now, entity_id=KUBEK) == {"status": "accepted"}
    worker.tick(clock.now)

    (notice,) = notices()
    assert notice.to_address == "ewa@example.com"
    assert notice.subject == "Znów w sprzedaży: Kubek ceramiczny"  # nameTranslated.pl
    assert "https://d2j6dbq0eux0bg.cloudfront.net/images/1003/kubek-800.jpg" in notice.body_html
    assert "29,95" in notice.body_html  # defaultDisplayedPrice
    for _ in range(3):
        worker.tick(clock.advance(hours=1))
    assert len(notices()) == 1


# --- (e) a birthday, with a coupon made at Ecwid ------------------------------------------


def test_a_birthday_signup_brings_wishes_with_a_single_use_percent_coupon_made_at_ecwid(
    client: Any, worker: Any, ecwid: FakeEcwid, factory: sessionmaker[Session], clock: Clock
) -> None:
    shop = install(client, worker, factory, clock, birthday={"enabled": True})
    signup = {
        "type": "birthday",
        "contact": {"email": "ewa@example.com"},
        "birthday": {"month": 3, "day": 10},
        "consent": {"email": True},
        "consent_text_version": "widget-birthday-1-pl",
    }
    assert storefront(client, shop, "birthday", signup, STORE_URL).status_code == 202
    worker.tick(clock.advance(minutes=1))
    confirm_request(client, factory, "ewa@example.com")

    def wishes() -> list[DevOutboxEntry]:
        return [e for e in outbox_entries(factory) if "z okazji urodzin" in e.subject]

    # 10 March, 10:00 in Warsaw (UTC+1 in winter).
    assert worker.tick(clock.set(datetime(2026, 3, 10, 8, 59, tzinfo=UTC))).dispatch.sent == 0
    assert worker.tick(clock.set(datetime(2026, 3, 10, 9, 0, tzinfo=UTC))).dispatch.sent == 1
    (wish,) = wishes()
    assert wish.to_address == "ewa@example.com"
    assert wish.subject == (
        "Wszystkiego najlepszego z okazji urodzin! Prezent dla Ciebie: 10% rabatu"
    )
    code = UNIQUE_CODE.search(wish.body_text)
    assert code is not None, wish.body_text
    assert "Kod jest ważny do 17 marca 2026, 10:00." in wish.body_text

    (coupon,) = ecwid.coupons(STORE_ID)
    assert coupon["code"] == code.group()
    assert (coupon["discountType"], coupon["discount"], coupon["usesLimit"]) == (
        "PERCENT",
        10.0,
        "SINGLE",
    )
    assert (coupon["launchDate"], coupon["expirationDate"]) == (
        "2026-03-10 09:00:00 +0000",
        "2026-03-17 09:00:00 +0000",
    )
    for later in (
        datetime(2026, 3, 10, 15, 0, tzinfo=UTC),
        datetime(2026, 3, 11, 9, 0, tzinfo=UTC),
    ):
        assert worker.tick(clock.set(later)).dispatch.sent == 0
    assert len(wishes()) == 1 and len(ecwid.coupons(STORE_ID)) == 1


# --- (f) uninstalled --------------------------------------------------------------------


def test_an_uninstall_ecwid_confirms_cancels_what_waits_and_one_it_does_not_changes_nothing(
    client: Any, worker: Any, ecwid: FakeEcwid, factory: sessionmaker[Session], clock: Clock
) -> None:
    shop = install(client, worker, factory, clock, "single", **CART_RECOVERY)
    start = abandon(client, worker, ecwid, clock)

    # Signed, but Ecwid still takes the store's token: a replay, or from before a re-install.
    forged = send(client, "application.uninstalled", clock.advance(minutes=5), entity_id=STORE_ID)
    assert forged == {"status": "accepted"}
    assert worker.tick(clock.now).ingested == 1
    with factory() as session:
        kept = session.get(Shop, shop.id)
        assert kept is not None
        assert (kept.status, kept.uninstalled_at) == ("active", None)
        assert kept.access_token_enc == shop.access_token_enc
    assert {m.status for m in messages(factory)} == {"scheduled"}
    assert worker.tick(clock.set(start + timedelta(hours=1))).dispatch.sent == 1

    # The merchant removes the app: Ecwid revokes the token and tells us.
    clock.set(start + timedelta(hours=2))
    ecwid.revoke(TOKEN)
    assert send(client, "application.uninstalled", clock.now, entity_id=STORE_ID) == {
        "status": "accepted"
    }
    assert worker.tick(clock.now).ingested == 1

    with factory() as session:
        gone = session.get(Shop, shop.id)
        assert gone is not None
        assert (gone.status, gone.uninstalled_at, gone.access_token_enc) == (
            "uninstalled",
            clock.now,
            None,
        )
    waiting = [m for m in messages(factory) if m.status != "sent"]
    assert waiting and {(m.status, m.reason) for m in waiting} == {
        ("cancelled", "shop uninstalled")
    }
    for hours in (24, 72):
        assert worker.tick(clock.set(start + timedelta(hours=hours))).dispatch.sent == 0
    assert sent_to(factory) == [ANNA]
    ecwid.put_cart(STORE_ID, anna_cart(clock.now))
    assert send(client, "unfinished_order.updated", clock.now, data={"cartId": CART_ID}) == {
        "status": "ignored"
    }


# --- (g) Ecwid down -----------------------------------------------------------------------


def outage(ecwid: FakeEcwid, fault: str) -> None:
    """Every attempt of the next two reads fails (the client tries each three times)."""
    for _ in range(6):
        if fault == "500":
            ecwid.fail_next(500)
        else:
            ecwid.delay_next(TRANSPORT_TIMEOUT * 3)


@pytest.mark.parametrize("fault", ["500", "timeout"])
def test_while_ecwid_is_down_deliveries_wait_and_none_answered_200_is_lost(
    client: Any,
    worker: Any,
    ecwid: FakeEcwid,
    factory: sessionmaker[Session],
    clock: Clock,
    fault: str,
) -> None:
    install(client, worker, factory, clock, "single", **CART_RECOVERY)
    start = clock.now
    ecwid.put_cart(STORE_ID, anna_cart(start))
    cart_event(client, clock)
    paid_order(client, ecwid, clock, "JAN-1", JAN)  # another shopper's order, meanwhile
    outage(ecwid, fault)

    down = worker.tick(clock.now)

    assert (down.ingested, down.ingest_failed, down.ingest_retried) == (0, 0, 2)
    rows = inbox_rows(factory)
    assert [r.status for r in rows] == ["pending", "pending"]
    assert all(r.error for r in rows)  # why they wait, for the operator
    asked = len(ecwid.requests)
    assert worker.tick(clock.advance(minutes=1)).ingested == 0  # backing off: Ecwid not asked
    assert len(ecwid.requests) == asked

    # Ecwid is back: the next pass past the back-off reads both.
    back = worker.tick(clock.advance(minutes=2))
    assert (back.ingested, back.ingest_failed) == (2, 0)
    assert {r.status for r in inbox_rows(factory)} == {"processed"}
    with factory() as session:
        order = session.scalars(select(Order)).one()
        assert (order.platform_order_id, order.email, order.paid) == ("JAN-1", JAN, True)

    # Anna's cart is timed from when we took the delivery, and reminded as usual.
    worker.tick(start + timedelta(minutes=31))
    assert worker.tick(clock.set(start + timedelta(hours=1))).dispatch.sent == 1
    assert sent_to(factory) == [ANNA]
    assert not [m for m in messages(factory) if m.status == "failed"]
    with factory() as session:
        assert session.scalars(select(InboxDelivery.status)).all() == ["processed"] * 2


# --- (h) the same through `shoper-retention tick --now` -------------------------------------


@pytest.fixture
def tick(settings: Settings, tmp_path: Path) -> Any:
    """`shoper-retention tick --now <at>` in a subprocess, on the test's database, with the
    SHOPER_RETENTION_ECWID_* variables pointing at the fake; returns its printed report."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHOPER_RETENTION_")}
    env.update(
        SHOPER_RETENTION_DATABASE_URL=settings.database_url,
        SHOPER_RETENTION_SECRET_KEY=settings.secret_key,
        SHOPER_RETENTION_PUBLIC_URL=settings.public_url,
        SHOPER_RETENTION_INSTANCE_PATH=str(tmp_path / "cli-instance"),
        SHOPER_RETENTION_MAIL_FROM=settings.mail_from,
        SHOPER_RETENTION_ECWID_CLIENT_ID=settings.ecwid_client_id,
        SHOPER_RETENTION_ECWID_CLIENT_SECRET=settings.ecwid_client_secret,
        SHOPER_RETENTION_ECWID_API_URL=settings.ecwid_api_url,
        SHOPER_RETENTION_ECWID_OAUTH_URL=settings.ecwid_oauth_url,
        NO_PROXY="127.0.0.1",
    )

    def run(at: datetime) -> dict[str, Any]:
        moment = at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        done = subprocess.run(
            [str(CLI), "tick", "--now", moment], env=env, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stdout + done.stderr
        report: dict[str, Any] = json.loads(done.stdout)
        assert report["errors"] == [] and report["failed"] == 0, report
        return report

    return run


ENTRY = re.compile(
    r'<article class="entry" data-channel="(\w+)">\s*<div class="meta">#\d+ · \w+ · to (\S+) ·'
    r".*?</div>\s*(?:<h3>(.*?)</h3>)?\s*<pre>(.*?)</pre>",
    re.S,
)


def dev_outbox(client: Any) -> list[tuple[str, str, str, str]]:
    """GET /dev/outbox, oldest first: (channel, to, subject, text) of each message."""
    page = client.get("/dev/outbox")
    assert page.status_code == 200
    found = [tuple(html.unescape(g or "") for g in m.groups()) for m in ENTRY.finditer(page.text)]
    return found[::-1]  # type: ignore[return-value]


def test_an_unfinished_order_through_the_tick_command_until_a_paid_order(
    client: Any, ecwid: FakeEcwid, factory: sessionmaker[Session], clock: Clock, tick: Any
) -> None:
    answer = client.get("/ecwid/app", query_string={"payload": encrypted_payload()})
    assert answer.status_code == 200
    with factory() as session, session.begin():
        shop = session.scalars(select(Shop).where(Shop.platform == "ecwid")).one()
        single = {"email_opt_in": "single"}  # the checkout's box alone allows the reminders
        shop_config.update(shop, {"scenarios": CART_RECOVERY, "consent": single})
    start = clock.now
    ecwid.put_cart(STORE_ID, anna_cart(start))
    cart_event(client, clock)

    first = tick(start)  # reads the cart (and the history import) from the fake
    assert first["ingested"] == 1 and first["history_pages"] >= 1
    assert tick(start + timedelta(minutes=31))["planned"] == 3
    assert tick(start + timedelta(minutes=59))["sent"] == 0
    assert tick(start + timedelta(hours=1))["sent"] == 1
    (reminder,) = dev_outbox(client)
    channel, to, subject, text = reminder
    assert (channel, to, subject) == ("email", ANNA, "Anna, Twój koszyk na Ciebie czeka")
    assert "Kubek ceramiczny × 2: 59,90\xa0zł" in text  # read from the fake's catalogue
    link = CLICK.search(text)
    assert link is not None
    assert prefilled_cart(follow(client, link.group(1)))["profile"] == {"email": ANNA}
    assert f"/api/v3/{STORE_ID}/carts/{CART_ID}" in ecwid.paths("GET")

    clock.set(start + timedelta(hours=5))
    paid_order(client, ecwid, clock, "XJ12H", ANNA)
    assert tick(clock.now)["ingested"] == 1
    for hours in (24, 72):
        report = tick(start + timedelta(hours=hours))
        assert (report["planned"], report["sent"]) == (0, 0)
    assert [to for _, to, _, _ in dev_outbox(client)] == [ANNA]
    with factory() as session:
        order = session.scalars(select(Order)).one()
        assert (order.platform_order_id, order.paid) == ("XJ12H", True)
