"""The webhook endpoints' INSERT into the inbox, through the database driver.

A webhook's whole job in the web process is one INSERT, so its cost decides how many
deliveries a web process takes per second. Through SQLAlchemy's Connection the INSERT paid for
a pool checkout and check-in, the transaction's events and the result machinery: about 40% of
the request's CPU, more than the database's own work (bench/profile_ingest.py,
docs/PERFORMANCE.md). Here the statement is compiled once per dialect, values go through the
columns' own bind processors, and each web thread keeps one driver connection of its own.

Same statement, same transaction rules as `inbox.store`: on SQLite the connection takes its
process's write turn and BEGIN IMMEDIATE (db.py), on PostgreSQL the driver opens the
transaction; either way the delivery is committed before the caller answers."""

from __future__ import annotations

import os
import threading
import weakref
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import PoolProxiedConnection

from shoper_retention.db import begin_write, is_in_memory, make_engine
from shoper_retention.ingest.inbox import STORE_STATEMENTS, new_row
from shoper_retention.models import InboxDelivery

# The columns a new delivery binds, in `inbox.new_row`'s order (the statement is compiled
# for exactly these; any sample row has them all).
COLUMNS = tuple(
    new_row(
        shop_id=0,
        source="",
        event_name="",
        dedupe_key="",
        body=b"",
        headers={},
        now=datetime(1970, 1, 1, tzinfo=UTC),
    )
)


class InboxWriter:
    """Inserts deliveries; one per app. Thread-safe: each thread uses its own connection."""

    def __init__(self, database_url: str) -> None:
        # An engine of its own: every web thread keeps one of its connections checked out,
        # which must not starve the pool the ORM's requests use. No limit on its size: there
        # is one connection per web thread, and gunicorn decides how many threads there are.
        if database_url.startswith("sqlite") and is_in_memory(database_url):
            raise ValueError("an in-memory database would be this writer's own, not the app's")
        self._engine: Engine = make_engine(database_url, pool_size=1, max_overflow=-1)
        dialect = self._engine.dialect
        compiled = STORE_STATEMENTS[dialect.name].compile(
            dialect=dialect, column_keys=list(COLUMNS)
        )
        self._sql = str(compiled)
        self._order = compiled.positiontup if compiled.positional else None
        table = InboxDelivery.__table__
        self._processors = [
            (name, processor)
            for name in COLUMNS
            if (processor := _bind_processor(table.c[name].type, dialect)) is not None
        ]
        self._is_sqlite = dialect.name == "sqlite"
        self._local = threading.local()
        self._lock = threading.Lock()
        self._kept: set[PoolProxiedConnection] = set()  # every thread's, for dispose()
        # Bumped by dispose() and in a forked child: a thread's kept connection from an earlier
        # generation is never used again (closed, or the parent process's).
        self._generation = 0
        _writers.add(self)

    def store(self, row: dict[str, Any]) -> bool:
        """Insert and commit the delivery (an `inbox.new_row`); False when the same delivery
        was stored before."""
        values = dict(row)
        for name, processor in self._processors:
            values[name] = processor(values[name])
        params = values if self._order is None else tuple(values[k] for k in self._order)
        try:
            return self._insert(self._connection(), params)
        except DBAPIError as exc:
            if not exc.connection_invalidated:
                raise
        # The kept connection had died (the server restarted, an idle timeout): one retry on
        # a new one, so a database that is back answers this delivery instead of a 503.
        return self._insert(self._connection(), params)

    def _connection(self) -> PoolProxiedConnection:
        held = getattr(self._local, "held", None)
        if held is not None and held[0] == self._generation:
            return held[1]  # type: ignore[no-any-return]
        connection = self._engine.raw_connection()
        with self._lock:
            self._kept.add(connection)
            self._local.held = (self._generation, connection)
        return connection

    def _forget(self, connection: PoolProxiedConnection) -> None:
        with self._lock:
            self._kept.discard(connection)
        self._local.held = None

    def _insert(self, connection: PoolProxiedConnection, params: Any) -> bool:
        driver: Any = connection.dbapi_connection  # the sqlite3 or psycopg connection
        try:
            if self._is_sqlite:
                begin_write(driver)
            cursor = driver.cursor()
            cursor.execute(self._sql, params)
            row = cursor.fetchone()
            cursor.close()
            driver.commit()
            return row is not None
        except BaseException as exc:
            self._after_failure(connection, exc)
            raise

    def _after_failure(self, connection: PoolProxiedConnection, exc: BaseException) -> None:
        """Roll back, and drop the connection when the driver says it is gone; errors are
        re-raised by the caller as SQLAlchemy's (the app answers OperationalError with 503)."""
        driver: Any = connection.dbapi_connection  # the sqlite3 or psycopg connection
        dialect = self._engine.dialect
        gone = driver is None or (
            isinstance(exc, dialect.loaded_dbapi.Error) and dialect.is_disconnect(exc, driver, None)
        )
        if not gone:
            try:
                driver.rollback()
            except dialect.loaded_dbapi.Error:
                gone = True
        if gone:
            self._forget(connection)
            connection.invalidate(exc if isinstance(exc, Exception) else None)
        if isinstance(exc, dialect.loaded_dbapi.Error):
            raise DBAPIError.instance(
                self._sql, None, exc, dialect.loaded_dbapi.Error, connection_invalidated=gone
            ) from exc

    def dispose(self) -> None:
        """Close every thread's connection (at shutdown, and after each test); a later store
        opens a new one."""
        with self._lock:
            kept, self._kept = self._kept, set()
            self._generation += 1
        for connection in kept:
            connection.close()
        self._engine.dispose()

    def _after_fork_in_child(self) -> None:
        """The parent's connections, in the pool or kept by its threads, stay the parent's:
        forgotten here, never closed (closing would end the parent's sessions)."""
        self._lock = threading.Lock()  # another thread of the parent may have held it
        self._kept = set()
        self._generation += 1
        self._engine.dispose(close=False)


_writers: weakref.WeakSet[InboxWriter] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for writer in list(_writers):
        writer._after_fork_in_child()


os.register_at_fork(after_in_child=_after_fork_in_child)


def _bind_processor(column_type: Any, dialect: Any) -> Any:
    """What SQLAlchemy would do to a value of this type before the driver sees it: the
    dialect's own implementation (psycopg's JSON wraps values in `Json`, SQLite's dumps them)."""
    return column_type.dialect_impl(dialect).bind_processor(dialect)
