"""Ingest: every delivery answered 2xx becomes state exactly once, whatever goes wrong.

A delivery we cannot understand is marked failed with its reason; one that raises something
unexpected is retried with a backoff and then marked failed; neither holds up the rows after
it, and two workers draining the inbox at once apply each delivery once."""

from __future__ import annotations

import threading
from datetime import timedelta

from flask.testing import FlaskClient
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from shoper_retention.db import make_engine, make_session_factory
from shoper_retention.ingest import inbox
from shoper_retention.ingest import pipeline as ingest
from shoper_retention.models import Cart, InboxDelivery, Order, Shop
from shoper_retention.platforms.registry import Platforms
from shoper_retention.settings import Settings
from shoper_retention.worker import Worker
from tests.support import Clock, cart_snapshot, make_shop, order_payload, post_cart, post_webhook


def _deliveries(factory: sessionmaker[Session]) -> list[InboxDelivery]:
    with factory() as session:
        return list(session.scalars(select(InboxDelivery).order_by(InboxDelivery.id)))


def _orders(factory: sessionmaker[Session]) -> list[str]:
    with factory() as session:
        return list(session.scalars(select(Order.platform_order_id).order_by(Order.id)))


def test_an_order_webhook_answered_202_is_turned_into_an_order_by_the_next_tick(
    client: FlaskClient,
    factory: sessionmaker[Session],
    settings: Settings,
    worker: Worker,
    clock: Clock,
) -> None:
    shop = make_shop(factory, settings, now=clock.now)
    answer = post_webhook(client, shop, "order.create", order_payload("555", at=clock.now))
    assert answer.status_code == 202
    (stored,) = _deliveries(factory)
    assert (stored.status, stored.source) == ("pending", "shoper")
    assert stored.event_name == "order.create"
    assert _orders(factory) == []  # the request only stored it

    report = worker.tick(clock.now)

    assert (report.ingested, report.ingest_failed, report.ingest_retried) == (1, 0, 0)
    (done,) = _deliveries(factory)
    assert done.status == "processed" and done.processed_at == clock.now and done.error == ""
    assert _orders(factory) == ["555"]
    assert worker.tick(clock.advance(minutes=1)).ingested == 0  # processed once, not again


def test_the_same_delivery_arriving_twice_is_stored_and_applied_once(
    client: FlaskClient,
    factory: sessionmaker[Session],
    settings: Settings,
    worker: Worker,
    clock: Clock,
) -> None:
    shop = make_shop(factory, settings, now=clock.now)
    payload = order_payload("556", at=clock.now)
    assert post_webhook(client, shop, "order.create", payload).status_code == 202
    assert post_webhook(client, shop, "order.create", payload).status_code == 200  # duplicate
    assert worker.tick(clock.now).ingested == 1
    assert len(_deliveries(factory)) == 1
    assert _orders(factory) == ["556"]


def test_a_delivery_from_an_unknown_source_is_marked_failed_with_the_reason_and_the_rest_go_on(
    client: FlaskClient,
    factory: sessionmaker[Session],
    settings: Settings,
    worker: Worker,
    clock: Clock,
) -> None:
    shop = make_shop(factory, settings, now=clock.now)
    with factory() as session, session.begin():
        assert inbox.store(
            session,
            inbox.new_row(
                shop_id=shop.id,
                source="prestashop",  # no adapter for it
                event_name="order.created",
                dedupe_key="prestashop:1",
                body=b'{"eventType": "order.created"}',
                headers={},
                now=clock.now,
            ),
        )
    post_webhook(client, shop, "order.create", order_payload("557", at=clock.now))

    report = worker.tick(clock.now)

    assert (report.ingested, report.ingest_failed, report.ingest_retried) == (1, 1, 0)
    failed, processed = _deliveries(factory)
    assert failed.status == "failed"
    assert failed.error == "unknown platform 'prestashop'"
    assert failed.attempts == 0  # retrying would not help: not retried
    assert processed.status == "processed"
    assert _orders(factory) == ["557"]
    assert worker.tick(clock.advance(hours=1)).ingest_failed == 0  # failed stays failed


def test_an_unexpected_error_is_retried_with_backoff_then_failed_and_later_rows_go_on(
    client: FlaskClient,
    factory: sessionmaker[Session],
    settings: Settings,
    worker: Worker,
    clock: Clock,
) -> None:
    start = clock.now
    broken = make_shop(factory, settings, now=start)
    healthy = make_shop(factory, settings, now=start)
    # A time zone this machine's tz database does not know: the order's shop-local date
    # cannot be converted, which nothing anticipates (ZoneInfoNotFoundError, not a DomainError).
    with factory() as session, session.begin():
        session.execute(update(Shop).where(Shop.id == broken.id).values(timezone="Europe/Atlantis"))
    post_webhook(client, broken, "order.create", order_payload("901", at=start))
    post_webhook(client, healthy, "order.create", order_payload("902", at=start))

    report = worker.tick(start)
    assert (report.ingested, report.ingest_failed, report.ingest_retried) == (1, 0, 1)
    assert _orders(factory) == ["902"]  # the row after the broken one was processed
    bad, good = _deliveries(factory)
    assert (bad.status, bad.attempts, good.status) == ("pending", 1, "processed")
    assert bad.error == "unexpected error (ZoneInfoNotFoundError); see the worker log"
    assert bad.lease_until == start + timedelta(seconds=60)

    assert worker.tick(start + timedelta(seconds=59)).ingest_retried == 0  # still backing off
    at = start
    for attempt in range(2, inbox.MAX_ATTEMPTS + 1):
        (bad, _) = _deliveries(factory)
        assert bad.attempts == attempt - 1
        assert bad.lease_until is not None
        at = bad.lease_until + timedelta(seconds=1)
        report = worker.tick(at)
        if attempt < inbox.MAX_ATTEMPTS:
            assert (report.ingest_retried, report.ingest_failed) == (1, 0)
    assert (report.ingest_retried, report.ingest_failed) == (0, 1)
    bad, _ = _deliveries(factory)
    assert (bad.status, bad.attempts, bad.processed_at) == ("failed", inbox.MAX_ATTEMPTS, at)
    assert bad.error.startswith("unexpected error (ZoneInfoNotFoundError)")
    assert worker.tick(at + timedelta(days=1)).ingest_retried == 0  # given up for good
    assert _orders(factory) == ["902"]


def test_two_workers_draining_the_same_inbox_apply_each_delivery_once(
    client: FlaskClient,
    factory: sessionmaker[Session],
    settings: Settings,
    clock: Clock,
) -> None:
    shop = make_shop(factory, settings, now=clock.now)
    count = 60
    for n in range(count):
        answer = post_cart(
            client,
            shop,
            cart_snapshot(f"cart-{n}", at=clock.now, email=f"s{n}@example.com", phone=None),
        )
        assert answer.status_code == 202
    reports: list[ingest.IngestReport] = []
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def drain() -> None:
        engine = make_engine(settings.database_url)  # each worker its own connections
        try:
            start.wait()
            reports.append(
                ingest.process_pending(
                    make_session_factory(engine), clock.now, platforms=Platforms(settings), limit=3
                )
            )
        except BaseException as exc:  # surfaced below, not lost in the thread
            errors.append(exc)
        finally:
            engine.dispose()

    threads = [threading.Thread(target=drain) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert len(reports) == 2
    # A delivery applied by both would be counted by both.
    assert sum(r.processed for r in reports) == count
    assert all(r.processed > 0 for r in reports), reports
    assert {d.status for d in _deliveries(factory)} == {"processed"}
    with factory() as session:
        assert session.scalar(select(func.count(Cart.id))) == count
