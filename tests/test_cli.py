"""The `shoper-retention` console script, run as an operator runs it: the installed script in a
subprocess, configured only through SHOPER_RETENTION_* variables, on a fresh SQLite file."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
from sqlalchemy import inspect, select
from sqlalchemy.orm import Session, sessionmaker

from shoper_retention.db import make_engine, make_session_factory
from shoper_retention.models import Base, DevOutboxEntry, WorkerHeartbeat
from shoper_retention.settings import Settings
from tests.concurrency import insert_due_messages
from tests.conftest import SECRET
from tests.support import make_shop

CLI = Path(sys.executable).parent / "shoper-retention"  # the console script of this venv
DUE = datetime(2026, 3, 3, 10, 0, tzinfo=UTC)


class Cli:
    """Runs the script against one database; also opens that database for the test."""

    def __init__(self, tmp_path: Path) -> None:
        self.database_url = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("SHOPER_RETENTION_")}
        self.env.update(
            SHOPER_RETENTION_DATABASE_URL=self.database_url,
            SHOPER_RETENTION_INSTANCE_PATH=str(tmp_path / "instance"),
            SHOPER_RETENTION_SECRET_KEY=SECRET,
        )
        self.settings = Settings(database_url=self.database_url, secret_key=SECRET)
        self._engine = make_engine(self.database_url)
        self.factory: sessionmaker[Session] = make_session_factory(self._engine)

    def __call__(
        self, *args: str, timeout: float = 60, **env: str
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(CLI), *args],
            env={**self.env, **env},
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def ok(self, *args: str) -> str:
        done = self(*args)
        assert done.returncode == 0, done.stderr
        return done.stdout

    def close(self) -> None:
        self._engine.dispose()


@pytest.fixture
def cli(tmp_path: Path) -> Iterator[Cli]:
    runner = Cli(tmp_path)
    yield runner
    runner.close()


def test_db_upgrade_creates_the_schema_and_running_it_again_changes_nothing(cli: Cli) -> None:
    assert "database is up to date" in cli.ok("db", "upgrade")
    tables = set(inspect(cli._engine).get_table_names())
    assert tables == set(Base.metadata.tables) | {"alembic_version"}
    done = cli("db", "upgrade")
    assert done.returncode == 0 and "database is up to date" in done.stdout
    assert "INFO" not in done.stderr  # no migration chatter for an operator to read


def test_db_upgrade_creates_a_sqlite_file_in_a_folder_that_does_not_exist_yet(
    cli: Cli, tmp_path: Path
) -> None:
    target = tmp_path / "data" / "retention" / "db.sqlite3"
    done = cli("db", "upgrade", SHOPER_RETENTION_DATABASE_URL=f"sqlite:///{target}")
    assert done.returncode == 0, done.stderr
    assert target.is_file()


def test_shops_list_prints_an_empty_list_then_each_installed_shop(cli: Cli) -> None:
    cli.ok("db", "upgrade")
    assert json.loads(cli.ok("shops", "list", "--json")) == []
    assert "no shops installed" in cli.ok("shops", "list")

    shop = make_shop(cli.factory, cli.settings, now=DUE, licence="licence-42")

    (listed,) = json.loads(cli.ok("shops", "list", "--json"))
    assert listed["id"] == shop.id
    assert listed["platform"] == "shoper"
    assert listed["platform_shop_id"] == "licence-42"
    assert listed["status"] == "active"
    assert listed["public_key"] == shop.public_key
    text = cli.ok("shops", "list")
    assert "licence-42" in text and f"key={shop.public_key}" in text


def test_tick_runs_one_pass_at_the_given_time_and_prints_its_counts(cli: Cli) -> None:
    cli.ok("db", "upgrade")
    shop = make_shop(cli.factory, cli.settings, now=DUE)
    insert_due_messages(cli.factory, shop.id, 1, DUE)  # an e-mail due at 10:00 UTC

    early = json.loads(cli.ok("tick", "--now", "2026-03-03T09:59:00Z"))
    assert early["now"] == "2026-03-03T09:59:00+00:00"
    assert early["sent"] == 0  # not due yet at that time

    report = json.loads(cli.ok("tick", "--now", "2026-03-03T10:00:00Z"))
    assert report["now"] == "2026-03-03T10:00:00+00:00"
    assert report["sent"] == 1
    for count in ("ingested", "ingest_failed", "planned", "cancelled", "skipped", "failed"):
        assert report[count] == 0, count
    assert report["errors"] == []
    with cli.factory() as session:
        (entry,) = session.scalars(select(DevOutboxEntry)).all()
    assert entry.channel == "email" and entry.to_address.endswith("@example.com")


def test_tick_exits_non_zero_when_a_job_failed_and_lists_it_after_finishing_the_pass(
    cli: Cli,
) -> None:
    cli.ok("db", "upgrade")
    broken = make_shop(
        cli.factory,
        cli.settings,
        now=DUE,
        overrides={"scenarios": {"cart_recovery": {"idle_minutes": "soon"}}},
    )
    healthy = make_shop(cli.factory, cli.settings, now=DUE)
    insert_due_messages(cli.factory, healthy.id, 1, DUE)
    done = cli("tick", "--now", "2026-03-03T10:00:00Z")
    assert done.returncode == 1
    report = json.loads(done.stdout)
    assert report["sent"] == 1  # the pass went on past the broken shop
    assert [e.split(":")[0] for e in report["errors"]] == [f"scan of shop {broken.id}"]


def test_tick_in_simulated_time_records_the_real_time_as_the_worker_heartbeat(cli: Cli) -> None:
    """/healthz reads the heartbeat: a `tick --now` years ahead must not vouch for a worker."""
    cli.ok("db", "upgrade")
    before = datetime.now(UTC)
    cli.ok("tick", "--now", "2030-01-01T00:00:00Z")
    with cli.factory() as session:
        (beat,) = session.scalars(select(WorkerHeartbeat.beat_at)).all()
    assert before - timedelta(seconds=5) <= beat <= datetime.now(UTC) + timedelta(seconds=5)


def test_demo_shows_both_stories_with_the_coupon_and_the_cancelled_step_within_a_minute(
    cli: Cli,
) -> None:
    started = time.monotonic()
    done = cli("demo", timeout=60)
    elapsed = time.monotonic() - started
    assert done.returncode == 0, done.stderr
    assert elapsed < 60
    out = done.stdout
    # Anna: SMS at +1 h, e-mail at +24 h, e-mail and SMS with one coupon at +72 h.
    assert out.count("--- SMS to +48600100200") == 2
    assert len(re.findall(r"--- EMAIL to anna\.\w+@example\.com", out)) == 2
    code = re.search(r"Kod: ([A-Z0-9]{6,})", out)
    assert code is not None, out
    assert f"rabat 10% na Twoj koszyk z kodem {code.group(1)}" in out  # the same code, SMS
    # Piotr ordered at +30 h: his first two reminders only.
    assert out.count("--- SMS to +48600300400") == 1
    assert len(re.findall(r"--- EMAIL to piotr\.\w+@example\.com", out)) == 1
    assert "piotr ordered" in out and "anna abandoned" in out
    assert "Traceback" not in done.stderr


def test_a_bad_now_is_a_usage_error_that_names_the_option(cli: Cli) -> None:
    done = cli("tick", "--now", "next tuesday")
    assert done.returncode == 2
    assert "Invalid value for --now" in done.stderr and "ISO 8601" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_bad_public_url_stops_the_command_with_the_variable_named(cli: Cli) -> None:
    done = cli("shops", "list", SHOPER_RETENTION_PUBLIC_URL="ftp://retention.example")
    assert done.returncode == 1
    assert "SHOPER_RETENTION_PUBLIC_URL must start with http:// or https://" in done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""


def test_tick_on_a_database_without_the_schema_says_to_run_db_upgrade(cli: Cli) -> None:
    done = cli("tick")
    assert done.returncode == 1
    assert "database error" in done.stderr and "db upgrade" in done.stderr
    assert "Traceback" not in done.stderr


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_serve_answers_healthz_and_runs_its_in_process_worker(cli: Cli, tmp_path: Path) -> None:
    port = _free_port()
    log = tmp_path / "serve.log"
    with log.open("w") as output:
        server = subprocess.Popen(
            [str(CLI), "serve", "--port", str(port)],
            env=cli.env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        health: dict[str, object] = {}
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and health.get("worker") != "ok":
            assert server.poll() is None, log.read_text()
            try:
                answer = requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
            except requests.ConnectionError:
                time.sleep(0.2)
                continue
            assert answer.status_code == 200, answer.text
            health = answer.json()
            assert health["database"] == "ok"
            time.sleep(0.2)
        assert health.get("worker") == "ok", (health, log.read_text())
        assert health["last_worker_pass"] is not None
    finally:
        server.terminate()
        server.wait(timeout=10)
    assert f"serving on http://127.0.0.1:{port}" in log.read_text()
