"""The yearly scans' bulk path (celebrations.plan_day -> planning.plan_messages ->
consent.states + outbox.schedule_many) against the per-contact path it replaced: the same
consent verdicts, the same messages, and the plan key still the guard against planning twice."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from shoper_retention.contacts import consent, dates
from shoper_retention.messaging import outbox
from shoper_retention.models import Cart, Consent, Contact, Message, Shop, Suppression
from shoper_retention.scenarios import anniversaries, birthday, celebrations, planning
from shoper_retention.scenarios.anniversaries import Anniversaries
from shoper_retention.scenarios.birthday import Birthday
from tests.support import make_shop

# 15 June 2026, 08:00 in Warsaw: the day's messages are due at 10:00 (08:00 UTC), not now.
NOW = datetime(2026, 6, 15, 6, 0, tzinfo=UTC)
TEN = datetime(2026, 6, 15, 8, 0, tzinfo=UTC)
TODAY_MD = 615

# address -> the rows written for it, oldest first: (channel, granted, assurance, cart-level)
EMAILS: dict[str, list[tuple[bool, str, bool]]] = {
    "granted@example.com": [(True, consent.PLATFORM, False)],
    "pending@example.com": [(True, consent.REQUESTED, False)],
    "refused-request@example.com": [(False, consent.REQUESTED, False)],
    "withdrawn@example.com": [(True, consent.PLATFORM, False), (False, consent.OWNER, False)],
    "regranted@example.com": [
        (True, consent.PLATFORM, False),
        (False, consent.OWNER, False),
        (True, consent.CONFIRMED, False),
    ],
    "late-request@example.com": [
        (True, consent.PLATFORM, False),
        (False, consent.OWNER, False),
        (True, consent.REQUESTED, False),
    ],
    "old-request@example.com": [(True, consent.REQUESTED, False), (False, consent.OWNER, False)],
    "cart-only@example.com": [(True, consent.CLAIMED, True)],
    "suppressed@example.com": [(True, consent.PLATFORM, False)],
    "nothing@example.com": [],
}
PHONES: dict[str, list[tuple[bool, str, bool]]] = {
    "+48600100200": [(True, consent.CONFIRMED, False)],
    "+48600100201": [(True, consent.REQUESTED, False)],
    "+48600100202": [(True, consent.CONFIRMED, False), (False, consent.PROVIDER, False)],
    "+4915112345678": [(True, consent.CONFIRMED, False)],  # a German mobile: not a shop country
    "+48221234567": [(True, consent.CONFIRMED, False)],  # a Warsaw landline
    "+48600100209": [],
}


def _populate(factory, settings, overrides: dict[str, Any]) -> int:  # type: ignore[no-untyped-def]
    """A shop whose contacts celebrate everything today, with every case's address, plus
    another shop granting every address (it must count for nothing here)."""
    shop = make_shop(
        factory, settings, now=NOW - timedelta(days=900), cart_recovery=False, overrides=overrides
    )
    other = make_shop(factory, settings, now=NOW - timedelta(days=900), cart_recovery=False)
    old = NOW - timedelta(days=800)
    with factory() as session, session.begin():
        contacts = []
        # Addresses are unique per shop: each case once, the first phones with e-mails (the
        # channel choice weighs both), the others alone.
        emails, phones = list(EMAILS), list(PHONES)
        pairs = [*zip(emails[:3], phones[:3], strict=True), *((e, None) for e in emails[3:])]
        pairs += [(None, p) for p in phones[3:]] + [(None, None)]
        for email, phone in pairs:
            contacts.append(
                Contact(
                    shop_id=shop.id,
                    email=email,
                    phone=phone,
                    birthday_md=TODAY_MD,
                    first_order_on=date(2024, 6, 15),
                    first_order_md=TODAY_MD,
                    joined_on=date(2026, 6, 15),  # this year: no anniversary yet
                    joined_md=TODAY_MD,
                    created_at=old,
                    updated_at=old,
                )
            )
        stranger = Contact(shop_id=other.id, email="x@example.com", created_at=old, updated_at=old)
        session.add_all([*contacts, stranger])
        session.flush()
        cart = Cart(
            shop_id=shop.id,
            platform_cart_id="c1",
            contact_id=contacts[0].id,
            items=[],
            token="t" * 30,
            started_at=old,
            last_activity_at=old,
            snapshot_at=old,
        )
        session.add(cart)
        session.flush()
        for channel, cases in (("email", EMAILS), ("sms", PHONES)):
            for address, rows in cases.items():
                for n, (granted, assurance, cart_level) in enumerate(rows):
                    session.add(
                        Consent(
                            shop_id=shop.id,
                            contact_id=contacts[0].id,
                            channel=channel,
                            granted=granted,
                            source="test",
                            assurance=assurance,
                            address=address,
                            recorded_at=old + timedelta(days=n),
                            cart_id=cart.id if cart_level else None,
                        )
                    )
                    session.flush()  # ids in the order written
                session.add(
                    Consent(
                        shop_id=other.id,
                        contact_id=stranger.id,
                        channel=channel,
                        granted=True,
                        source="test",
                        assurance=consent.PLATFORM,
                        address=address,
                        recorded_at=NOW - timedelta(days=1),
                    )
                )
        session.add(
            Suppression(
                shop_id=shop.id,
                channel="email",
                address="suppressed@example.com",
                reason="test",
                created_at=old,
            )
        )
    return shop.id


def test_states_agrees_with_state_for_every_case(factory, settings):  # type: ignore[no-untyped-def]
    shop_id = _populate(factory, settings, {})
    with factory() as session:
        shop = session.get(Shop, shop_id)
        assert shop is not None
        for channel, cases in (("email", EMAILS), ("sms", PHONES)):
            addresses: list[str | None] = [*cases, None, ""]
            bulk = consent.states(session, shop, channel, addresses)
            one_by_one = {a: consent.state(session, shop, channel, a) for a in addresses}
            assert {a: bulk.get(a or "", "refused") for a in addresses} == one_by_one
        # The cases are not all alike: the comparison means something.
        verdicts = consent.states(session, shop, "email", EMAILS)
        assert {verdicts[a] for a in EMAILS} == {"granted", "pending", "refused"}
        assert consent.states(session, shop, "sms", PHONES)["+48600100200"] == "granted"


def _messages(session) -> list[tuple[Any, ...]]:  # type: ignore[no-untyped-def]
    columns = [c for c in Message.__table__.columns if c.name != "id"]
    rows = session.execute(select(*columns).order_by(Message.plan_key)).all()
    return [tuple(row) for row in rows]


def _one_by_one_birthday(session, shop: Shop, now: datetime) -> int:  # type: ignore[no-untyped-def]
    config = birthday.read_config(shop)
    return _one_by_one(session, shop, "birthday", 1, config.channel, Contact.birthday_md, now)


def _one_by_one(session, shop, scenario, step, channel, md, now, *extra) -> int:  # type: ignore[no-untyped-def]
    """The per-contact path: `planning.plan_message` for each of the day's contacts."""
    today = dates.local_today(shop, now)
    due = dates.celebration_time(shop, today)
    return sum(
        planning.plan_message(
            session, shop, celebrations.subject(scenario, contact, today), step, channel, due, now
        )
        for page in celebrations.todays_pages(session, shop, scenario, step, md, today, *extra)
        for contact in page
    )


def _one_by_one_anniversaries(session, shop: Shop, now: datetime) -> int:  # type: ignore[no-untyped-def]
    config = anniversaries.read_config(shop)
    today = dates.local_today(shop, now)
    return sum(
        _one_by_one(
            session,
            shop,
            "anniversaries",
            kind.step,
            config.channel,
            kind.md,
            now,
            kind.on < date(today.year, 1, 1),
        )
        for kind in config.kinds
    )


@pytest.mark.parametrize("channel", ["auto", "both", "email", "sms"])
def test_the_scans_plan_exactly_what_the_per_contact_path_plans(  # type: ignore[no-untyped-def]
    factory, settings, monkeypatch, channel
):
    monkeypatch.setattr(celebrations, "PAGE", 7)  # several pages
    shop_id = _populate(
        factory,
        settings,
        {
            "scenarios": {
                "birthday": {"enabled": True, "channel": channel},
                "anniversaries": {"enabled": True, "channel": channel},
            }
        },
    )
    results = {}
    for path, birthdays_of, anniversaries_of in (
        ("bulk", Birthday().scan, Anniversaries().scan),
        ("one by one", _one_by_one_birthday, _one_by_one_anniversaries),
    ):
        with factory() as session:
            shop = session.get(Shop, shop_id)
            assert shop is not None
            counts = (birthdays_of(session, shop, NOW), anniversaries_of(session, shop, NOW))
            session.flush()
            results[path] = (counts, _messages(session))
            session.rollback()
    assert results["bulk"] == results["one by one"]
    (birthdays, notes), rows = results["bulk"]
    assert birthdays > 0 and notes > 0  # first orders only: joined this year
    assert len(rows) == birthdays + notes
    assert {r[2] for r in rows} == {"birthday", "anniversaries"}


def test_a_second_scan_and_a_key_planned_already_add_nothing(factory, settings):  # type: ignore[no-untyped-def]
    shop_id = _populate(factory, settings, {"scenarios": {"birthday": {"enabled": True}}})
    with factory() as session, session.begin():
        shop = session.get(Shop, shop_id)
        assert shop is not None
        first = Birthday().scan(session, shop, NOW)
        assert first > 0
        assert Birthday().scan(session, shop, NOW + timedelta(minutes=1)) == 0
        planned = session.scalars(select(Message).where(Message.shop_id == shop_id)).all()
        # What a concurrent scan would insert: the same keys, and one of them twice.
        again = [
            outbox.Plan(
                shop_id=m.shop_id,
                contact_id=m.contact_id,
                scenario=m.scenario,
                subject_type=m.subject_type,
                subject_id=m.subject_id,
                step=m.step,
                channel=m.channel,
                due_at=NOW + timedelta(days=1),
                run=m.run,
            )
            for m in planned
        ]
        fresh = outbox.Plan(
            shop_id=shop_id,
            contact_id=planned[0].contact_id,
            scenario="birthday",
            subject_type="contact",
            subject_id=planned[0].subject_id,
            step=1,
            channel="email",
            due_at=NOW,
            run=2027,
        )
        assert outbox.schedule_many(session, [*again, fresh, fresh], NOW) == 1
        # The transaction is still usable (a failed INSERT would have aborted it on PostgreSQL).
        keys = session.scalars(select(Message.plan_key).where(Message.shop_id == shop_id)).all()
    assert len(keys) == first + 1 == len(set(keys))
    with factory() as session:
        due = session.scalars(select(Message.due_at).where(Message.run == 2026)).all()
        assert set(due) == {TEN}  # the rows planned first were left as they were
