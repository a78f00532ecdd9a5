"""Inbox rows drop their raw body and headers a retention period after they were processed
(or failed), in batches, by the worker's `purge` job; pending rows are never touched."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from shoper_retention import worker as worker_module
from shoper_retention.ingest import inbox
from shoper_retention.models import InboxDelivery
from tests.support import Clock, make_shop

BODY = b'{"cart_id": "c1", "contact": {"email": "anna@example.com"}}'
HEADERS = {"X-Shop-License": "licence"}


def delivery(
    factory: sessionmaker[Session],
    shop_id: int,
    key: str,
    *,
    received: datetime,
    status: str = "processed",
    processed: datetime | None = None,
) -> int:
    with factory() as session, session.begin():
        row = inbox.new_row(
            shop_id=shop_id,
            source="storefront",
            event_name="cart",
            dedupe_key=key,
            body=BODY,
            headers=HEADERS,
            now=received,
        )
        assert inbox.store(session, row)
        stored = session.scalars(select(InboxDelivery).where(InboxDelivery.dedupe_key == key)).one()
        stored.status = status
        stored.processed_at = processed
        return stored.id


def rows(factory: sessionmaker[Session]) -> dict[str, InboxDelivery]:
    with factory() as session:
        return {r.dedupe_key: r for r in session.scalars(select(InboxDelivery))}


def test_the_worker_drops_bodies_processed_before_the_retention_period_and_keeps_the_rest(
    worker, factory, settings, clock: Clock
):
    assert settings.inbox_retention_days == 7
    now = clock.now
    shop = make_shop(factory, settings, now=now - timedelta(days=60))
    old = now - timedelta(days=7, minutes=1)
    recent = now - timedelta(days=6, hours=23)
    delivery(factory, shop.id, "processed-old", received=old, processed=old)
    delivery(factory, shop.id, "failed-old", received=old, status="failed", processed=old)
    delivery(factory, shop.id, "processed-recent", received=recent, processed=recent)
    # Received a month ago and still pending (say, the worker was down): never purged.
    delivery(factory, shop.id, "pending-old", received=now - timedelta(days=30), status="pending")

    report = worker.tick(now)

    assert report.inbox_purged == 2
    assert report.summary()["inbox_purged"] == 2
    after = rows(factory)
    for key in ("processed-old", "failed-old"):
        assert (after[key].body, after[key].headers, after[key].purged_at) == (b"", {}, now)
        assert after[key].status in ("processed", "failed")  # the row itself stays
    for key in ("processed-recent", "pending-old"):
        assert (after[key].body, after[key].headers, after[key].purged_at) == (BODY, HEADERS, None)

    # A purged row is not purged again; the recent one goes once its time has come.
    later = clock.advance(days=1)
    assert worker.tick(later).inbox_purged == 1
    after = rows(factory)
    assert after["processed-old"].purged_at == now
    assert after["processed-recent"].purged_at == later


def test_the_retention_period_is_a_setting(factory, settings, clock: Clock):
    from shoper_retention.worker import Worker

    now = clock.now
    shop = make_shop(factory, settings, now=now)
    two_days = now - timedelta(days=2, minutes=1)
    delivery(factory, shop.id, "two-days", received=two_days, processed=two_days)
    assert Worker(settings, factory, name="w").purge(now) == 0
    assert Worker(settings.with_(inbox_retention_days=2), factory, name="w").purge(now) == 1


def test_purge_bodies_works_in_batches_of_the_given_size(factory, settings, clock: Clock):
    now = clock.now
    shop = make_shop(factory, settings, now=now)
    old = now - timedelta(days=10)
    for n in range(5):
        delivery(factory, shop.id, f"row-{n}", received=old, processed=old)
    done = []
    for _ in range(4):
        with factory() as session, session.begin():
            done.append(inbox.purge_bodies(session, now, timedelta(days=7), 2))
    assert done == [2, 2, 1, 0]
    assert all(r.purged_at == now for r in rows(factory).values())


def test_one_pass_purges_a_bounded_number_of_batches(
    worker, factory, settings, clock: Clock, monkeypatch: pytest.MonkeyPatch
):
    """A large backlog is worked off over several passes, never in one long one."""
    monkeypatch.setattr(worker_module, "PURGE_BATCH", 2)
    monkeypatch.setattr(worker_module, "PURGE_BATCHES", 2)
    now = clock.now
    shop = make_shop(factory, settings, now=now)
    old = now - timedelta(days=10)
    for n in range(5):
        delivery(factory, shop.id, f"row-{n}", received=old, processed=old)
    assert worker.purge(now) == 4
    assert worker.purge(now) == 1
    assert worker.purge(now) == 0
