"""The operator's endpoints: /healthz (database and worker state for load balancers and
monitoring), /dev/outbox (embedded mode only) and /manifest.json."""

from __future__ import annotations

import os
import re
import sqlite3
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, select
from sqlalchemy.orm import Session, sessionmaker

from shoper_retention.app import create_app
from shoper_retention.clock import utcnow
from shoper_retention.db import make_engine, make_session_factory
from shoper_retention.models import DevOutboxEntry
from shoper_retention.settings import Settings
from tests.support import Clock, cart_snapshot, make_shop, post_cart


def test_healthz_reports_the_database_and_a_worker_that_never_ran(client):
    answer = client.get("/healthz")
    assert answer.status_code == 200
    assert answer.json == {
        "status": "ok",
        "database": "ok",
        "worker": "never ran",
        "last_worker_pass": None,
    }


def test_healthz_sees_a_worker_pass_and_calls_it_stale_when_it_stops(client, worker, clock):
    # Liveness is about real time (the heartbeat records when the pass ran), so the pass runs
    # "now" and only the web side's clock is moved on.
    ran_at = clock.set(utcnow())
    worker.tick(clock.now)
    answer = client.get("/healthz")
    assert answer.status_code == 200
    assert answer.json["worker"] == "ok"
    last_pass = datetime.fromisoformat(answer.json["last_worker_pass"])
    assert abs(last_pass - ran_at) < timedelta(seconds=5)

    clock.set(last_pass + timedelta(minutes=4, seconds=59))
    assert client.get("/healthz").json["worker"] == "ok"
    clock.set(last_pass + timedelta(minutes=5, seconds=1))  # no pass for five minutes
    stale = client.get("/healthz")
    assert stale.status_code == 200  # the web side still serves; monitoring reads `worker`
    assert stale.json["worker"] == "stale"


def test_healthz_answers_503_when_the_database_is_unreachable(settings: Settings, tmp_path, clock):
    missing = settings.with_(database_url=f"sqlite:///{tmp_path / 'no-such-dir' / 'db.sqlite3'}")
    engine = make_engine(missing.database_url)
    try:
        app = create_app(missing, clock=clock, factory=make_session_factory(engine))
        answer = app.test_client().get("/healthz")
    finally:
        engine.dispose()
    assert answer.status_code == 503
    assert answer.json["status"] == "unavailable"
    assert answer.json["database"].startswith("error: ")


def test_dev_outbox_lists_what_was_sent_when_no_provider_is_configured(
    client, worker, factory, settings, clock: Clock
):
    assert settings.uses_dev_outbox
    empty = client.get("/dev/outbox")
    assert empty.status_code == 200
    assert 'id="empty"' in empty.get_data(as_text=True)

    shop = make_shop(factory, settings, now=clock.now)
    start = clock.now
    post_cart(client, shop, cart_snapshot(at=start), confirmed=True)
    worker.tick(clock.now)
    worker.tick(clock.advance(minutes=31))
    worker.tick(clock.set(start + timedelta(hours=1)))  # step 1: an SMS
    worker.tick(clock.set(start + timedelta(hours=24)))  # step 2: an e-mail

    page = client.get("/dev/outbox").get_data(as_text=True)
    channels = re.findall(r'<article class="entry" data-channel="(\w+)">', page)
    assert channels == ["email", "sms"]  # newest first
    assert "to +48600100200" in page and "to anna@example.com" in page
    assert "Sklep Testowy: Anna, Twoj koszyk czeka: https:" in page
    assert "Wciąż w Twoim koszyku: Kubek ceramiczny" in page
    assert 'id="empty"' not in page


def test_dev_outbox_shows_message_html_only_inside_a_sandboxed_frame(client, factory, clock):
    with factory() as session, session.begin():
        session.add(
            DevOutboxEntry(
                idempotency_key="sr-x-1",
                channel="email",
                to_address="anna@example.com",
                subject="<b>subject</b>",
                body_text="<script>alert(1)</script>",
                body_html='<p onclick="steal()">hello</p>',
                created_at=clock.now,
            )
        )
    page = client.get("/dev/outbox").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<b>subject</b>" not in page
    assert '<p onclick="steal()">' not in page
    assert 'sandbox srcdoc="&lt;p onclick=&#34;steal()&#34;&gt;hello&lt;/p&gt;"' in page


def build_app(settings: Settings, factory: sessionmaker[Session], clock: Clock):  # type: ignore[no-untyped-def]
    app = create_app(settings, clock=clock, factory=factory)
    app.config["TESTING"] = True
    return app


def test_dev_outbox_is_not_served_once_a_real_provider_is_configured(
    settings: Settings, factory, clock
):
    """With real providers it would list real shoppers' messages, to anyone: it is gone."""
    for configured in (
        settings.with_(smtp_url="smtp://127.0.0.1:1"),
        settings.with_(smsapi_token="operator-token"),
    ):
        with factory() as session, session.begin():
            session.add(
                DevOutboxEntry(
                    idempotency_key="sr-x-2",
                    channel="sms",
                    to_address="+48600100200",
                    body_text="older test message",
                    created_at=clock.now,
                )
            )
        answer = build_app(configured, factory, clock).test_client().get("/dev/outbox")
        assert answer.status_code == 404
        assert "+48600100200" not in answer.get_data(as_text=True)
        with factory() as session, session.begin():
            session.query(DevOutboxEntry).delete()


def test_healthz_does_not_trust_a_worker_beat_from_the_future(client, factory, clock):
    from shoper_retention.models import WorkerHeartbeat

    with factory() as session, session.begin():
        session.add(WorkerHeartbeat(name="skewed", beat_at=clock.now + timedelta(hours=6)))
    assert client.get("/healthz").json["worker"] == "stale"


def test_dev_outbox_is_served_only_to_this_machine(client):
    assert client.get("/dev/outbox").status_code == 200
    remote = client.get("/dev/outbox", environ_base={"REMOTE_ADDR": "198.51.100.7"})
    assert remote.status_code == 404


def test_settings_page_does_not_claim_a_dev_outbox_once_a_provider_is_configured(
    settings: Settings, factory, clock
):
    """With SMTP configured an SMS with no token pauses (see connectors): the page must not
    tell the merchant it lands in the dev outbox."""
    from shoper_retention.links import Links

    production = settings.with_(smtp_url="smtp://127.0.0.1:1")
    client = create_app(production, clock=clock, factory=factory).test_client()
    shop = make_shop(factory, production, now=clock.now)
    token = Links(production.secret_key, production.public_url).settings_form_token(
        shop.id, clock.now
    )
    page = client.get(f"/shoper/app?t={token}").get_data(as_text=True)
    assert 'id="dev-outbox"' not in page


# --- /healthz writes ------------------------------------------------------------------------


def test_healthz_proves_a_write_by_upserting_this_processs_probe_row(
    client, factory, clock, monkeypatch
):
    from shoper_retention.models import HealthProbe
    from shoper_retention.web import ops

    def probes():  # type: ignore[no-untyped-def]
        with factory() as session:
            return [(p.name, p.probed_at) for p in session.scalars(select(HealthProbe))]

    first = clock.now
    assert client.get("/healthz").status_code == 200
    clock.advance(seconds=30)
    assert client.get("/healthz").status_code == 200  # within a second: the last probe counts
    ((name, probed_at),) = probes()
    assert name.endswith(f":{os.getpid()}") and probed_at == first
    monkeypatch.setattr(ops, "PROBE_INTERVAL", 0.0)
    assert client.get("/healthz").status_code == 200
    assert probes() == [(name, clock.now)]


def app_on(settings: Settings, clock: Clock, on_connect: Callable[[Any], None]):  # type: ignore[no-untyped-def]
    """An app whose database connections are opened through `on_connect` (what the server's
    database or disk does to them)."""
    engine = make_engine(settings.database_url)
    event.listen(engine, "connect", lambda dbapi_conn, _record: on_connect(dbapi_conn))
    return build_app(settings, make_session_factory(engine), clock), engine


def run_sql(dbapi_conn: Any, *statements: str) -> None:
    cursor = dbapi_conn.cursor()
    for statement in statements:
        cursor.execute(statement)
    cursor.close()
    dbapi_conn.commit()  # PostgreSQL's SET is transactional: keep it past the pool's rollback


def test_healthz_is_503_when_the_database_only_reads(settings: Settings, clock):
    """A read-only file or a read-only replica: reads work, every delivery would fail."""
    if settings.database_url.startswith("sqlite"):
        read_only = "PRAGMA query_only=ON"  # as root, a chmod would not stop the writes
    else:
        read_only = "SET default_transaction_read_only = on"
    app, engine = app_on(settings, clock, lambda conn: run_sql(conn, read_only))
    try:
        answer = app.test_client().get("/healthz")
    finally:
        engine.dispose()
    assert answer.status_code == 503
    assert answer.headers["Retry-After"] == "30"
    assert answer.json["status"] == "unavailable"
    assert answer.json["database"] in ("error: OperationalError", "error: InternalError")


def test_healthz_is_503_when_the_disk_is_full(settings: Settings, clock, database_url):
    if not database_url.startswith("sqlite"):
        # Nothing to simulate it with on PostgreSQL short of filling this machine's real
        # disk; the 503 for failing writes there is proven by the read-only database test.
        pytest.skip(
            "PostgreSQL has no per-database size cap to fake a full disk with; "
            "test_healthz_is_503_when_the_database_only_reads covers failing writes there"
        )
    path = database_url.removeprefix("sqlite:///")
    # A disk with no room for one more page: the database may not grow, and the probe
    # table's page is filled with other rows first, so the probe's row needs a new page.
    with sqlite3.connect(path) as filler:
        pages = filler.execute("PRAGMA page_count").fetchone()[0]
        filler.execute(f"PRAGMA max_page_count={pages}")
        with pytest.raises(sqlite3.OperationalError, match="database or disk is full"):
            for n in range(100_000):
                filler.execute(
                    "INSERT INTO health_probes (name, probed_at) VALUES (?, ?)",
                    (str(n), "2026-01-01 00:00:00.000000"),
                )
                filler.commit()

    def full_disk(conn: Any) -> None:
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        run_sql(conn, f"PRAGMA max_page_count={pages}")

    app, engine = app_on(settings, clock, full_disk)
    try:
        answer = app.test_client().get("/healthz")
    finally:
        engine.dispose()
    assert answer.status_code == 503
    assert answer.headers["Retry-After"] == "30"
    assert answer.json == {"status": "unavailable", "database": "error: OperationalError"}


# --- loopback-only pages behind a reverse proxy --------------------------------------------


@pytest.mark.parametrize(
    "header",
    ["X-Forwarded-For", "Forwarded", "X-Real-IP", "X-Forwarded-Host"],
)
def test_dev_outbox_is_closed_to_a_request_through_an_untrusted_proxy(client, header):
    """A proxy on this machine makes every visitor look local; with no trusted proxy set,
    a request bearing a proxy's header is not ours to show every shop's messages to."""
    assert client.get("/dev/outbox").status_code == 200
    value = "for=198.51.100.7" if header == "Forwarded" else "198.51.100.7"
    assert client.get("/dev/outbox", headers={header: value}).status_code == 404


def test_dev_outbox_behind_a_trusted_proxy_goes_by_the_forwarded_client(
    settings: Settings, factory, clock
):
    client = build_app(settings.with_(trusted_proxies=1), factory, clock).test_client()
    remote = client.get("/dev/outbox", headers={"X-Forwarded-For": "198.51.100.7"})
    assert remote.status_code == 404
    # A visitor's own X-Forwarded-For claim is not believed: the proxy's entry is last.
    spoofed = client.get("/dev/outbox", headers={"X-Forwarded-For": "127.0.0.1, 198.51.100.7"})
    assert spoofed.status_code == 404
    local = client.get("/dev/outbox", headers={"X-Forwarded-For": "127.0.0.1"})
    assert local.status_code == 200
