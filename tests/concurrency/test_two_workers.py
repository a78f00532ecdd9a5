"""Two worker processes racing over the same due messages send each exactly once.

The workers are separate OS processes with their own engines, started at the same moment (a
"go" line on their stdin), each running `Worker.tick` until nothing is due. On PostgreSQL this
exercises SELECT ... FOR UPDATE SKIP LOCKED; on SQLite, the write lock around each claim.

Messages go to the dev outbox (its idempotency key is UNIQUE), behind a transport that takes a
couple of milliseconds per send like a real provider: the dev outbox alone answers in
microseconds, and on SQLite a worker whose transactions follow each other that closely keeps
the write lock nearly all the time, so the other process would hardly get a turn."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from shoper_retention.connectors.base import Connector, Outcome, OutgoingMessage
from shoper_retention.connectors.dev_outbox import DevOutboxConnector
from shoper_retention.models import DevOutboxEntry, Message
from shoper_retention.settings import PROJECT_ROOT, Settings
from tests.concurrency import insert_due_messages
from tests.support import make_shop

NOW = datetime(2026, 3, 3, 10, 0, tzinfo=UTC)  # 11:00 in Warsaw: inside the e-mail window
MESSAGES = 1000
CHILD = "from tests.concurrency.test_two_workers import worker_process; worker_process()"
SEND_LATENCY = 0.0005  # seconds a provider takes to accept a message


class ProviderLatency:
    """The dev outbox behind a network round trip: the send waits, then stores."""

    name = "dev_outbox"
    idempotent = True

    def __init__(self, inner: DevOutboxConnector) -> None:
        self.inner = inner
        self.channel = inner.channel

    def __enter__(self) -> Connector:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def send(self, message: OutgoingMessage) -> Outcome:
        time.sleep(SEND_LATENCY)
        return self.inner.send(message)


def worker_process() -> None:
    """The child: build a worker like `shoper-retention worker` would, wait for the start
    signal, then run passes until one finds nothing to do; print what this process did."""
    from shoper_retention.db import make_engine, make_session_factory
    from shoper_retention.worker import Worker

    database_url, secret, now_text, name = sys.argv[1:5]
    settings = Settings(
        database_url=database_url,
        secret_key=secret,
        public_url="https://retention.example",
        mail_from="shop@retention.example",
        dispatch_batch_size=25,  # many small claims, so the two processes interleave
    )
    engine = make_engine(database_url)
    factory = make_session_factory(engine)
    worker = Worker(
        settings,
        factory,
        name=name,
        connectors_for=lambda shop, channel: ProviderLatency(DevOutboxConnector(channel, factory)),
    )
    now = datetime.fromisoformat(now_text)
    print("ready", flush=True)
    sys.stdin.readline()
    totals = {"sent": 0, "retried": 0, "failed": 0, "skipped": 0, "cancelled": 0, "passes": 0}
    while True:
        summary = worker.tick(now).summary()
        totals["passes"] += 1
        for key in ("sent", "retried", "failed", "skipped", "cancelled"):
            totals[key] += summary[key]
        if not any(summary[k] for k in ("sent", "retried", "failed", "skipped", "cancelled")):
            break
        if summary["errors"]:
            totals["errors"] = summary["errors"]
            break
    engine.dispose()
    print(json.dumps(totals), flush=True)


def _start(database_url: str, secret: str, name: str, log: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, database_url, secret, NOW.isoformat(), name],
        cwd=PROJECT_ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=log.open("w"),
        text=True,
    )


def _race(database_url: str, secret: str, tmp_path: Path) -> list[dict[str, int]]:
    logs = [tmp_path / f"worker-{n}.log" for n in (1, 2)]
    procs = [_start(database_url, secret, f"racer-{n}", log) for n, log in enumerate(logs, 1)]
    try:
        for proc in procs:
            assert proc.stdout is not None
            assert proc.stdout.readline().strip() == "ready"
        for proc in procs:  # both are built and waiting: release them together
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        outputs = [proc.communicate(timeout=60)[0] for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    for proc, log in zip(procs, logs, strict=True):
        assert proc.returncode == 0, log.read_text()
    return [json.loads(out.strip().splitlines()[-1]) for out in outputs]


def test_two_worker_processes_send_a_thousand_due_messages_exactly_once_each(
    factory: sessionmaker[Session], settings: Settings, database_url: str, tmp_path: Path
) -> None:
    shop = make_shop(factory, settings, now=NOW)
    ids = insert_due_messages(factory, shop.id, MESSAGES, NOW)
    assert len(ids) == MESSAGES

    first, second = _race(database_url, settings.secret_key, tmp_path)

    # Each process did a share of the work, so they really ran side by side.
    assert first["sent"] > 0 and second["sent"] > 0, (first, second)
    # A message sent by both would count twice here (the dev outbox answers "already sent").
    assert first["sent"] + second["sent"] == MESSAGES
    for report in (first, second):
        assert (report["retried"], report["failed"], report["skipped"]) == (0, 0, 0)
        assert "errors" not in report
    with factory() as session:
        assert session.scalar(select(func.count(DevOutboxEntry.id))) == MESSAGES
        per_key = session.execute(
            select(DevOutboxEntry.idempotency_key, func.count(DevOutboxEntry.id)).group_by(
                DevOutboxEntry.idempotency_key
            )
        ).all()
        assert {n for _, n in per_key} == {1}
        assert {key for key, _ in per_key} == {f"sr-{shop.id}-{i}" for i in ids}
        delivered = set(session.scalars(select(DevOutboxEntry.message_id)))
        assert delivered == set(ids)
        statuses = session.execute(
            select(Message.status, func.count(Message.id)).group_by(Message.status)
        ).all()
        assert dict(statuses) == {"sent": MESSAGES}
        assert session.scalar(select(func.count(Message.id)).where(Message.attempts > 0)) == 0
