"""The migrations produce exactly the models' schema, on both databases, and run both ways.

Models are the source of truth: a column, index, constraint or foreign key that a model has
and the migrations lack (or the reverse) shows up as a difference from alembic's autogenerate.
Each test gets an empty database of its own: a new SQLite file, or a throw-away PostgreSQL
database when the suite runs on PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.engine import make_url

from shoper_retention.db import engine_url, make_engine
from shoper_retention.migrate import alembic_config, upgrade
from shoper_retention.models import Base
from shoper_retention.settings import PROJECT_ROOT, Settings
from tests.conftest import PG_URL, SECRET

ALEMBIC = Path(sys.executable).parent / "alembic"  # beside the interpreter: the same venv


@pytest.fixture
def empty_database_url(tmp_path: Path) -> Iterator[str]:
    if not PG_URL:
        yield f"sqlite:///{tmp_path / 'empty.sqlite3'}"
        return
    admin = make_engine(PG_URL, isolation_level="AUTOCOMMIT")
    name = f"sr_migrations_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(engine_url(PG_URL)).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _differences(url: str) -> list[Any]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(
                conn, opts={"compare_type": True, "compare_server_default": True}
            )
            return list(compare_metadata(context, Base.metadata))
    finally:
        engine.dispose()


def _tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_upgrade_head_on_an_empty_database_gives_exactly_the_models_schema(
    empty_database_url: str,
) -> None:
    upgrade(Settings(database_url=empty_database_url, secret_key=SECRET))
    assert _differences(empty_database_url) == []
    assert _tables(empty_database_url) == set(Base.metadata.tables) | {"alembic_version"}


def test_every_foreign_key_of_the_models_exists_in_the_migrated_database(
    empty_database_url: str,
) -> None:
    # Spelled out because these two once went missing on PostgreSQL only: created inside
    # create_table with use_alter=True, which PostgreSQL's DDL silently leaves out.
    upgrade(Settings(database_url=empty_database_url, secret_key=SECRET))
    engine = make_engine(empty_database_url)
    try:
        inspector = inspect(engine)
        found = {
            (table, tuple(fk["constrained_columns"]), fk["referred_table"])
            for table in Base.metadata.tables
            for fk in inspector.get_foreign_keys(table)
        }
    finally:
        engine.dispose()
    expected = {
        (table.name, tuple(c.parent.name for c in fk.elements), fk.elements[0].column.table.name)
        for table in Base.metadata.tables.values()
        for fk in table.foreign_key_constraints
    }
    assert ("carts", ("order_id",), "orders") in expected
    assert ("orders", ("attributed_message_id",), "messages") in expected
    assert found == expected


def test_alembic_command_line_downgrades_to_base_and_upgrades_again(
    empty_database_url: str, tmp_path: Path
) -> None:
    """`alembic` run by hand (alembic.ini, env.py reading SHOPER_RETENTION_DATABASE_URL)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHOPER_RETENTION_")}
    env.update(
        SHOPER_RETENTION_DATABASE_URL=empty_database_url,
        SHOPER_RETENTION_SECRET_KEY=SECRET,
        SHOPER_RETENTION_INSTANCE_PATH=str(tmp_path / "instance"),
    )

    def alembic(*args: str) -> str:
        done = subprocess.run(
            [str(ALEMBIC), *args],
            cwd=PROJECT_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    head = ScriptDirectory.from_config(alembic_config(empty_database_url)).get_current_head()
    alembic("upgrade", "head")
    assert head is not None and head in alembic("current")
    alembic("downgrade", "base")
    assert _tables(empty_database_url) <= {"alembic_version"}
    alembic("upgrade", "head")
    assert _differences(empty_database_url) == []
