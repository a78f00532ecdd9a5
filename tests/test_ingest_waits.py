"""Deliveries whose platform cannot answer now (a platform whose bodies are read back over its
API): they wait instead of failing, one entity that keeps failing does not hold back the rest,
an outage does not cost every delivery its timeouts, a delivery is given up only after two
days, and meanwhile the shop's messages wait too (the missing delivery may be the order)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from shoper_retention.errors import UpstreamFailed
from shoper_retention.ingest import inbox
from shoper_retention.ingest import pipeline as ingest
from shoper_retention.ingest.events import DomainEvent
from shoper_retention.models import InboxDelivery, Shop
from shoper_retention.settings import Settings
from shoper_retention.worker import BEHIND, Worker
from tests.support import Clock, abandon_cart, make_shop


class FlakyPlatform:
    """A platform whose API fails for the entities named in `down` (every one when
    `down` is None) and answers no events for the rest; records what it was asked."""

    name = "flaky"

    def __init__(self, down: set[bytes] | None) -> None:
        self.down = down
        self.asked: list[bytes] = []

    def to_events(self, shop: Shop, delivery: InboxDelivery) -> Sequence[DomainEvent]:
        self.asked.append(bytes(delivery.body))
        if self.down is None or bytes(delivery.body) in self.down:
            raise UpstreamFailed("the platform answered 500")
        return ()


class OnePlatform:
    def __init__(self, platform: FlakyPlatform) -> None:
        self.by_name = {platform.name: platform}


def deliver(factory: sessionmaker[Session], shop_id: int, body: bytes, clock: Clock) -> None:
    with factory() as session, session.begin():
        inbox.store(
            session,
            inbox.new_row(
                shop_id=shop_id,
                source="flaky",
                event_name="order.created",
                dedupe_key=f"flaky:{body.decode()}",
                body=body,
                headers={},
                now=clock.now,
            ),
        )


def statuses(factory: sessionmaker[Session]) -> dict[bytes, str]:
    with factory() as session:
        rows = session.scalars(select(InboxDelivery).order_by(InboxDelivery.id)).all()
        return {bytes(r.body): r.status for r in rows}


def test_one_entity_failing_again_and_again_does_not_hold_back_the_shops_other_deliveries(
    factory: sessionmaker[Session], settings: Settings, clock: Clock
) -> None:
    shop = make_shop(factory, settings, now=clock.now)
    for body in (b"poison", b"a", b"b"):
        deliver(factory, shop.id, body, clock)
    platform = FlakyPlatform(down={b"poison"})

    report = ingest.process_pending(factory, clock.now, platforms=OnePlatform(platform))

    assert (report.processed, report.retried, report.failed) == (2, 1, 0)
    assert statuses(factory) == {b"poison": "pending", b"a": "processed", b"b": "processed"}


def test_after_three_failures_in_a_pass_the_shops_other_deliveries_wait_without_asking(
    factory: sessionmaker[Session], settings: Settings, clock: Clock
) -> None:
    shop = make_shop(factory, settings, now=clock.now)
    other = make_shop(factory, settings, now=clock.now)
    bodies = [f"d{n}".encode() for n in range(6)]
    for body in bodies:
        deliver(factory, shop.id, body, clock)
    deliver(factory, other.id, b"other", clock)
    platform = FlakyPlatform(down=None)

    report = ingest.process_pending(factory, clock.now, platforms=OnePlatform(platform))

    assert platform.asked == [*bodies[:3], b"other"]  # an outage costs a shop three tries
    assert report.retried == 7 and report.failed == 0
    assert set(statuses(factory).values()) == {"pending"}


def test_a_waiting_delivery_backs_off_with_its_age_and_is_given_up_after_two_days(
    factory: sessionmaker[Session], settings: Settings, clock: Clock
) -> None:
    shop = make_shop(factory, settings, now=clock.now)
    start = clock.now
    deliver(factory, shop.id, b"order", clock)
    platform = FlakyPlatform(down=None)
    tries = []
    while clock.now - start < timedelta(days=3):
        before = len(platform.asked)
        ingest.process_pending(factory, clock.now, platforms=OnePlatform(platform))
        if len(platform.asked) > before:
            tries.append(clock.now - start)
        clock.advance(minutes=1)

    with factory() as session:
        (row,) = session.scalars(select(InboxDelivery)).all()
    assert row.status == "failed" and row.attempts == 0
    assert "did not answer" in row.error and "500" in row.error
    assert timedelta(days=2) <= tries[-1] < timedelta(days=2, hours=1, minutes=2)
    assert tries[1] <= timedelta(minutes=3)  # soon at first...
    gaps = [later - earlier for earlier, later in zip(tries, tries[1:], strict=False)]
    assert max(gaps) <= timedelta(hours=1, minutes=1)  # ...never more than an hour apart
    assert len(tries) < 80  # not every minute for two days


def test_a_shops_messages_wait_while_a_delivery_from_its_platform_is_stuck(
    client: FlaskClient,
    worker: Worker,
    factory: sessionmaker[Session],
    settings: Settings,
    clock: Clock,
) -> None:
    shop = make_shop(factory, settings, now=clock.now)
    abandon_cart(client, worker, shop, clock)  # step 1 due an hour after the cart
    with factory() as session, session.begin():
        # An order webhook taken 20 minutes ago whose read-back keeps failing (it waits out
        # its back-off): it may be this shopper's order.
        inbox.store(
            session,
            inbox.new_row(
                shop_id=shop.id,
                source="shoper",
                event_name="order.create",
                dedupe_key="stuck",
                body=b"{}",
                headers={},
                now=clock.now - timedelta(minutes=20),
            ),
        )
        row = session.scalars(select(InboxDelivery).where(InboxDelivery.dedupe_key == "stuck"))
        row.one().lease_until = clock.now + timedelta(days=1)

    held = worker.tick(clock.advance(hours=1))

    assert held.dispatch.sent == 0 and f"moved: {BEHIND}" in held.dispatch.reasons
    with factory() as session, session.begin():
        session.execute(
            InboxDelivery.__table__.update()
            .where(InboxDelivery.dedupe_key == "stuck")
            .values(status="processed")
        )
    assert worker.tick(clock.advance(minutes=30)).dispatch.sent == 1
