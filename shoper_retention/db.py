"""Engine, sessions and the column types shared by every model.

One schema serves SQLite (the embedded default) and PostgreSQL (scale-out). SQLite runs in WAL
mode with a busy timeout so the web process and the in-process worker can write side by side,
and the connections of one process take turns at the write lock in arrival order (`_Turns`).
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
import time
from collections import deque
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, MetaData, Numeric, TypeDecorator, create_engine, event, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

SQLITE_BUSY_TIMEOUT = 30.0  # seconds a transaction waits for the write lock before failing

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in, timezone-aware UTC out, on both databases."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


Money = Numeric(12, 2, asdecimal=True)


def engine_url(url: str) -> str:
    """Accept plain `postgresql://` and use psycopg 3, the driver we ship."""
    if url.startswith("postgresql://"):
        return "postgresql+psycopg://" + url[len("postgresql://") :]
    if url.startswith("postgres://"):
        return "postgresql+psycopg://" + url[len("postgres://") :]
    return url


class _Turns:
    """Hands one SQLite file's write lock between this process's connections in arrival order.

    SQLite's busy handler makes a waiting connection sleep and retry, up to 100 ms at a time,
    so a worker whose transactions follow each other within microseconds keeps the lock nearly
    always: a webhook request waited up to 2.4 s while the in-process worker sent 1,000
    e-mails. With turns, a waiting request gets the lock after the current transaction.

    Between processes (gunicorn workers, a separate `worker`) the holder of this process's turn
    also takes an flock() on `<database>-writers`: a writer in another process polls it every
    1 ms at most, instead of SQLite's busy handler's sleeps of 1, 2, 5, 10 ... 100 ms."""

    def __init__(self, path: str) -> None:
        self._mutex = threading.Lock()
        self._held = False
        self._waiting: deque[threading.Event] = deque()
        self._lock_path = path + "-writers"
        self._fd: int | None = None

    def acquire(self, timeout: float) -> bool:
        with self._mutex:
            if not self._held:
                self._held = True
                return True
            turn = threading.Event()
            self._waiting.append(turn)
        if turn.wait(timeout):
            return True  # handed over by release(): the lock stays held, now by us
        with self._mutex:
            if turn.is_set():
                return True  # handed over just as we gave up
            self._waiting.remove(turn)
            return False

    def lock_file(self, timeout: float) -> bool:
        """Called by the holder of this process's turn: wait (at most `timeout` s) for the
        other processes. Polls with short sleeps so the wait stays bounded."""
        if self._fd is None:
            self._fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        deadline, delay = time.monotonic() + timeout, 0.00005
        while True:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    return False
            time.sleep(delay)
            delay = min(delay * 2, 0.001)

    def unlock_file(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def release(self) -> None:
        with self._mutex:
            if self._waiting:
                self._waiting.popleft().set()
            else:
                self._held = False

    def reset(self) -> None:
        self._mutex = threading.Lock()
        self._held = False
        self._waiting = deque()
        if self._fd is not None:
            # Shared with the parent (one open file description): never unlock it here.
            os.close(self._fd)
            self._fd = None


_turns_by_file: dict[str, _Turns] = {}
_turns_mutex = threading.Lock()


def _turns_for(path: str) -> _Turns:
    with _turns_mutex:
        return _turns_by_file.setdefault(path, _Turns(path))


def _reset_turns_after_fork() -> None:
    """A forked child (gunicorn --preload) holds none of its parent's transactions."""
    global _turns_mutex
    _turns_mutex = threading.Lock()
    for turns in _turns_by_file.values():
        turns.reset()


os.register_at_fork(after_in_child=_reset_turns_after_fork)


class _TurnTakingConnection(sqlite3.Connection):
    """A pysqlite connection that holds its process's turn from BEGIN to COMMIT/ROLLBACK."""

    turns: _Turns | None = None
    has_turn = False

    def take_turn(self) -> None:
        if self.turns is None or self.has_turn:
            return
        deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT
        if not self.turns.acquire(SQLITE_BUSY_TIMEOUT):
            raise OperationalError(
                "BEGIN IMMEDIATE", None, sqlite3.OperationalError("database is locked")
            )
        try:
            locked = self.turns.lock_file(max(0.0, deadline - time.monotonic()))
        except BaseException:
            self.turns.release()  # e.g. the lock file cannot be opened: never keep the turn
            raise
        if not locked:
            self.turns.release()
            raise OperationalError(
                "BEGIN IMMEDIATE", None, sqlite3.OperationalError("database is locked")
            )
        self.has_turn = True

    def end_turn(self) -> None:
        if self.has_turn and self.turns is not None:
            self.has_turn = False
            self.turns.unlock_file()
            self.turns.release()

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self.end_turn()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self.end_turn()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.end_turn()

    def __del__(self) -> None:
        self.end_turn()  # a connection dropped mid-transaction must not keep the turn


def begin_write(driver_connection: Any) -> None:
    """Open a write transaction on a SQLite driver connection of `make_engine`'s: this
    process's turn, then BEGIN IMMEDIATE (the database's write lock)."""
    driver_connection.take_turn()
    try:
        driver_connection.execute("BEGIN IMMEDIATE")
    except BaseException:
        driver_connection.end_turn()
        raise


def is_in_memory(sqlite_url: str) -> bool:
    database = make_url(sqlite_url).database or ""
    return database in ("", ":memory:") or database.startswith("file::memory:")


def make_engine(url: str, **kwargs: Any) -> Engine:
    url = engine_url(url)
    if url.startswith("sqlite"):
        database = make_url(url).database or ""
        turns = None if is_in_memory(url) else _turns_for(os.path.abspath(database))
        engine = create_engine(
            url,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT, "factory": _TurnTakingConnection},
            **kwargs,
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            # Let SQLAlchemy, not pysqlite, open transactions, and make them write-intent
            # (BEGIN IMMEDIATE) so concurrent writers wait for the lock instead of failing
            # with "database is locked" half way through a transaction.
            dbapi_conn.isolation_level = None
            dbapi_conn.turns = turns
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT * 1000)}")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            begin_write(conn.connection.dbapi_connection)

        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


def lock_for_transaction(session: Session, key: str) -> None:
    """Serialise transactions that work on the same `key` (an address, say) when no row can be
    locked for it: a transaction-scoped advisory lock on PostgreSQL; on SQLite one write
    transaction runs at a time anyway."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"), {"key": key}
        )


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)
