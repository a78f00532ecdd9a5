"""Dispatch through the real SmtpConnector (smtplib) into an aiosmtpd server on loopback: the
mail as a mailbox receives it, one connection per batch, and a refused recipient."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from email.message import EmailMessage
from email.utils import parsedate_to_datetime

import pytest
import requests
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from shoper_retention.models import Suppression
from shoper_retention.settings import Settings
from shoper_retention.worker import Worker
from tests.fakes.smtp_server import FakeSmtpServer
from tests.support import abandon_cart, cart_snapshot, make_shop, messages

EMAIL_ONLY = {"email": True, "sms": False}


@pytest.fixture
def smtp() -> Iterator[FakeSmtpServer]:
    with FakeSmtpServer() as server:
        yield server


@pytest.fixture
def mail_worker(
    settings: Settings, factory: sessionmaker[Session], http: requests.Session, smtp: FakeSmtpServer
) -> Worker:
    """E-mail through SMTP; SMS has no SMSAPI token, so it pauses."""
    return Worker(settings.with_(smtp_url=smtp.url()), factory, http=http, name="w")


def parts(mail: EmailMessage) -> tuple[str, str]:
    plain = mail.get_body(preferencelist=("plain",))
    html = mail.get_body(preferencelist=("html",))
    assert plain is not None and html is not None
    return plain.get_content(), html.get_content()


def test_step_two_email_arrives_as_a_complete_marketing_mail(
    client, mail_worker, factory, settings, clock, smtp
):
    shop = make_shop(factory, settings, now=clock.now)
    start = abandon_cart(client, mail_worker, shop, clock, cart_snapshot(at=clock.now))
    mail_worker.tick(clock.set(start + timedelta(hours=1)))  # step 1: SMS (no SMSAPI: paused)
    assert smtp.messages == []

    assert mail_worker.tick(clock.set(start + timedelta(hours=24))).dispatch.sent == 1

    (envelope,) = smtp.envelopes
    mail = envelope.message
    (email2,) = [m for m in messages(factory) if m.step == 2]
    assert (envelope.mail_from, envelope.rcpt_tos) == (
        "shop@retention.example",
        ("anna@example.com",),
    )
    assert mail["From"] == "shop@retention.example" and mail["To"] == "anna@example.com"
    assert mail["Subject"] == "Wciąż w Twoim koszyku: Kubek ceramiczny"
    assert mail.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in mail.iter_parts()] == ["text/plain", "text/html"]
    # Deterministic from the idempotency key, so a resend after a crash is the same mail.
    assert mail["Message-ID"] == f"<sr-{shop.id}-{email2.id}@retention.example>"
    assert email2.provider_id == mail["Message-ID"]
    assert email2.status == "sent" and email2.connector == "smtp"
    assert parsedate_to_datetime(mail["Date"]) == email2.sent_at == start + timedelta(hours=24)

    unsubscribe = re.fullmatch(r"<(https://retention\.example/u/[^>]+)>", mail["List-Unsubscribe"])
    assert unsubscribe is not None
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    text, html = parts(mail)
    assert unsubscribe.group(1) in text
    assert f'href="{unsubscribe.group(1)}"' in html
    assert '<img src="https://sklep.example/img/kubek.jpg"' in html
    cart_links = set(re.findall(r"https://retention\.example/c/[\w.\-]+", text + html))
    assert len(cart_links) == 1  # the same tracked cart link in both parts
    assert re.search(
        r'<a class="button" href="https://retention\.example/c/[^"]+" style="[^"]*background', html
    )
    assert "99,80\xa0zł" in text


def test_several_emails_due_in_one_tick_share_one_smtp_connection(
    client, mail_worker, factory, settings, clock, smtp
):
    shop = make_shop(factory, settings, now=clock.now)
    carts = [
        cart_snapshot(
            f"cart-{n}",
            at=clock.now,
            email=f"shopper{n}@example.com",
            phone=None,
            consent=EMAIL_ONLY,
        )
        for n in range(3)
    ]
    start = abandon_cart(client, mail_worker, shop, clock, *carts)

    report = mail_worker.tick(clock.set(start + timedelta(hours=1)))

    assert report.dispatch.sent == 3
    assert sorted(e.rcpt_tos[0] for e in smtp.envelopes) == [
        "shopper0@example.com",
        "shopper1@example.com",
        "shopper2@example.com",
    ]
    assert smtp.connections == 1


def test_recipient_refused_for_good_fails_and_suppresses_the_address(
    client, mail_worker, factory, settings, clock, smtp
):
    smtp.reject("gone@example.com", 550)
    shop = make_shop(factory, settings, now=clock.now)
    start = abandon_cart(
        client,
        mail_worker,
        shop,
        clock,
        cart_snapshot(
            "cart-1", at=clock.now, email="gone@example.com", phone=None, consent=EMAIL_ONLY
        ),
        cart_snapshot(
            "cart-2", at=clock.now, email="fine@example.com", phone=None, consent=EMAIL_ONLY
        ),
    )

    report = mail_worker.tick(clock.set(start + timedelta(hours=1)))

    assert (report.dispatch.failed, report.dispatch.sent) == (1, 1)
    by_address = {m.to_address: m for m in messages(factory) if m.step == 1}
    refused = by_address["gone@example.com"]
    assert refused.status == "failed"
    assert refused.reason == "recipient refused: 550 5.1.1 Mailbox unavailable"
    assert by_address["fine@example.com"].status == "sent"  # the same connection went on
    assert smtp.connections == 1
    with factory() as session:
        suppression = session.scalars(select(Suppression)).one()
    assert (suppression.shop_id, suppression.channel, suppression.address) == (
        shop.id,
        "email",
        "gone@example.com",
    )

    mail_worker.tick(clock.set(start + timedelta(hours=24)))

    gone, fine = [m for m in messages(factory) if m.step == 2]  # in the order of the carts
    assert (gone.status, gone.reason) == ("skipped", "unsubscribed")
    assert fine.status == "sent"
    assert [e.rcpt_tos for e in smtp.envelopes] == [("fine@example.com",), ("fine@example.com",)]


def test_shop_in_a_language_without_texts_gets_english_mail_with_its_unsubscribe_footer(
    client, mail_worker, factory, settings, clock, smtp
):
    shop = make_shop(factory, settings, now=clock.now, language="de", name="Teehaus")
    start = abandon_cart(
        client,
        mail_worker,
        shop,
        clock,
        cart_snapshot(at=clock.now, phone=None, consent=EMAIL_ONLY),
    )

    assert mail_worker.tick(clock.set(start + timedelta(hours=1))).dispatch.sent == 1

    (mail,) = smtp.messages
    assert mail["Subject"] == "Anna, your basket is waiting for you"
    text, html = parts(mail)
    unsubscribe = mail["List-Unsubscribe"].strip("<>")
    assert f"Unsubscribe: {unsubscribe}" in text
    assert f'href="{unsubscribe}"' in html


def test_an_email_whose_worker_died_mid_send_is_not_sent_again(
    client, mail_worker, factory, settings, clock, smtp
):
    """SMTP cannot tell a resend from a new mail: an e-mail handed to the server by a worker
    that died before recording the answer may have arrived, so it is failed, not resent."""
    from sqlalchemy import update

    from shoper_retention.messaging.dispatch import UNKNOWN_OUTCOME
    from shoper_retention.models import Message

    shop = make_shop(factory, settings, now=clock.now)
    start = abandon_cart(client, mail_worker, shop, clock)
    due = start + timedelta(hours=24)
    with factory() as session, session.begin():
        (email2,) = [m for m in messages(factory) if m.step == 2]
        session.execute(  # as the dead worker left it: claimed, handed over, lease run out
            update(Message)
            .where(Message.id == email2.id)
            .values(
                status="claimed",
                claim_token="dead",
                in_flight_since=due,
                lease_until=due + timedelta(minutes=5),
            )
        )
    report = mail_worker.tick(clock.set(due + timedelta(minutes=6)))
    (email2,) = [m for m in messages(factory) if m.step == 2]
    assert (email2.status, email2.reason) == ("failed", UNKNOWN_OUTCOME)
    assert report.dispatch.failed == 1
    assert smtp.messages == []
