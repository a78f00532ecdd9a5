"""The webhook endpoint's driver-level INSERT (inbox_writer.py) keeps the inbox's promises: a
delivery is committed once stored, the same one twice is stored once, and the connection each
thread keeps never fails a delivery by having died, being shared by threads or inherited by a
forked process."""

from __future__ import annotations

import copy
import os
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from shoper_retention.ingest import inbox
from shoper_retention.ingest.writer import InboxWriter
from shoper_retention.models import InboxDelivery
from shoper_retention.settings import Settings
from tests.support import Clock, ShopHandle, make_shop


@pytest.fixture
def writer(settings: Settings) -> Iterator[InboxWriter]:
    writer = InboxWriter(settings.database_url)
    yield writer
    writer.dispose()


@pytest.fixture
def shop(factory: sessionmaker[Session], settings: Settings, clock: Clock) -> ShopHandle:
    return make_shop(factory, settings, now=clock.now)


def _store(writer: InboxWriter, shop: ShopHandle, clock: Clock, key: str) -> bool:
    return writer.store(
        inbox.new_row(
            shop_id=shop.id,
            source="shoper",
            event_name="order.create",
            dedupe_key=key,
            body=b'{"order_id": "1"}',
            headers={"X-Webhook-Id": "7"},
            now=clock.now,
        )
    )


def _rows(factory: sessionmaker[Session]) -> list[InboxDelivery]:
    with factory() as session:
        return list(session.scalars(select(InboxDelivery).order_by(InboxDelivery.id)))


def test_a_stored_delivery_is_committed_with_its_values_and_a_second_copy_is_refused(
    writer: InboxWriter, factory: sessionmaker[Session], shop: ShopHandle, clock: Clock
) -> None:
    assert _store(writer, shop, clock, "order.create:1:abc") is True
    assert _store(writer, shop, clock, "order.create:1:abc") is False

    [row] = _rows(factory)  # read through another connection: the INSERT was committed
    assert (row.shop_id, row.source, row.event_name) == (shop.id, "shoper", "order.create")
    assert (row.dedupe_key, row.body, row.headers) == (
        "order.create:1:abc",
        b'{"order_id": "1"}',
        {"X-Webhook-Id": "7"},
    )
    assert (row.status, row.attempts, row.received_at) == ("pending", 0, clock.now)


def _kill(writer: InboxWriter, factory: sessionmaker[Session]) -> None:
    """End the writer's kept connection from outside, as a server restart or an idle timeout
    would: PostgreSQL terminates the backend; a SQLite connection can only be closed."""
    driver: Any = writer._connection().dbapi_connection
    if factory.kw["bind"].dialect.name == "postgresql":
        pid = driver.info.backend_pid
        with factory() as session, session.begin():
            session.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    else:
        driver.close()


def test_a_delivery_after_the_kept_connection_died_is_stored_on_a_new_one(
    writer: InboxWriter, factory: sessionmaker[Session], shop: ShopHandle, clock: Clock
) -> None:
    assert _store(writer, shop, clock, "k:1")
    _kill(writer, factory)

    assert _store(writer, shop, clock, "k:2") is True
    assert _store(writer, shop, clock, "k:3") is True
    assert [row.dedupe_key for row in _rows(factory)] == ["k:1", "k:2", "k:3"]


def test_threads_storing_at_once_lose_nothing_and_store_nothing_twice(
    writer: InboxWriter, factory: sessionmaker[Session], shop: ShopHandle, clock: Clock
) -> None:
    errors: list[BaseException] = []
    results: list[bool] = []

    drivers: dict[int, Any] = {}

    def run(thread: int) -> None:
        try:
            drivers[thread] = writer._connection().dbapi_connection
            for n in range(40):  # every key twice: once by this thread, once by its neighbour
                results.append(_store(writer, shop, clock, f"k:{(thread + n % 2) % 4}:{n}"))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert errors == []
    # One driver connection per thread: a shared one would let one thread's ROLLBACK undo
    # another's INSERT that was already answered 202 (psycopg would not even complain).
    assert len({id(driver) for driver in drivers.values()}) == 4
    keys = [row.dedupe_key for row in _rows(factory)]
    assert len(keys) == len(set(keys)) == results.count(True)
    assert set(keys) == {f"k:{(t + n % 2) % 4}:{n}" for t in range(4) for n in range(40)}


def test_a_forked_process_stores_through_a_connection_of_its_own(
    writer: InboxWriter, factory: sessionmaker[Session], shop: ShopHandle, clock: Clock
) -> None:
    assert _store(writer, shop, clock, "parent:1")  # the parent now keeps a connection
    parent = _identity(writer._connection().dbapi_connection)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child, as a gunicorn worker forked after the app was loaded
        code = 1
        try:
            code = 0 if _store(writer, shop, clock, "child:1") else 2
            os.write(write_end, _identity(writer._connection().dbapi_connection).encode())
        finally:
            os._exit(code)
    os.close(write_end)
    _, status = os.waitpid(pid, 0)
    child = os.read(read_end, 200).decode()
    os.close(read_end)

    assert os.waitstatus_to_exitcode(status) == 0
    assert child and child != parent  # the child opened its own, never used the parent's
    assert _store(writer, shop, clock, "parent:2")  # the parent's connection still works
    assert [row.dedupe_key for row in _rows(factory)] == ["parent:1", "child:1", "parent:2"]


def _identity(driver: Any) -> str:
    """What tells two driver connections apart across a fork: the server process serving a
    PostgreSQL connection, the address of a SQLite one (a child's new object never takes the
    address of one it inherited, which still exists in its memory)."""
    info = getattr(driver, "info", None)
    backend = getattr(info, "backend_pid", None)
    return f"pg:{backend}" if backend is not None else f"sqlite:{id(driver)}"


def test_a_failed_insert_is_rolled_back_not_retried_and_the_next_delivery_is_stored(
    writer: InboxWriter, factory: sessionmaker[Session], shop: ShopHandle, clock: Clock
) -> None:
    assert _store(writer, shop, clock, "k:1")
    kept = writer._connection().dbapi_connection
    no_shop = copy.copy(shop)
    no_shop.id = shop.id + 1000

    with pytest.raises(IntegrityError):  # no such shop: the foreign key refuses the row
        _store(writer, no_shop, clock, "k:2")

    # Not a lost connection: the same one is kept, out of its transaction (on SQLite the write
    # turn is free again, or this would wait for SQLITE_BUSY_TIMEOUT and fail).
    assert _store(writer, shop, clock, "k:3")
    assert writer._connection().dbapi_connection is kept
    with factory() as session, session.begin():  # another connection can write at once
        session.execute(text("UPDATE inbox SET attempts = 1 WHERE dedupe_key = 'k:1'"))
    assert [(row.dedupe_key, row.attempts) for row in _rows(factory)] == [("k:1", 1), ("k:3", 0)]


def test_after_dispose_every_thread_stores_through_a_new_connection(
    writer: InboxWriter, factory: sessionmaker[Session], shop: ShopHandle, clock: Clock
) -> None:
    assert _store(writer, shop, clock, "k:1")
    before = writer._connection()

    writer.dispose()

    assert _store(writer, shop, clock, "k:2")
    assert writer._connection() is not before
    assert [row.dedupe_key for row in _rows(factory)] == ["k:1", "k:2"]
