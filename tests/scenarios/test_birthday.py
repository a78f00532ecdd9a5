"""The birthday scenario through Shoper's customer webhook, the storefront sign-up and the
worker: when it plans and sends, once a year, with consent only, what stops it at send time,
and a scan that reads only the day's contacts."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import event, select

from shoper_retention.contacts import consent
from shoper_retention.models import Consent, Contact, Shop
from shoper_retention.scenarios.birthday import Birthday
from tests.support import make_shop, messages, outbox_entries, post_webhook

FIELD = 3  # the shop's customer field holding a birth date
# 15 June 2026, 10:00 in Warsaw (CEST) is 08:00 UTC.
BIRTHDAY_TEN = datetime(2026, 6, 15, 8, 0, tzinfo=UTC)


def customer(
    email: str = "anna@example.com",
    born: str = "15.06.1990",
    *,
    newsletter: str = "1",
    user_id: str = "5",
    date_add: str = "2024-01-10 12:00:00",
) -> dict[str, Any]:
    """A Shoper `users` row as its webhook sends it (samples/shoper/GET_users_page1.json)."""
    return {
        "user_id": user_id,
        "date_add": date_add,
        "additional_fields": [
            {"field_id": "1", "type": "2", "value": "1"},
            {"field_id": str(FIELD), "type": "1", "value": born},
        ],
        "firstname": "Anna",
        "lastname": "Nowak",
        "email": email,
        "newsletter": newsletter,
        "active": "1",
        "lang_id": "1",
    }


def birthday_shop(factory, settings, clock, **birthday: Any):  # type: ignore[no-untyped-def]
    config = {
        "enabled": True,
        "shoper_field": FIELD,
        "coupon": {"mode": "static", "static_code": "URODZINY"},
    }
    config.update(birthday)
    return make_shop(
        factory,
        settings,
        now=clock.now,
        cart_recovery=False,
        overrides={"scenarios": {"birthday": config}},
    )


def sign_up(client, shop, payload: dict[str, Any]):  # type: ignore[no-untyped-def]
    return client.post(
        f"/storefront/{shop.public_key}/birthday",
        data=json.dumps(payload),
        content_type="application/json",
    )


def the_contact(factory, shop) -> Contact:  # type: ignore[no-untyped-def]
    with factory() as session:
        return session.scalars(select(Contact).where(Contact.shop_id == shop.id)).one()


def test_the_wishes_go_at_ten_shop_time_on_the_day_with_the_coupon(
    client, worker, factory, settings, clock
):
    shop = birthday_shop(factory, settings, clock)
    assert post_webhook(client, shop, "client.create", customer()).status_code == 202
    worker.tick(clock.now)
    contact = the_contact(factory, shop)
    assert (contact.birthday_md, contact.birthday_source) == (615, "platform")

    # Planned from the first tick of the day, due at 10:00 Warsaw time.
    assert worker.tick(clock.set(BIRTHDAY_TEN - timedelta(hours=9))).planned == 1
    (planned,) = messages(factory)
    assert planned.due_at == BIRTHDAY_TEN and planned.channel == "email" and planned.run == 2026
    assert worker.tick(clock.set(BIRTHDAY_TEN - timedelta(minutes=1))).dispatch.sent == 0
    assert worker.tick(clock.set(BIRTHDAY_TEN)).dispatch.sent == 1

    (email,) = outbox_entries(factory)
    assert email.to_address == "anna@example.com"
    assert email.subject.startswith("Wszystkiego najlepszego z okazji urodzin!")
    assert "Cześć, Anna!" in email.body_text
    assert "Kod: URODZINY" in email.body_text
    assert email.headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_once_a_year_however_often_the_scan_runs(client, worker, factory, settings, clock):
    shop = birthday_shop(factory, settings, clock)
    post_webhook(client, shop, "client.create", customer())
    worker.tick(clock.now)

    assert worker.tick(clock.set(BIRTHDAY_TEN)).dispatch.sent == 1
    for later in (timedelta(minutes=5), timedelta(hours=6), timedelta(days=1)):
        report = worker.tick(clock.set(BIRTHDAY_TEN + later))
        assert (report.planned, report.dispatch.sent) == (0, 0)
    next_year = datetime(2027, 6, 15, 8, 0, tzinfo=UTC)
    assert worker.tick(clock.set(next_year)).dispatch.sent == 1
    assert [m.run for m in messages(factory)] == [2026, 2027]


def test_no_consent_no_wishes_and_a_consent_given_that_day_still_counts(
    client, worker, factory, settings, clock
):
    shop = birthday_shop(factory, settings, clock)
    post_webhook(client, shop, "client.create", customer(newsletter="0"))
    worker.tick(clock.now)
    assert worker.tick(clock.set(BIRTHDAY_TEN)).planned == 0

    with factory() as session, session.begin():
        contact = session.scalars(select(Contact).where(Contact.shop_id == shop.id)).one()
        consent.record(
            session,
            contact,
            "email",
            "anna@example.com",
            True,
            clock.now,
            source="confirmation link",
            assurance=consent.CONFIRMED,
        )
    assert worker.tick(clock.set(BIRTHDAY_TEN + timedelta(hours=3))).dispatch.sent == 1


def test_a_birthday_changed_after_planning_cancels_the_wishes(
    client, worker, factory, settings, clock
):
    shop = birthday_shop(factory, settings, clock)
    post_webhook(client, shop, "client.create", customer())
    worker.tick(clock.now)
    assert worker.tick(clock.set(BIRTHDAY_TEN - timedelta(hours=2))).planned == 1

    post_webhook(client, shop, "client.edit", customer(born="20.06.1990"))
    report = worker.tick(clock.set(BIRTHDAY_TEN))
    assert report.dispatch.sent == 0
    assert [(m.status, m.reason) for m in messages(factory)] == [("cancelled", "birthday changed")]
    # The new date is a new day, but the year's run was used: no second birthday this year.
    assert worker.tick(clock.set(BIRTHDAY_TEN + timedelta(days=5))).planned == 0


def test_a_customer_field_is_read_only_when_the_merchant_mapped_it(
    client, worker, factory, settings, clock
):
    shop = birthday_shop(factory, settings, clock, shoper_field=0)
    post_webhook(client, shop, "client.create", customer())
    worker.tick(clock.now)
    contact = the_contact(factory, shop)
    assert contact.birthday_md is None
    assert contact.joined_on == datetime(2024, 1, 10).date()  # date_add, shop-local


def test_the_storefront_cannot_move_a_birthday_so_no_second_coupon_that_year(
    client, worker, factory, settings, clock
):
    shop = birthday_shop(factory, settings, clock)
    post_webhook(client, shop, "client.create", customer(born=""))  # a consenting customer
    worker.tick(clock.now)
    clock.set(BIRTHDAY_TEN)
    body = {"contact": {"email": "anna@example.com"}, "birthday": {"month": 6, "day": 15}}
    assert sign_up(client, shop, body).status_code == 202
    assert worker.tick(clock.now).dispatch.sent == 1

    for day in (16, 17, 18):
        clock.set(BIRTHDAY_TEN.replace(day=day))
        body["birthday"] = {"month": 6, "day": day}
        assert sign_up(client, shop, body).status_code == 202
        report = worker.tick(clock.now)
        assert (report.planned, report.dispatch.sent) == (0, 0)
    assert the_contact(factory, shop).birthday_md == 615  # the form cannot move a date
    assert len(outbox_entries(factory)) == 1


def test_the_sms_channel_goes_to_the_confirmed_mobile(client, worker, factory, settings, clock):
    shop = birthday_shop(factory, settings, clock, channel="sms")
    post_webhook(client, shop, "client.create", customer())
    worker.tick(clock.now)
    with factory() as session, session.begin():
        contact = session.scalars(select(Contact).where(Contact.shop_id == shop.id)).one()
        contact.phone = "+48600100200"
        consent.record(
            session,
            contact,
            "sms",
            "+48600100200",
            True,
            clock.now,
            source="confirmation link",
            assurance=consent.CONFIRMED,
        )
    assert worker.tick(clock.set(BIRTHDAY_TEN)).dispatch.sent == 1
    (sms,) = outbox_entries(factory)
    assert sms.channel == "sms" and sms.to_address == "+48600100200"
    assert sms.body_text.startswith("Sklep Testowy: wszystkiego najlepszego z okazji urodzin!")
    assert "URODZINY" in sms.body_text and "Rezygnacja:" in sms.body_text


def test_switched_off_nothing_is_planned(client, worker, factory, settings, clock):
    shop = birthday_shop(factory, settings, clock, enabled=False)
    post_webhook(client, shop, "client.create", customer())
    worker.tick(clock.now)
    assert the_contact(factory, shop).birthday_md == 615  # the state is kept all the same
    assert worker.tick(clock.set(BIRTHDAY_TEN)).planned == 0


def test_the_scan_reads_only_the_days_contacts(client, worker, factory, settings, clock):
    """Its statements do not grow with the shop's other contacts: the scan is one index range
    on (shop, birthday_md), never a walk over everyone."""
    shop = birthday_shop(factory, settings, clock)
    engine = factory.kw["bind"]

    def scan_statements() -> list[str]:
        seen: list[str] = []

        def note(conn, cursor, statement, *args: Any) -> None:  # type: ignore[no-untyped-def]
            seen.append(statement)

        event.listen(engine, "before_cursor_execute", note)
        try:
            with factory() as session, session.begin():
                row = session.get(Shop, shop.id)
                assert row is not None
                Birthday().scan(session, row, BIRTHDAY_TEN)
        finally:
            event.remove(engine, "before_cursor_execute", note)
        return seen

    def add_contacts(count: int, md: int, offset: int) -> None:
        """Contacts with birthday `md`, each with a platform e-mail grant."""
        with factory() as session, session.begin():
            for n in range(offset, offset + count):
                contact = Contact(
                    shop_id=shop.id,
                    email=f"c{n}@example.com",
                    birthday_md=md,
                    birthday_source="import",
                    created_at=clock.now,
                    updated_at=clock.now,
                )
                session.add(contact)
                session.flush()
                consent.record(
                    session,
                    contact,
                    "email",
                    f"c{n}@example.com",
                    True,
                    clock.now,
                    source="shoper customer",
                    assurance=consent.PLATFORM,
                )

    add_contacts(3, 615, 0)
    first = scan_statements()
    assert len(messages(factory)) == 3
    add_contacts(500, 101, 1000)  # other days
    again = scan_statements()
    assert len(messages(factory)) == 3  # nobody twice
    assert len(again) <= 2  # already planned: the day's query, nothing per contact
    assert len(first) < 3 * 10


def test_a_sign_ups_ticked_box_asks_the_owner_and_only_their_click_lets_the_wishes_go(
    client, worker, factory, settings, clock
):
    """The form's consent is a claim: one confirmation request, no birthday until the owner
    follows its link; an unticked box stops nobody."""
    shop = birthday_shop(factory, settings, clock)
    body = {
        "contact": {"email": "ola@example.com"},
        "birthday": {"month": 6, "day": 15},
        "consent": {"email": True},
        "consent_text_version": "urodziny-1",
    }
    assert sign_up(client, shop, body).status_code == 202
    worker.tick(clock.now)
    (request,) = outbox_entries(factory)
    assert request.to_address == "ola@example.com"
    assert [m.scenario for m in messages(factory)] == ["consent_confirmation"]

    assert worker.tick(clock.set(BIRTHDAY_TEN)).planned == 0  # a claim is no consent
    (link,) = re.findall(r"https?://[^/\s]+(/k/[A-Za-z0-9_.\-]+)", request.body_text)
    assert client.post(link, data={"answer": "yes"}).status_code == 200
    with factory() as session:
        (claim, confirmed) = session.scalars(select(Consent).order_by(Consent.id)).all()
    assert (claim.assurance, claim.cart_id, claim.source) == ("requested", None, "birthday sign-up")
    assert (confirmed.assurance, confirmed.text_version) == ("confirmed", "urodziny-1")

    # A stranger's untick for her address afterwards changes nothing.
    body["consent"] = {"email": False}
    assert sign_up(client, shop, body).status_code == 202
    assert worker.tick(clock.set(BIRTHDAY_TEN + timedelta(minutes=5))).dispatch.sent == 1
    assert outbox_entries(factory)[-1].subject.startswith("Wszystkiego najlepszego")
