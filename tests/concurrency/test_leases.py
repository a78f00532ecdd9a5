"""Crash safety: a claim is a lease, so whatever a dead worker held comes back once the lease
runs out, and goes out exactly once; and a failure in one shop never stalls the others.

The "dead worker" is first a transaction that claims and commits and is never followed up,
then a real worker process that kills itself with SIGKILL half way through a batch."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from shoper_retention.connectors.base import Connector, Outcome, OutgoingMessage
from shoper_retention.connectors.dev_outbox import DevOutboxConnector
from shoper_retention.ingest import inbox
from shoper_retention.messaging import outbox
from shoper_retention.models import InboxDelivery, Message, Order, Shop
from shoper_retention.settings import PROJECT_ROOT, Settings
from shoper_retention.worker import Worker
from tests.concurrency import insert_due_messages
from tests.support import Clock, make_shop, order_payload, outbox_entries, post_webhook

NOW = datetime(2026, 3, 3, 10, 0, tzinfo=UTC)  # 11:00 in Warsaw: inside the e-mail window
CHILD = "from tests.concurrency.test_leases import dying_worker; dying_worker()"
DIE_AT = 2  # the dying worker stores its 2nd message at the provider, then is killed


def _statuses(factory: sessionmaker[Session]) -> dict[str, int]:
    with factory() as session:
        rows = session.execute(
            select(Message.status, func.count(Message.id)).group_by(Message.status)
        ).all()
    return {status: n for status, n in rows}


def _keys_sent_once(factory: sessionmaker[Session], shop_id: int, ids: list[int]) -> bool:
    keys = [e.idempotency_key for e in outbox_entries(factory)]
    return sorted(keys) == sorted(f"sr-{shop_id}-{i}" for i in ids)


def test_messages_claimed_by_a_dead_worker_wait_for_the_lease_then_go_out_once(
    factory: sessionmaker[Session], settings: Settings, worker: Worker
) -> None:
    shop = make_shop(factory, settings, now=NOW)
    ids = insert_due_messages(factory, shop.id, 5, NOW)
    lease = timedelta(seconds=settings.claim_lease_seconds)
    with factory() as session, session.begin():
        claimed = outbox.claim_due(session, NOW, 100, lease)
    assert sorted(m.id for m in claimed) == ids  # ... and this "worker" is never heard of again

    for at in (NOW + timedelta(seconds=1), NOW + lease - timedelta(seconds=1)):
        assert worker.tick(at).dispatch.sent == 0
    assert _statuses(factory) == {"claimed": 5}
    assert outbox_entries(factory) == []

    assert worker.tick(NOW + lease + timedelta(seconds=1)).dispatch.sent == 5
    assert _statuses(factory) == {"sent": 5}
    assert _keys_sent_once(factory, shop.id, ids)
    assert worker.tick(NOW + 2 * lease + timedelta(seconds=2)).dispatch.sent == 0


def test_a_lease_held_by_a_live_claim_is_not_taken_by_a_second_claim(
    factory: sessionmaker[Session], settings: Settings
) -> None:
    shop = make_shop(factory, settings, now=NOW)
    ids = insert_due_messages(factory, shop.id, 3, NOW)
    lease = timedelta(seconds=settings.claim_lease_seconds)
    with factory() as session, session.begin():
        first = [m.id for m in outbox.claim_due(session, NOW, 2, lease)]
    with factory() as session, session.begin():
        second = [m.id for m in outbox.claim_due(session, NOW, 100, lease)]
    assert len(first) == 2 and len(second) == 1
    assert sorted(first + second) == ids  # disjoint, and together everything


def test_inbox_rows_claimed_by_a_dead_worker_are_processed_after_the_lease(
    client: FlaskClient,
    factory: sessionmaker[Session],
    settings: Settings,
    worker: Worker,
    clock: Clock,
) -> None:
    shop = make_shop(factory, settings, now=clock.now)
    answer = post_webhook(client, shop, "order.create", order_payload(at=clock.now))
    assert answer.status_code == 202
    lease = timedelta(seconds=settings.claim_lease_seconds)
    with factory() as session, session.begin():
        (claimed,) = inbox.claim(session, clock.now, 10, lease)

    report = worker.tick(clock.now + timedelta(seconds=1))
    assert (report.ingested, report.ingest_failed, report.ingest_retried) == (0, 0, 0)
    with factory() as session:
        delivery = session.get(InboxDelivery, claimed.id)
        assert delivery is not None and delivery.status == "pending"
        assert session.scalar(select(func.count(Order.id))) == 0

    assert worker.tick(clock.now + lease + timedelta(seconds=1)).ingested == 1
    assert worker.tick(clock.now + 2 * lease + timedelta(seconds=2)).ingested == 0
    with factory() as session:
        delivery = session.get(InboxDelivery, claimed.id)
        assert delivery is not None and delivery.status == "processed"
        assert delivery.claim_token is None and delivery.lease_until is None
        assert session.scalars(select(Order.platform_order_id)).all() == ["1001"]


class DiesMidBatch:
    """A provider connection during which the worker's machine dies: the DIE_AT-th message
    reaches the provider (the dev outbox stores it), then SIGKILL, before the worker can
    record the outcome."""

    name = "dev_outbox"
    idempotent = True

    def __init__(self, inner: DevOutboxConnector, counter: list[int]) -> None:
        self.inner = inner
        self.channel = inner.channel
        self.counter = counter

    def __enter__(self) -> Connector:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def send(self, message: OutgoingMessage) -> Outcome:
        outcome = self.inner.send(message)
        self.counter[0] += 1
        if self.counter[0] == DIE_AT:
            os.kill(os.getpid(), signal.SIGKILL)
        return outcome


def dying_worker() -> None:
    """The child process: a real worker pass that dies inside its first batch."""
    from shoper_retention.db import make_engine, make_session_factory

    database_url, secret, now_text = sys.argv[1:4]
    settings = Settings(
        database_url=database_url,
        secret_key=secret,
        public_url="https://retention.example",
        mail_from="shop@retention.example",
    )
    factory = make_session_factory(make_engine(database_url))
    sent = [0]

    def connectors_for(shop: Shop, channel: str) -> Connector:
        return DiesMidBatch(DevOutboxConnector(channel, factory), sent)

    worker = Worker(settings, factory, name="doomed", connectors_for=connectors_for)
    worker.tick(datetime.fromisoformat(now_text))
    print(json.dumps({"survived": True}), flush=True)  # never reached


def test_a_worker_killed_mid_batch_leaves_its_messages_to_a_survivor_after_the_lease(
    factory: sessionmaker[Session],
    settings: Settings,
    worker: Worker,
    database_url: str,
    tmp_path: Path,
) -> None:
    shop = make_shop(factory, settings, now=NOW)
    ids = insert_due_messages(factory, shop.id, 6, NOW)
    log = tmp_path / "doomed.log"
    with log.open("w") as stderr:
        child = subprocess.run(
            [sys.executable, "-c", CHILD, database_url, settings.secret_key, NOW.isoformat()],
            cwd=PROJECT_ROOT,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            timeout=60,
        )
    assert child.returncode == -signal.SIGKILL, log.read_text()
    assert "survived" not in child.stdout
    # The first message was sent and recorded; the second reached the provider but its outcome
    # was never recorded; the rest were claimed and never tried.
    assert _statuses(factory) == {"sent": 1, "claimed": 5}
    assert len(outbox_entries(factory)) == DIE_AT

    lease = timedelta(seconds=settings.claim_lease_seconds)
    assert worker.tick(NOW + timedelta(seconds=1)).dispatch.sent == 0
    report = worker.tick(NOW + lease + timedelta(seconds=1))
    assert report.dispatch.sent == 5  # the second message again, with the same key: stored once
    assert _statuses(factory) == {"sent": 6}
    assert _keys_sent_once(factory, shop.id, ids)
    stored_by_the_dead = outbox_entries(factory)[DIE_AT - 1]
    with factory() as session:
        retaken = session.get(Message, ids[DIE_AT - 1])
    assert retaken is not None and retaken.id == stored_by_the_dead.message_id
    assert retaken.provider_id == f"dev-{stored_by_the_dead.id}"  # the provider's first answer


def test_a_shop_whose_scan_fails_does_not_stop_the_other_shops_messages(
    factory: sessionmaker[Session], settings: Settings, worker: Worker
) -> None:
    # Settings the scan cannot read (a hand-edited row, an old format): int("soon") raises.
    broken = make_shop(
        factory,
        settings,
        now=NOW,
        overrides={"scenarios": {"cart_recovery": {"idle_minutes": "soon"}}},
    )
    healthy = make_shop(factory, settings, now=NOW)
    ids = insert_due_messages(factory, healthy.id, 2, NOW)

    report = worker.tick(NOW)

    assert report.dispatch.sent == 2
    assert _keys_sent_once(factory, healthy.id, ids)
    assert len(report.errors) == 1
    assert report.errors[0].startswith(f"scan of shop {broken.id}: ValueError")
    with factory() as session:
        assert session.get(Shop, broken.id) is not None  # nothing of it was dropped
