"""Shared fixtures: a real database (a SQLite file, or PostgreSQL when
SHOPER_RETENTION_TEST_DATABASE_URL points at one), a movable clock, the app, a worker, shops.

The schema always comes from the Alembic migrations, so every test also runs on the schema an
operator gets. On PostgreSQL the suite creates its own throw-away database and empties the
tables between tests; on SQLite each test gets a fresh copy of a migrated file."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from shoper_retention.app import create_app
from shoper_retention.db import engine_url, make_engine, make_session_factory
from shoper_retention.migrate import upgrade
from shoper_retention.models import Base
from shoper_retention.platforms.registry import Platforms
from shoper_retention.settings import Settings
from tests.support import Clock

PG_URL = os.environ.get("SHOPER_RETENTION_TEST_DATABASE_URL", "")
SECRET = "test-secret-key-0123456789abcdef"


def pytest_report_header() -> str:
    if not PG_URL:
        return "database: SQLite files"
    return f"database: PostgreSQL {make_url(PG_URL).render_as_string(hide_password=True)}"


@pytest.fixture(scope="session")
def _migrated_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated database made once: a SQLite template file, or a fresh PostgreSQL database."""
    if PG_URL:
        admin = make_engine(PG_URL, isolation_level="AUTOCOMMIT")
        name = f"sr_test_{uuid.uuid4().hex[:10]}"
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = make_url(engine_url(PG_URL)).set(database=name).render_as_string(hide_password=False)
        upgrade(Settings(database_url=url, secret_key=SECRET))
        yield url
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    else:
        path = tmp_path_factory.mktemp("template") / "template.sqlite3"
        upgrade(Settings(database_url=f"sqlite:///{path}", secret_key=SECRET))
        yield str(path)


@pytest.fixture
def database_url(_migrated_database: str, tmp_path: Path) -> Iterator[str]:
    if PG_URL:
        yield _migrated_database
        engine = make_engine(_migrated_database)
        tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
        with engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        engine.dispose()
    else:
        path = tmp_path / "test.sqlite3"
        shutil.copy(_migrated_database, path)
        yield f"sqlite:///{path}"


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=database_url,
        secret_key=SECRET,
        public_url="https://retention.example",
        instance_path=tmp_path / "instance",
        shoper_app_id="app-id",
        shoper_app_secret="app-secret",
        shoper_appstore_secret="appstore-secret",
        mail_from="shop@retention.example",
    )


@pytest.fixture
def platforms(settings: Settings) -> Platforms:
    return Platforms(settings)


@pytest.fixture
def factory(settings: Settings) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(settings.database_url)
    yield make_session_factory(engine)
    engine.dispose()


@pytest.fixture
def clock() -> Clock:
    # A Tuesday morning in Warsaw (09:00 local): inside every default quiet-hours window.
    return Clock(datetime(2026, 3, 3, 8, 0, tzinfo=UTC))


@pytest.fixture
def http() -> requests.Session:
    return requests.Session()


@pytest.fixture
def app(settings: Settings, factory: sessionmaker[Session], clock: Clock, http: requests.Session):  # type: ignore[no-untyped-def]
    app = create_app(settings, clock=clock, http=http, factory=factory)
    app.config["TESTING"] = True
    yield app
    app.extensions["shoper_retention"].inbox_writer.dispose()


@pytest.fixture
def client(app):  # type: ignore[no-untyped-def]
    return app.test_client()


@pytest.fixture
def worker(settings: Settings, factory: sessionmaker[Session], http: requests.Session):  # type: ignore[no-untyped-def]
    from shoper_retention.worker import Worker

    return Worker(settings, factory, http=http, name="test-worker")


def later(clock: Clock, **delta: float) -> datetime:
    return clock.now + timedelta(**delta)
