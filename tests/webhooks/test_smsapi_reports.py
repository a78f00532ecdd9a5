"""SMSAPI delivery reports at `/smsapi/reports/<report_token>`: comma-separated lists, several
messages per call, matched within the token's shop by provider id or idx, idempotent."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from shoper_retention.connectors.base import Connector
from shoper_retention.connectors.dev_outbox import DevOutboxConnector
from shoper_retention.connectors.smsapi import SmsapiConnector
from shoper_retention.models import Contact, Message, Shop
from shoper_retention.worker import Worker
from tests.fakes.smsapi_server import FakeSmsapi
from tests.support import ShopHandle, cart_snapshot, make_shop, messages, post_cart

DONE = datetime(2026, 3, 3, 8, 5, tzinfo=UTC)


def sent_sms(factory: sessionmaker[Session], shop: ShopHandle, provider_id: str, n: int = 1) -> int:
    """An SMS we sent earlier and SMSAPI accepted under `provider_id`; returns its id."""
    at = DONE - timedelta(minutes=5)
    with factory() as session, session.begin():
        contact = Contact(shop_id=shop.id, phone=f"+4860010{n:04d}", created_at=at, updated_at=at)
        session.add(contact)
        session.flush()
        message = Message(
            shop_id=shop.id,
            contact_id=contact.id,
            scenario="cart_recovery",
            subject_type="cart",
            subject_id=n,
            step=1,
            channel="sms",
            marketing=True,
            plan_key=f"cart_recovery:cart:{n}:1:1:sms",
            status="sent",
            due_at=at,
            planned_at=at,
            sent_at=at,
            updated_at=at,
            to_address=contact.phone or "",
            connector="smsapi",
            provider_id=provider_id,
        )
        session.add(message)
        session.flush()
        return message.id


def row(factory: sessionmaker[Session], message_id: int) -> Message:
    with factory() as session:
        message = session.get(Message, message_id)
        assert message is not None
        return message


def state(message: Message) -> tuple[Any, ...]:
    return (
        message.status,
        message.provider_status,
        message.delivered_at,
        message.reason,
        message.provider_id,
        message.updated_at,
    )


def test_delivered_report_by_get_marks_the_message_delivered(client, factory, settings, clock):
    shop = make_shop(factory, settings, now=clock.now)
    sms = sent_sms(factory, shop, "A1B2C3")

    answer = client.get(
        f"/smsapi/reports/{shop.report_token}",
        query_string={
            "MsgId": "A1B2C3",
            "status": "404",
            "idx": f"sr-{shop.id}-{sms}",
            "donedate": str(int(DONE.timestamp())),
        },
    )

    assert answer.status_code == 200
    assert answer.get_data(as_text=True) == "OK"
    assert answer.content_type.startswith("text/plain")
    message = row(factory, sms)
    assert (message.status, message.provider_status, message.delivered_at) == (
        "delivered",
        "DELIVERED",
        DONE,
    )


def test_post_with_several_messages_applies_each_report(client, factory, settings, clock):
    shop = make_shop(factory, settings, now=clock.now)
    ids = [sent_sms(factory, shop, f"ID{n}", n) for n in (1, 2, 3)]
    done = str(int(DONE.timestamp()))

    answer = client.post(
        f"/smsapi/reports/{shop.report_token}",
        data={
            "MsgId": "ID1,ID2,ID3",
            "status": "404,406,403",
            "status_name": "DELIVERED,FAILED,SENT",
            "idx": ",".join(f"sr-{shop.id}-{i}" for i in ids),
            "donedate": ",".join([done] * 3),
            "to": "48600100001,48600100002,48600100003",
        },
    )

    assert answer.get_data(as_text=True) == "OK"
    delivered, failed, on_its_way = (row(factory, i) for i in ids)
    assert (delivered.status, delivered.delivered_at) == ("delivered", DONE)
    assert (failed.status, failed.provider_status) == ("undelivered", "FAILED")
    assert failed.reason == "delivery report: FAILED"
    assert failed.delivered_at is None
    assert (on_its_way.status, on_its_way.provider_status) == ("sent", "SENT")  # not final


def test_replaying_the_same_report_changes_nothing(client, factory, settings, clock):
    shop = make_shop(factory, settings, now=clock.now)
    delivered = sent_sms(factory, shop, "ID1", 1)
    failed = sent_sms(factory, shop, "ID2", 2)
    report = {"MsgId": "ID1,ID2", "status": "404,406"}  # no donedate: our clock stamps it
    client.post(f"/smsapi/reports/{shop.report_token}", data=report)
    before = [state(row(factory, i)) for i in (delivered, failed)]

    clock.advance(hours=1)
    answer = client.post(f"/smsapi/reports/{shop.report_token}", data=report)

    assert answer.get_data(as_text=True) == "OK"
    assert [state(row(factory, i)) for i in (delivered, failed)] == before


def test_a_late_report_never_undoes_a_final_one(client, factory, settings, clock):
    shop = make_shop(factory, settings, now=clock.now)
    delivered = sent_sms(factory, shop, "ID1", 1)
    failed = sent_sms(factory, shop, "ID2", 2)
    url = f"/smsapi/reports/{shop.report_token}"
    client.get(url, query_string={"MsgId": "ID1,ID2", "status": "404,406"})
    before = [state(row(factory, i)) for i in (delivered, failed)]

    clock.advance(minutes=10)
    # Out of order or repeated: an intermediate status, then the opposite final one.
    client.get(url, query_string={"MsgId": "ID1,ID2", "status": "403,409"})
    client.get(url, query_string={"MsgId": "ID1,ID2", "status": "406,404"})

    assert [state(row(factory, i)) for i in (delivered, failed)] == before


def test_unknown_report_token_is_a_404_and_touches_nothing(client, factory, settings, clock):
    shop = make_shop(factory, settings, now=clock.now)
    sms = sent_sms(factory, shop, "ID1")
    before = state(row(factory, sms))

    answer = client.get(
        "/smsapi/reports/not-a-report-token", query_string={"MsgId": "ID1", "status": "404"}
    )

    assert answer.status_code == 404
    assert state(row(factory, sms)) == before


def test_report_never_touches_another_shops_messages(client, factory, settings, clock):
    shop = make_shop(factory, settings, now=clock.now)
    other = make_shop(factory, settings, now=clock.now)
    mine = sent_sms(factory, shop, "SAME-ID", 1)
    theirs = sent_sms(factory, other, "SAME-ID", 2)
    theirs_too = sent_sms(factory, other, "OTHER-ID", 3)
    before = [state(row(factory, i)) for i in (theirs, theirs_too)]

    # This shop's token, naming the other shop's provider id and idx.
    client.post(
        f"/smsapi/reports/{shop.report_token}",
        data={
            "MsgId": "SAME-ID,OTHER-ID,",
            "status": "404,404,404",
            "idx": f",sr-{other.id}-{theirs_too},sr-{other.id}-{theirs}",
        },
    )

    assert row(factory, mine).status == "delivered"
    assert [state(row(factory, i)) for i in (theirs, theirs_too)] == before


def test_message_without_a_provider_id_is_matched_by_idx_and_learns_it(
    client, factory, settings, clock
):
    # A resend after a crash is answered "already sent" (error 53) with no id of its own.
    shop = make_shop(factory, settings, now=clock.now)
    sms = sent_sms(factory, shop, "")
    url = f"/smsapi/reports/{shop.report_token}"

    client.get(
        url, query_string={"MsgId": "LATE-ID", "status": "403", "idx": f"sr-{shop.id}-{sms}"}
    )

    assert row(factory, sms).provider_id == "LATE-ID"
    client.get(url, query_string={"MsgId": "LATE-ID", "status": "404"})  # no idx this time
    assert row(factory, sms).status == "delivered"


def test_report_naming_only_the_idx_is_applied(client, factory, settings, clock):
    shop = make_shop(factory, settings, now=clock.now)
    sms = sent_sms(factory, shop, "ID1")

    client.get(
        f"/smsapi/reports/{shop.report_token}",
        query_string={"status": "406", "idx": f"sr-{shop.id}-{sms}"},
    )

    assert row(factory, sms).status == "undelivered"


def test_malformed_values_are_ignored_without_an_error(client, factory, settings, clock):
    shop = make_shop(factory, settings, now=clock.now)
    sms = sent_sms(factory, shop, "ID1")
    url = f"/smsapi/reports/{shop.report_token}"

    answer = client.post(
        url,
        data={
            "MsgId": "ID1,ID-NONE,",
            "status": "404," + "9" * 60 + ",404",
            "idx": f"sr-{shop.id}-{sms},sr-{shop.id}-{'9' * 30},sr-{shop.id}-١٢",
            "donedate": "9" * 30 + ",x,",
        },
    )

    assert answer.status_code == 200
    assert answer.get_data(as_text=True) == "OK"
    message = row(factory, sms)
    assert (message.status, message.delivered_at) == ("delivered", clock.now)


def test_report_for_an_sms_whose_send_timed_out_ends_it_as_delivered_not_resent(
    client, factory, settings, clock, http
):
    """SMSAPI took the SMS though we gave up waiting; its report arrives before our retry."""
    with FakeSmsapi(access_token="tok") as smsapi:

        def slow_sms(shop: Shop, channel: str) -> Connector:
            if channel == "sms":
                return SmsapiConnector(smsapi.url, "tok", timeout=0.2)
            return DevOutboxConnector(channel, factory)

        worker = Worker(settings, factory, http=http, connectors_for=slow_sms, name="w")
        shop = make_shop(factory, settings, now=clock.now)
        start = clock.now
        post_cart(client, shop, cart_snapshot(at=start), confirmed=True)
        worker.tick(clock.now)
        worker.tick(clock.advance(minutes=31))
        smsapi.delay_next(0.6)
        assert worker.tick(clock.set(start + timedelta(hours=1))).dispatch.retried == 1
        deadline = time.monotonic() + 3
        while not smsapi.sent and time.monotonic() < deadline:
            time.sleep(0.05)
        (accepted,) = smsapi.sent
        (sms,) = [m for m in messages(factory) if m.channel == "sms" and m.step == 1]
        assert accepted["idx"] == f"sr-{shop.id}-{sms.id}"

        reported_at = clock.advance(seconds=20)
        client.get(
            f"/smsapi/reports/{shop.report_token}",
            query_string={"MsgId": accepted["id"], "status": "404", "idx": accepted["idx"]},
        )
        worker.tick(clock.advance(minutes=5))

        sms = row(factory, sms.id)
        assert (sms.status, sms.provider_id) == ("delivered", accepted["id"])
        assert sms.sent_at == reported_at  # it went out: the frequency cap and attribution count it
        assert len(smsapi.requests) == 1  # no resend


def test_an_uninstalled_shops_report_token_is_404_and_changes_nothing(
    client, factory, settings, clock
):
    shop = make_shop(factory, settings, now=clock.now)
    sms = sent_sms(factory, shop, "A1B2C3")
    before = state(row(factory, sms))
    with factory() as session, session.begin():
        stored = session.get(Shop, shop.id)
        assert stored is not None
        stored.status = "uninstalled"
    answer = client.get(
        f"/smsapi/reports/{shop.report_token}",
        query_string={"MsgId": "A1B2C3", "status": "404", "donedate": str(int(DONE.timestamp()))},
    )
    assert answer.status_code == 404
    assert state(row(factory, sms)) == before
    assert row(factory, sms).status == "sent"
