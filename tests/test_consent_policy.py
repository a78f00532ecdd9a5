"""The consent policy (consent.py) through the storefront endpoint, the worker and the link in
the confirmation request: a storefront tick is a claim for its own cart only, e-mail waits for
the owner's confirmation by default, SMS always does, and the shop's own records count."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select

from shoper_retention.models import Cart, Consent, Contact, Suppression
from tests.support import (
    abandon_cart,
    cart_snapshot,
    make_shop,
    messages,
    order_payload,
    outbox_entries,
    post_cart,
    post_webhook,
)

ANNA = "anna@example.com"
ANNA_PHONE = "+48600100200"


def _confirmation_links(factory, address):  # type: ignore[no-untyped-def]
    """The /k/ paths in what the dev outbox received for `address`."""
    found = []
    for entry in outbox_entries(factory):
        if entry.to_address == address:
            found += re.findall(r"https?://[^/\s]+(/k/[A-Za-z0-9_.\-]+)", entry.body_text)
    return found


def _reminders(factory, channel):  # type: ignore[no-untyped-def]
    """Cart reminders on `channel` that are done (sent, skipped, cancelled)."""
    return [
        (m.step, m.channel, m.status)
        for m in messages(factory)
        if m.scenario == "cart_recovery" and m.channel == channel and m.status != "scheduled"
    ]


def _sent_to(factory, address):  # type: ignore[no-untyped-def]
    return [e for e in outbox_entries(factory) if e.to_address == address]


def test_a_storefront_email_tick_gets_one_confirmation_and_no_reminder_until_confirmed(
    client, worker, factory, settings, clock
):
    shop = make_shop(factory, settings, now=clock.now)
    snapshot = cart_snapshot(at=clock.now, phone=None, consent={"email": True}, first_name="Anna")
    abandon_cart(client, worker, shop, clock, snapshot, confirmed=False)

    (confirmation,) = _sent_to(factory, ANNA)
    assert "potwierdź" in confirmation.subject.lower()
    assert "Anna" not in confirmation.body_text  # nothing the storefront sent
    worker.tick(clock.advance(hours=1))
    assert len(_sent_to(factory, ANNA)) == 1  # step 1 skipped: not confirmed

    (link,) = _confirmation_links(factory, ANNA)
    assert client.get(link).status_code == 200  # a mail scanner's fetch confirms nothing
    assert client.post(link, data={"answer": "yes"}).status_code == 200
    worker.tick(clock.advance(hours=23))
    assert _reminders(factory, "email") == [(1, "email", "skipped"), (2, "email", "sent")]
    assert len(_sent_to(factory, ANNA)) == 2
    with factory() as session:
        proof = session.scalars(
            select(Consent).where(Consent.address == ANNA).order_by(Consent.id)
        ).all()
    assert [(c.source, c.assurance, c.granted, c.cart_id is None) for c in proof] == [
        ("storefront", "claimed", True, False),
        ("confirmation link", "confirmed", True, True),
    ]


def test_single_opt_in_lets_the_tick_alone_allow_that_carts_email_reminders(
    client, worker, factory, settings, clock
):
    shop = make_shop(
        factory, settings, now=clock.now, overrides={"consent": {"email_opt_in": "single"}}
    )
    abandon_cart(client, worker, shop, clock, phone=None, consent={"email": True}, confirmed=False)
    worker.tick(clock.advance(hours=1))
    assert [(e.subject != "", e.to_address) for e in outbox_entries(factory)] == [(True, ANNA)]
    assert _reminders(factory, "email") == [(1, "email", "sent")]


def test_sms_needs_the_numbers_confirmation_and_step_one_falls_back_to_email(
    client, worker, factory, settings, clock
):
    shop = make_shop(
        factory, settings, now=clock.now, overrides={"consent": {"email_opt_in": "single"}}
    )
    abandon_cart(client, worker, shop, clock, consent={"email": True, "sms": True}, confirmed=False)
    (sms,) = _sent_to(factory, ANNA_PHONE)  # the confirmation request, nothing else
    assert "/k/" in sms.body_text and "Rezygnacja" not in sms.body_text
    assert [(m.step, m.channel) for m in messages(factory) if m.scenario == "cart_recovery"] == [
        (1, "email"),
        (2, "email"),
        (3, "email"),
        (3, "sms"),
    ]
    worker.tick(clock.advance(hours=1))
    (link,) = _confirmation_links(factory, ANNA_PHONE)
    client.post(link, data={"answer": "yes"})
    worker.tick(clock.advance(hours=23))
    worker.tick(clock.advance(hours=48))
    assert _reminders(factory, "sms") == [(3, "sms", "sent")]


def test_one_confirmation_per_number_in_thirty_days_whoever_asks(
    client, worker, factory, settings, clock
):
    shop = make_shop(factory, settings, now=clock.now)
    for n in range(3):
        post_cart(
            client,
            shop,
            cart_snapshot(f"cart-{n}", at=clock.now, email=None, consent={"sms": True}),
        )
    worker.tick(clock.now)
    assert len(_sent_to(factory, ANNA_PHONE)) == 1
    post_cart(client, shop, cart_snapshot("cart-9", at=clock.advance(days=29), email=None))
    worker.tick(clock.now)
    assert len(_sent_to(factory, ANNA_PHONE)) == 1
    post_cart(client, shop, cart_snapshot("cart-10", at=clock.advance(days=2), email=None))
    worker.tick(clock.now)
    assert len(_sent_to(factory, ANNA_PHONE)) == 2


def test_no_confirmation_sms_to_foreign_or_premium_numbers(
    client, worker, factory, settings, clock
):
    shop = make_shop(factory, settings, now=clock.now)
    numbers = ["+1 900 555 0100", "+7 912 345 6789", "+48 700 000 000", "+881 6 1234 5678"]
    for n, number in enumerate(numbers):
        snapshot = cart_snapshot(f"c{n}", at=clock.now, email=None, phone=number)
        assert post_cart(client, shop, snapshot).status_code in (202, 400)
    worker.tick(clock.now)
    worker.tick(clock.advance(days=4))
    assert [e for e in outbox_entries(factory) if e.channel == "sms"] == []


def test_sms_countries_setting_lets_a_german_mobile_be_asked(
    client, worker, factory, settings, clock
):
    shop = make_shop(
        factory, settings, now=clock.now, overrides={"sms": {"countries": ["PL", "DE"]}}
    )
    snapshot = cart_snapshot(at=clock.now, email=None, phone="+49 151 23456789")
    post_cart(client, shop, snapshot)
    worker.tick(clock.now)
    assert [e.to_address for e in outbox_entries(factory)] == ["+4915123456789"]


def test_it_wasnt_me_suppresses_the_address_and_nothing_more_is_sent(
    client, worker, factory, settings, clock
):
    shop = make_shop(factory, settings, now=clock.now)
    abandon_cart(client, worker, shop, clock, phone=None, consent={"email": True}, confirmed=False)
    (link,) = _confirmation_links(factory, ANNA)
    assert client.post(link, data={"answer": "no"}).status_code == 200
    assert client.post(link, data={"answer": "yes"}).status_code == 200  # too late: suppressed
    worker.tick(clock.advance(days=4))
    post_cart(client, shop, cart_snapshot("cart-2", at=clock.advance(days=40), phone=None))
    worker.tick(clock.now)
    worker.tick(clock.advance(days=4))
    assert len(_sent_to(factory, ANNA)) == 1  # only the first confirmation request
    assert [m.scenario for m in messages(factory)].count("consent_confirmation") == 1
    with factory() as session:
        assert session.scalars(select(Suppression.address)).all() == [ANNA]


def test_a_withdrawal_from_another_cart_does_not_stop_the_shoppers_reminders(
    client, worker, factory, settings, clock
):
    """Finding 3: a snapshot under another cart id naming the victim's addresses with consent
    false stopped all of the victim's reminders."""
    shop = make_shop(factory, settings, now=clock.now)
    abandon_cart(client, worker, shop, clock)  # Anna's own cart, consent confirmed
    attack = cart_snapshot("attacker-cart", at=clock.now, consent={"email": False, "sms": False})
    assert post_cart(client, shop, attack).status_code == 202
    worker.tick(clock.now)
    worker.tick(clock.advance(minutes=30))
    assert _reminders(factory, "sms") == [(1, "sms", "sent")]
    with factory() as session:
        attacker_cart = session.scalars(
            select(Cart.id).where(Cart.platform_cart_id == "attacker-cart")
        ).one()
    assert [m for m in messages(factory) if m.subject_id == attacker_cart] == []


def test_a_withdrawal_from_the_carts_own_browser_stops_its_reminders(
    client, worker, factory, settings, clock
):
    shop = make_shop(factory, settings, now=clock.now)
    abandon_cart(client, worker, shop, clock)
    unticked = cart_snapshot(at=clock.advance(minutes=5), consent={"email": False, "sms": False})
    post_cart(client, shop, unticked)
    worker.tick(clock.now)
    worker.tick(clock.advance(days=4))
    assert outbox_entries(factory) == []


def test_a_later_snapshot_with_another_email_starts_a_new_run_for_the_new_address_only(
    client, worker, factory, settings, clock
):
    """Finding 5: a later snapshot for the same cart id with another e-mail sent that cart's
    reminders to the new address."""
    shop = make_shop(factory, settings, now=clock.now)
    abandon_cart(client, worker, shop, clock, phone=None)
    worker.tick(clock.advance(hours=1))
    assert _reminders(factory, "email")[0] == (1, "email", "sent")
    other = cart_snapshot(at=clock.advance(minutes=1), email="mallory@example.org", phone=None)
    post_cart(client, shop, other)
    worker.tick(clock.now)
    worker.tick(clock.advance(days=4))
    first_run = [
        m
        for m in messages(factory)
        if m.scenario == "cart_recovery" and m.plan_key.split(":")[3] == "1"
    ]
    assert [(m.step, m.status) for m in first_run] == [
        (1, "sent"),
        (2, "cancelled"),
        (3, "cancelled"),
    ]
    to_mallory = _sent_to(factory, "mallory@example.org")
    assert [e.subject for e in to_mallory if "potwierdź" not in e.subject.lower()] == []


def test_the_shops_newsletter_record_counts_and_a_customer_record_cannot_undo_a_confirmation(
    client, worker, factory, settings, clock
):
    shop = make_shop(factory, settings, now=clock.now)
    subscriber = {"subscriber_id": "9", "email": "Ola@Example.com", "active": "1"}
    assert post_webhook(client, shop, "subscriber.create", subscriber).status_code == 202
    worker.tick(clock.now)
    abandon_cart(
        client,
        worker,
        shop,
        clock,
        email="ola@example.com",
        phone=None,
        consent={"email": True},
        confirmed=False,
    )
    assert _sent_to(factory, "ola@example.com") == []  # no confirmation needed
    worker.tick(clock.advance(hours=1))
    assert _reminders(factory, "email")[0] == (1, "email", "sent")

    customer = {"user_id": "5", "email": "ola@example.com", "newsletter": "0"}
    post_webhook(client, shop, "client.edit", customer)
    worker.tick(clock.now)
    subscriber["active"] = "0"
    post_webhook(client, shop, "subscriber.edit", subscriber)  # signed off at the shop
    worker.tick(clock.now)
    worker.tick(clock.advance(hours=24))
    assert _reminders(factory, "email") == [(1, "email", "sent"), (2, "email", "skipped")]


def test_a_confirmation_request_uses_no_frequency_cap(client, worker, factory, settings, clock):
    shop = make_shop(factory, settings, now=clock.now)
    assert post_cart(client, shop, cart_snapshot(at=clock.now)).status_code == 202
    worker.tick(clock.now)
    (link,) = _confirmation_links(factory, ANNA_PHONE)
    client.post(link, data={"answer": "yes"})
    worker.tick(clock.advance(minutes=31))  # abandoned: step 1 by SMS, now confirmed
    worker.tick(clock.advance(minutes=30))
    sms = [m for m in messages(factory) if m.channel == "sms" and m.status == "sent"]
    assert [m.scenario for m in sms] == ["consent_confirmation", "cart_recovery"]


def test_confirmation_links_are_refused_when_forged_or_for_another_message(
    client, worker, factory, settings, clock
):
    shop = make_shop(factory, settings, now=clock.now)
    abandon_cart(client, worker, shop, clock, confirmed=False)
    assert client.get("/k/1.AAAAAAAAAAAAAAAA").status_code == 404
    reminder = next(m for m in messages(factory) if m.scenario == "cart_recovery")
    from shoper_retention.links import Links

    forged = Links(settings.secret_key, "").confirmation_url(reminder.id)
    assert client.post(forged, data={"answer": "yes"}).status_code == 404


def test_a_claimed_first_run_message_never_goes_to_the_second_address(
    client, worker, factory, settings, clock
):
    """A worker claimed step 1 and died; meanwhile the cart named another address. After the
    lease the message comes back: it belongs to the first run and must go nowhere."""
    from shoper_retention.messaging import outbox

    shop = make_shop(factory, settings, now=clock.now)
    abandon_cart(client, worker, shop, clock, phone=None)
    with factory() as session, session.begin():
        (claimed,) = outbox.claim_due(
            session, clock.now + timedelta(hours=1), 1, timedelta(minutes=5), lease_now=clock.now
        )
        assert claimed.step == 1
    bob = cart_snapshot(at=clock.advance(minutes=1), email="bob@example.com", phone=None)
    assert post_cart(client, shop, bob, confirmed=True).status_code == 202
    worker.tick(clock.now)
    worker.tick(clock.set(claimed.lease_until + timedelta(seconds=1)))  # the claim comes back
    assert _sent_to(factory, "bob@example.com") == []
    first = next(m for m in messages(factory) if m.id == claimed.id)
    assert (first.status, first.reason) == ("cancelled", "the cart started again")


def test_a_confirmation_called_off_unsent_does_not_block_the_owners_own(
    client, worker, factory, settings, clock
):
    """A stranger claims and at once withdraws consent for her address: the request is
    cancelled unsent, and must not use up her one request in 30 days."""
    shop = make_shop(factory, settings, now=clock.now)
    tick = cart_snapshot("evil", at=clock.now, phone=None, consent={"email": True})
    untick = cart_snapshot("evil", at=clock.now, phone=None, consent={"email": False})
    post_cart(client, shop, tick)
    post_cart(client, shop, untick)
    worker.tick(clock.now)
    assert _sent_to(factory, ANNA) == []
    hers = cart_snapshot("hers", at=clock.advance(days=1), phone=None, consent={"email": True})
    post_cart(client, shop, hers)
    worker.tick(clock.now)
    assert len(_confirmation_links(factory, ANNA)) == 1


def test_a_stranger_cannot_plant_a_phone_whose_order_ends_her_reminders(
    client, worker, factory, settings, clock
):
    shop = make_shop(factory, settings, now=clock.now)
    abandon_cart(client, worker, shop, clock, phone=None)
    planted = cart_snapshot("x", at=clock.now, phone="+48 601 222 333", items=[])
    post_cart(client, shop, planted)
    worker.tick(clock.now)
    order = order_payload("666", at=clock.now, email="throwaway@example.org", phone="601222333")
    assert post_webhook(client, shop, "order.create", order).status_code == 202
    worker.tick(clock.advance(minutes=30))
    assert _reminders(factory, "email") == [(1, "email", "sent")]


def test_a_customer_record_without_the_newsletter_leaves_a_newsletter_sign_up_alone(
    client, worker, factory, settings, clock
):
    shop = make_shop(factory, settings, now=clock.now)
    subscriber = {"subscriber_id": "9", "email": ANNA, "active": "1"}
    post_webhook(client, shop, "subscriber.create", subscriber)
    post_webhook(client, shop, "client.create", {"user_id": "5", "email": ANNA, "newsletter": "0"})
    worker.tick(clock.now)
    abandon_cart(client, worker, shop, clock, phone=None, confirmed=False)
    worker.tick(clock.advance(minutes=30))
    assert _reminders(factory, "email") == [(1, "email", "sent")]


def test_a_tick_after_a_newsletter_sign_off_asks_again_and_counts_only_when_confirmed(
    client, worker, factory, settings, clock
):
    shop = make_shop(
        factory, settings, now=clock.now, overrides={"consent": {"email_opt_in": "single"}}
    )
    subscriber = {"subscriber_id": "9", "email": ANNA, "active": "1"}
    post_webhook(client, shop, "subscriber.create", subscriber)
    post_webhook(client, shop, "subscriber.delete", subscriber)
    worker.tick(clock.now)
    abandon_cart(client, worker, shop, clock, phone=None, confirmed=False)
    (link,) = _confirmation_links(factory, ANNA)  # single opt-in, yet asked: she had said no
    worker.tick(clock.advance(minutes=30))
    assert _reminders(factory, "email") == [(1, "email", "skipped")]
    client.post(link, data={"answer": "yes"})
    worker.tick(clock.advance(hours=23))
    assert _reminders(factory, "email") == [(1, "email", "skipped"), (2, "email", "sent")]


def test_an_order_under_another_email_ends_the_cart_of_a_customer_the_shop_knows(
    client, worker, factory, settings, clock
):
    """Her earlier order linked her e-mail and phone (platform data): a new cart with the
    e-mail only ends when she orders with another e-mail and that phone."""
    shop = make_shop(factory, settings, now=clock.now)
    earlier = order_payload("500", at=clock.now - timedelta(days=30), paid=True)
    post_webhook(client, shop, "order.create", earlier)
    worker.tick(clock.now)
    abandon_cart(client, worker, shop, clock, phone=None)
    order = order_payload("501", at=clock.now, email="anna.nowak@firma.example.com")
    post_webhook(client, shop, "order.create", order)
    worker.tick(clock.advance(minutes=30))
    reminders = [m for m in messages(factory) if m.scenario == "cart_recovery"]
    assert {(m.status, m.reason) for m in reminders} == {("cancelled", "order placed")}


def test_the_frequency_cap_counts_an_address_across_contact_records(
    client, worker, factory, settings, clock
):
    shop = make_shop(  # single opt-in: the contacts come from the storefront alone, unlinked
        factory, settings, now=clock.now, overrides={"consent": {"email_opt_in": "single"}}
    )
    snapshots = [
        cart_snapshot("by-phone", at=clock.now, email=None, consent={"email": True}),
        cart_snapshot("both", at=clock.now, consent={"email": True}),
        cart_snapshot("mail-1", at=clock.now, phone=None, consent={"email": True}),
        cart_snapshot("mail-2", at=clock.now, phone=None, consent={"email": True}),
    ]
    abandon_cart(client, worker, shop, clock, *snapshots, confirmed=False)
    with factory() as session:
        assert len(session.scalars(select(Contact)).all()) == 2
    worker.tick(clock.advance(minutes=30))
    assert sorted(s for _, _, s in _reminders(factory, "email")) == ["sent", "sent", "skipped"]


def test_a_known_shoppers_snapshots_do_not_use_the_new_contacts_budget(
    settings, factory, clock, worker
):
    from shoper_retention.app import create_app

    app = create_app(
        settings.with_(limit_new_contacts_per_shop="2/hour"), clock=clock, factory=factory
    )
    client = app.test_client()
    shop = make_shop(factory, settings, now=clock.now)
    answers = []
    for _ in range(4):  # her e-mail is on a contact, her phone only on her cart
        snapshot = cart_snapshot(at=clock.advance(minutes=1))
        answers.append(post_cart(client, shop, snapshot).status_code)
        worker.tick(clock.now)
    app.extensions["shoper_retention"].inbox_writer.dispose()
    assert answers == [202, 202, 202, 202]


def test_two_requests_held_by_a_paused_channel_reach_the_number_once(
    client, worker, factory, settings, clock
):
    from shoper_retention.models import ChannelPause

    shop = make_shop(factory, settings, now=clock.now)
    with factory() as session, session.begin():
        session.add(
            ChannelPause(shop_id=shop.id, channel="sms", reason="no credit", since=clock.now)
        )
    post_cart(client, shop, cart_snapshot("first", at=clock.now, email=None))
    worker.tick(clock.now)
    post_cart(client, shop, cart_snapshot("second", at=clock.advance(days=31), email=None))
    worker.tick(clock.now)
    with factory() as session, session.begin():
        session.query(ChannelPause).delete()
    worker.tick(clock.advance(minutes=1))
    assert len(_sent_to(factory, ANNA_PHONE)) == 1
