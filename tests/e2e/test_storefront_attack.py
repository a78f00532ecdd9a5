"""The attack on the storefront, run as a stranger who read the shop's page would run it
(findings 1-5 of the storefront-trust issue), against the real SMSAPI client (fake SMSAPI on
loopback) and a real SMTP server (aiosmtpd), while two real shoppers use the shop.

What must hold afterwards: nothing reached SMSAPI or the SMTP server for any address the
attacker brought in, and the real shopper's cart recovery went on as if nothing happened."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from shoper_retention.contacts import records as contacts
from shoper_retention.models import InboxDelivery
from shoper_retention.worker import Worker
from tests.fakes.smsapi_server import FakeSmsapi
from tests.fakes.smtp_server import FakeSmtpServer
from tests.support import cart_snapshot, make_shop, post_cart

TOKEN = "operator-smsapi-token"
ATTACKER = {"REMOTE_ADDR": "203.0.113.66"}
EWA = ("ewa@example.com", "+48600300400")
PIOTR = ("piotr@example.com", "+48600500600")
VICTIM = "victim@example.com"  # unsubscribed long ago
SPAM = "WIN 1000 PLN at evil.example/x"
PREMIUM_AND_FOREIGN = [
    "+1 900 555 0100",
    "+7 912 345 6789",
    "+1 268 464 1234",
    "+48 700 000 000",
    "+881 6 1234 5678",
]


@pytest.fixture
def smsapi() -> Iterator[FakeSmsapi]:
    with FakeSmsapi(access_token=TOKEN) as fake:
        yield fake


@pytest.fixture
def smtp() -> Iterator[FakeSmtpServer]:
    with FakeSmtpServer() as server:
        yield server


@pytest.fixture
def real_worker(settings, factory, http, smsapi, smtp):  # type: ignore[no-untyped-def]
    configured = settings.with_(smsapi_url=smsapi.url, smsapi_token=TOKEN, smtp_url=smtp.url())
    return Worker(configured, factory, http=http, name="attack-test")


def _digits(number: str) -> str:
    return re.sub(r"\D", "", number)


def _attack(client, shop, clock) -> list[int]:  # type: ignore[no-untyped-def]
    """Every post of findings 1-5; returns the status codes answered."""
    answers = []

    def post(snapshot):  # type: ignore[no-untyped-def]
        answers.append(post_cart(client, shop, snapshot, environ_base=ATTACKER).status_code)

    now = clock.now
    spam_item = {
        "product_id": "101",
        "name": SPAM,
        "price": "0.01",
        "quantity": 1,
        "image_url": "https://evil.example/pixel.gif",
        "product_url": "https://evil.example/x",
    }
    # 1. Addresses that hide the victim, a script, a list.
    for n, email in enumerate(
        [
            "v<victim@example.com>@example.org",
            "<script>alert(7)</script>@example.com",
            "a@example.com,b@example.org",
            "VICTIM@Example.com",
        ]
    ):
        post(cart_snapshot(f"a1-{n}", at=now, email=email, phone=None, items=[spam_item]))
    # 2. Forged SMS consent for premium and foreign numbers, spam for a name.
    for n, number in enumerate(PREMIUM_AND_FOREIGN):
        post(
            cart_snapshot(
                f"a2-{n}",
                at=now,
                email=None,
                phone=number,
                first_name=SPAM,
                consent={"sms": True},
                items=[spam_item],
            )
        )
    # 3. Another cart naming the real shopper, unticking her consent.
    post(
        cart_snapshot(
            "a3", at=now, email=EWA[0], phone=EWA[1], consent={"email": False, "sms": False}
        )
    )
    # 5. Piotr's cart id (knowable), now naming the victim with e-mail consent.
    post(cart_snapshot("piotr-cart", at=now + timedelta(minutes=1), email=VICTIM, phone=None))
    # 4. A flood of big snapshots from one client (last: it uses up the client's budget).
    padding = "x" * 200
    for n in range(80):
        items = [dict(spam_item, product_id=str(n), name=padding) for _ in range(50)]
        post(cart_snapshot(f"a4-{n}", at=now, email=None, phone=None, items=items))
    return answers


def _links(text: str) -> list[str]:
    return re.findall(r"https?://[^/\s]+(/k/[A-Za-z0-9_.\-]+)", text)


def test_after_the_attack_nothing_reached_an_attackers_address_and_the_shopper_is_reminded(
    client, real_worker, factory, settings, clock, smsapi, smtp
):
    shop = make_shop(factory, settings, now=clock.now)
    with factory() as session, session.begin():
        contacts.suppress(session, shop.id, "email", VICTIM, "unsubscribe link", clock.now)
    start = clock.now
    for cart_id, (email, phone) in (("ewa-cart", EWA), ("piotr-cart", PIOTR)):
        snapshot = cart_snapshot(cart_id, at=start, email=email, phone=phone)
        assert post_cart(client, shop, snapshot).status_code == 202
    real_worker.tick(clock.now)  # confirmation requests to Ewa and Piotr
    for text in [m.message.get_body(("plain",)).get_content() for m in smtp.envelopes] + [
        f["message"] for f in smsapi.forms
    ]:
        for link in _links(text):
            assert client.post(link, data={"answer": "yes"}).status_code == 200

    answers = _attack(client, shop, clock)
    assert 500 not in answers and answers.count(429) >= 20  # the flood is cut off
    assert answers[:3] == [400, 400, 400]  # finding 1: not one plain address
    for delta in (timedelta(minutes=31), timedelta(hours=1), timedelta(hours=24)):
        real_worker.tick(clock.set(start + delta))
    real_worker.tick(clock.set(start + timedelta(hours=72)))

    named_numbers = {_digits(n) for n in PREMIUM_AND_FOREIGN}
    sms_to = [f["to"] for f in smsapi.forms]
    assert named_numbers.isdisjoint(sms_to)
    mail_to = [rcpt for e in smtp.envelopes for rcpt in e.rcpt_tos]
    assert {VICTIM, "a@example.com", "b@example.org"}.isdisjoint(mail_to)
    everything = " ".join(
        [f["message"] for f in smsapi.forms] + [str(e.message) for e in smtp.envelopes]
    )
    assert "evil.example" not in everything and "WIN 1000" not in everything

    # Ewa: her confirmations, then SMS at +1 h, e-mail at +24 h, e-mail and SMS at +72 h.
    assert sms_to.count(_digits(EWA[1])) == 3
    assert mail_to.count(EWA[0]) == 3
    # Piotr: his confirmations only. Whoever knows a cart's id can start it again for another
    # address (README, "Consent"): his first run stopped, and the new run went nowhere.
    assert sms_to.count(_digits(PIOTR[1])) == 1 and mail_to.count(PIOTR[0]) == 1
    with factory() as session:
        stored = session.scalar(
            select(func.count(InboxDelivery.id)).where(InboxDelivery.shop_id == shop.id)
        )
    assert stored is not None and stored <= 2 + settings_limit(settings)


def settings_limit(settings) -> int:  # type: ignore[no-untyped-def]
    """Snapshots one client may post in a minute."""
    return int(settings.limit_storefront_per_ip.split("/")[0])
