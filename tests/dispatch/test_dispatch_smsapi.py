"""Dispatch through the real SmsapiConnector and smsapi-client against FakeSmsapi on loopback:
what each SMSAPI answer does to the message, the number and the shop's SMS channel."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
import requests
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from shoper_retention.connectors.base import Connector
from shoper_retention.connectors.dev_outbox import DevOutboxConnector
from shoper_retention.connectors.smsapi import SmsapiConnector
from shoper_retention.credentials import CredentialBox
from shoper_retention.links import Links
from shoper_retention.models import ChannelPause, Consent, Message, Shop, Suppression
from shoper_retention.settings import Settings
from shoper_retention.worker import Worker
from tests.fakes.smsapi_server import FakeSmsapi
from tests.support import (
    abandon_cart,
    cart_snapshot,
    make_shop,
    messages,
    outbox_entries,
    post_cart,
    settings_form_fields,
)

TOKEN = "tok"
PHONE = "+48600100200"


@pytest.fixture
def smsapi() -> Iterator[FakeSmsapi]:
    with FakeSmsapi(access_token=TOKEN) as fake:
        yield fake


@pytest.fixture
def sms_worker(
    settings: Settings, factory: sessionmaker[Session], http: requests.Session, smsapi: FakeSmsapi
) -> Worker:
    """The operator's SMSAPI token and no SMTP: e-mail has no provider, so it waits (paused)."""
    return Worker(
        settings.with_(smsapi_url=smsapi.url, smsapi_token=TOKEN), factory, http=http, name="w"
    )


def step(factory: sessionmaker[Session], number: int, channel: str) -> Message:
    (found,) = [m for m in messages(factory) if (m.step, m.channel) == (number, channel)]
    return found


def test_sms_is_sent_with_idx_check_idx_utf8_and_the_shops_sender(
    client, sms_worker, factory, settings, clock, smsapi
):
    shop = make_shop(factory, settings, now=clock.now, overrides={"sms": {"sender": "SklepTest"}})
    start = abandon_cart(client, sms_worker, shop, clock)

    report = sms_worker.tick(clock.set(start + timedelta(hours=1)))

    assert report.dispatch.sent == 1
    sms = step(factory, 1, "sms")
    [form] = smsapi.forms
    [accepted] = smsapi.sent
    assert sms.status == "sent" and sms.connector == "smsapi"
    assert sms.sent_at == clock.now
    assert sms.provider_id == accepted["id"]
    assert sms.segments == accepted["parts"]  # what SMSAPI bills, not our estimate
    assert form["idx"] == f"sr-{shop.id}-{sms.id}"
    assert form["check_idx"] == "1"
    assert form["encoding"] == "utf-8"
    assert form["from"] == "SklepTest"
    assert form["to"] == "48600100200"
    assert form["message"] == sms.body_text
    assert form["message"].startswith("Sklep Testowy: Anna, Twoj koszyk czeka: https:")
    assert form["notify_url"] == f"https://retention.example/smsapi/reports/{shop.report_token}"
    assert smsapi.requests[0].headers["authorization"] == f"Bearer {TOKEN}"
    assert outbox_entries(factory) == []  # a real provider, not the dev outbox


def test_shops_own_smsapi_token_wins_over_the_operators(client, factory, settings, clock, http):
    with FakeSmsapi(access_token="shop-own-token") as fake:
        worker = Worker(
            settings.with_(smsapi_url=fake.url, smsapi_token="operator-token"),
            factory,
            http=http,
            name="w",
        )
        shop = make_shop(
            factory,
            settings,
            now=clock.now,
            smsapi_token_enc=CredentialBox(settings.secret_key).seal("shop-own-token"),
        )
        start = abandon_cart(client, worker, shop, clock)

        assert worker.tick(clock.set(start + timedelta(hours=1))).dispatch.sent == 1
        assert fake.requests[0].headers["authorization"] == "Bearer shop-own-token"


def test_resend_after_a_worker_crash_is_recognised_and_only_one_sms_goes_out(
    client, sms_worker, factory, settings, clock, smsapi
):
    shop = make_shop(factory, settings, now=clock.now)
    start = abandon_cart(client, sms_worker, shop, clock)
    sent_at = clock.set(start + timedelta(hours=1))
    sms_worker.tick(sent_at)
    sms = step(factory, 1, "sms")
    with factory() as session, session.begin():
        # The worker died after SMSAPI accepted the SMS but before it recorded that: the
        # message is still claimed, under a lease that has now run out.
        session.execute(
            update(Message)
            .where(Message.id == sms.id)
            .values(
                status="claimed",
                claim_token="dead-worker",
                lease_until=sent_at + timedelta(minutes=5),
                provider_id="",
                sent_at=None,
                connector="",
            )
        )

    report = sms_worker.tick(clock.advance(minutes=6))

    assert report.dispatch.sent == 1
    first, second = smsapi.forms
    assert first["idx"] == second["idx"] == f"sr-{shop.id}-{sms.id}"
    assert len(smsapi.sent) == 1  # the second request was answered with error 53
    again = step(factory, 1, "sms")
    assert again.status == "sent"
    assert again.sent_at == clock.now
    assert sms_worker.tick(clock.advance(minutes=10)).dispatch.sent == 0
    assert len(smsapi.requests) == 2


def test_invalid_number_fails_the_message_and_suppresses_the_number(
    client, sms_worker, factory, settings, clock, smsapi
):
    shop = make_shop(factory, settings, now=clock.now)
    start = abandon_cart(client, sms_worker, shop, clock)
    smsapi.fail_next(13, "No correct phone numbers")

    report = sms_worker.tick(clock.set(start + timedelta(hours=1)))

    assert report.dispatch.failed == 1
    sms = step(factory, 1, "sms")
    assert sms.status == "failed"
    assert sms.reason == "SMSAPI error 13: invalid or blacklisted phone number"
    with factory() as session:
        suppression = session.scalars(select(Suppression)).one()
    assert (suppression.shop_id, suppression.channel, suppression.address) == (
        shop.id,
        "sms",
        PHONE,
    )
    with factory() as session:
        proof = session.scalars(select(Consent).order_by(Consent.id.desc())).first()
    assert proof is not None
    assert (proof.address, proof.granted, proof.source, proof.assurance) == (
        PHONE,
        False,
        "smsapi",
        "provider",
    )

    sms_worker.tick(clock.set(start + timedelta(hours=72)))

    last_sms = step(factory, 3, "sms")
    assert (last_sms.status, last_sms.reason) == ("skipped", "unsubscribed")
    email3 = step(factory, 3, "email")  # the e-mail address is not suppressed by the bad number
    assert (email3.status, email3.reason) == (
        "scheduled",
        "no SMTP server configured on this server",
    )
    assert len(smsapi.requests) == 1


def test_no_credit_pauses_the_channel_until_the_merchant_saves_the_settings(
    client, sms_worker, factory, settings, clock, smsapi
):
    shop = make_shop(factory, settings, now=clock.now)
    start = abandon_cart(client, sms_worker, shop, clock)
    smsapi.fail_next(103, "Insufficient credits")

    report = sms_worker.tick(clock.set(start + timedelta(hours=1)))

    assert report.dispatch.paused == 1
    reason = "SMSAPI error 103: not enough credit"
    sms = step(factory, 1, "sms")
    assert sms.status == "scheduled"  # pending, not failed
    assert sms.due_at == start + timedelta(hours=1)
    with factory() as session:
        pause = session.get(ChannelPause, (shop.id, "sms"))
        assert pause is not None and pause.reason == reason
    for minutes in (10, 60, 120):
        assert sms_worker.tick(clock.advance(minutes=minutes)).dispatch.sent == 0
    assert len(smsapi.requests) == 1  # paused messages are not even claimed
    assert step(factory, 1, "sms").status == "scheduled"

    token = Links(settings.secret_key, settings.public_url).settings_form_token(shop.id, clock.now)
    page = client.get(f"/shoper/app?t={token}")
    assert page.status_code == 200
    assert reason in page.get_data(as_text=True)
    assert 'class="notice err pause" data-channel="sms"' in page.get_data(as_text=True)

    saved = client.post("/shoper/app/settings", data=settings_form_fields(token))

    assert saved.status_code == 303
    with factory() as session:
        assert session.get(ChannelPause, (shop.id, "sms")) is None
    assert 'class="notice err pause"' not in client.get(f"/shoper/app?t={token}").get_data(
        as_text=True
    )
    assert sms_worker.tick(clock.advance(minutes=1)).dispatch.sent == 1
    assert step(factory, 1, "sms").status == "sent"
    assert len(smsapi.sent) == 1


def test_pause_of_one_shop_does_not_hold_back_another(
    client, sms_worker, factory, settings, clock, smsapi
):
    broke = make_shop(factory, settings, now=clock.now)
    fine = make_shop(factory, settings, now=clock.now)
    with factory() as session, session.begin():
        session.add(
            ChannelPause(shop_id=broke.id, channel="sms", reason="no credit", since=clock.now)
        )
    start = clock.now
    post_cart(client, broke, cart_snapshot(at=start), confirmed=True)
    post_cart(
        client,
        fine,
        cart_snapshot(at=start, phone="+48600100300", email="b@example.com"),
        confirmed=True,
    )
    sms_worker.tick(clock.now)
    sms_worker.tick(clock.advance(minutes=31))

    sms_worker.tick(clock.set(start + timedelta(hours=1)))

    by_shop = {m.shop_id: m.status for m in messages(factory) if m.channel == "sms" and m.step == 1}
    assert by_shop == {broke.id: "scheduled", fine.id: "sent"}
    assert [f["to"] for f in smsapi.forms] == ["48600100300"]


def test_smsapi_unavailable_retries_after_the_backoff(
    client, sms_worker, factory, settings, clock, smsapi
):
    shop = make_shop(factory, settings, now=clock.now)
    start = abandon_cart(client, sms_worker, shop, clock)
    smsapi.http_error_next(503)
    now = clock.set(start + timedelta(hours=1))

    report = sms_worker.tick(now)

    assert report.dispatch.retried == 1
    sms = step(factory, 1, "sms")
    assert sms.status == "scheduled"
    assert sms.attempts == 1
    assert sms.reason == "SMSAPI is unavailable (HTTP 503)"
    assert sms.due_at == now + timedelta(minutes=1)
    assert sms_worker.tick(now + timedelta(seconds=59)).dispatch.sent == 0
    assert sms_worker.tick(now + timedelta(minutes=1)).dispatch.sent == 1
    assert len(smsapi.sent) == 1


def test_smsapi_timeout_retries_and_the_late_acceptance_is_not_sent_twice(
    client, factory, settings, clock, smsapi, http
):
    def short_timeouts(shop: Shop, channel: str) -> Connector:
        if channel == "sms":
            return SmsapiConnector(smsapi.url, TOKEN, timeout=0.2)
        return DevOutboxConnector(channel, factory)

    worker = Worker(settings, factory, http=http, connectors_for=short_timeouts, name="w")
    shop = make_shop(factory, settings, now=clock.now)
    start = abandon_cart(client, worker, shop, clock)
    smsapi.delay_next(0.6)
    now = clock.set(start + timedelta(hours=1))

    report = worker.tick(now)

    assert report.dispatch.retried == 1
    sms = step(factory, 1, "sms")
    assert (sms.status, sms.attempts) == ("scheduled", 1)
    assert sms.reason == "SMSAPI did not answer in time"
    assert sms.due_at == now + timedelta(minutes=1)
    deadline = time.monotonic() + 3
    while not smsapi.sent and time.monotonic() < deadline:
        time.sleep(0.05)  # the slow request lands at SMSAPI after we gave up on it
    assert len(smsapi.sent) == 1

    assert worker.tick(now + timedelta(minutes=1)).dispatch.sent == 1
    assert step(factory, 1, "sms").status == "sent"
    assert len(smsapi.sent) == 1
    assert len(smsapi.requests) == 2


def test_sms_with_no_token_anywhere_pauses_instead_of_vanishing_when_smtp_is_configured(
    client, factory, settings, clock, http
):
    """With a real provider configured the dev outbox is off, so an SMS with no SMSAPI token
    must wait (paused, shown to the merchant) rather than be marked sent."""
    from shoper_retention.models import ChannelPause
    from shoper_retention.worker import Worker
    from tests.support import cart_snapshot, make_shop, messages, outbox_entries, post_cart

    prod = settings.with_(smtp_url="smtp://127.0.0.1:1")
    worker = Worker(prod, factory, http=http, name="w")
    shop = make_shop(factory, prod, now=clock.now)
    start = clock.now
    post_cart(client, shop, cart_snapshot(at=start), confirmed=True)
    worker.tick(clock.now)
    worker.tick(clock.advance(minutes=31))
    report = worker.tick(clock.set(start + timedelta(hours=1)))
    assert report.dispatch.paused == 1
    (sms,) = [m for m in messages(factory) if m.step == 1]
    assert sms.status == "scheduled"
    assert outbox_entries(factory) == []
    with factory() as session:
        pause = session.get(ChannelPause, (shop.id, "sms"))
        assert pause is not None and "SMSAPI token" in pause.reason
