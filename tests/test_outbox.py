"""Claiming due messages: what is due follows the pass's clock, leases follow real time."""

from __future__ import annotations

from datetime import timedelta

from shoper_retention.messaging import outbox
from tests.support import abandon_cart, make_shop, messages


def test_a_long_pass_claims_only_what_is_due_by_its_own_clock(
    client, worker, factory, settings, clock
):
    """A pass that started before 09:00 must not claim the SMS parked at 09:00 just because
    it has been running for a while: its guards would move them back and it would spin."""
    shop = make_shop(factory, settings, now=clock.now)
    start = abandon_cart(client, worker, shop, clock)
    due = start + timedelta(hours=1)
    lease = timedelta(minutes=5)
    with factory() as session, session.begin():
        early = outbox.claim_due(
            session, due - timedelta(seconds=1), 10, lease, lease_now=due + timedelta(minutes=1)
        )
    assert early == []
    with factory() as session, session.begin():
        (claimed,) = outbox.claim_due(session, due, 10, lease, lease_now=due + timedelta(minutes=1))
    assert claimed.lease_until == due + timedelta(minutes=6)  # a full lease from real time
    assert [m.status for m in messages(factory) if m.step == 1] == ["claimed"]
