"""Back in stock, birthdays and anniversaries through the public contract only: HTTP (storefront
sign-ups, signed Shoper webhooks, the /k/ confirmation link, /dev/outbox) and the installed
`shoper-retention tick --now` script in a subprocess, which alone moves the worker's time.

The subprocess shares the test's database (a SQLite file, or the PostgreSQL test database when
SHOPER_RETENTION_TEST_DATABASE_URL is set) and the settings the app under test runs with; no
Shoper REST but a loopback fake of one product's stock (back in stock re-reads it) is reachable
from it, so coupons are static and product details come from the catalogue `make_shop` fills."""

from __future__ import annotations

import html
import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from shoper_retention.credentials import CredentialBox
from tests.support import make_shop, order_payload, post_webhook

CLI = Path(sys.executable).parent / "shoper-retention"  # the console script of this venv
FIELD = 7  # the shop's customer field holding a birth date
ENTRY = re.compile(
    r'<article class="entry" data-channel="(\w+)">\s*<div class="meta">#\d+ · \w+ · to (\S+) ·'
    r".*?</div>\s*(?:<h3>(.*?)</h3>)?\s*<pre>(.*?)</pre>",
    re.S,
)


@dataclass(frozen=True)
class Sent:
    channel: str
    to: str
    subject: str
    text: str


def outbox(client: Any) -> list[Sent]:
    """GET /dev/outbox (newest first, as a developer sees it), oldest first."""
    page = client.get("/dev/outbox")
    assert page.status_code == 200
    found = [Sent(*(html.unescape(g or "") for g in m.groups())) for m in ENTRY.finditer(page.text)]
    return found[::-1]


@pytest.fixture
def tick(settings: Any, tmp_path: Path) -> Any:
    """`shoper-retention tick --now <at>` on the test's database; returns its printed report."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHOPER_RETENTION_")}
    env.update(
        SHOPER_RETENTION_DATABASE_URL=settings.database_url,
        SHOPER_RETENTION_SECRET_KEY=settings.secret_key,
        SHOPER_RETENTION_PUBLIC_URL=settings.public_url,
        SHOPER_RETENTION_INSTANCE_PATH=str(tmp_path / "cli-instance"),
        SHOPER_RETENTION_MAIL_FROM=settings.mail_from,
        NO_PROXY="127.0.0.1",
    )

    def run(at: str) -> dict[str, Any]:
        done = subprocess.run(
            [str(CLI), "tick", "--now", at], env=env, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stdout + done.stderr
        report: dict[str, Any] = json.loads(done.stdout)
        assert report["errors"] == [] and report["failed"] == 0, report
        return report

    return run


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def customer(*, born: str = "", date_add: str = "2020-01-10 12:00:00") -> dict[str, Any]:
    """A Shoper `users` row (samples/shoper/GET_users_page1.json), newsletter ticked."""
    fields = [{"field_id": str(FIELD), "type": "1", "value": born}] if born else []
    person = {"user_id": "5", "firstname": "Anna", "email": "anna@example.com", "active": "1"}
    return {**person, "date_add": date_add, "additional_fields": fields, "newsletter": "1"}


def deliver(client: Any, shop: Any, event: str, payload: dict[str, Any]) -> None:
    """A signed Shoper webhook, stored for the next tick."""
    assert post_webhook(client, shop, event, payload).status_code == 202


class ShoperStock:
    """GET /webapi/rest/products/101 on loopback, answering `stock`; any other path is 404."""

    def __init__(self) -> None:
        self.stock, self.reads = "0", 0
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                found = self.path == "/webapi/rest/products/101"
                fake.reads += found
                answer = product(fake.stock) if found else {"error": "invalid_request"}
                body = json.dumps(answer).encode()
                self.send_response(200 if found else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def shoper() -> Iterator[ShoperStock]:
    fake = ShoperStock()
    yield fake
    fake.server.shutdown()
    fake.server.server_close()


def product(stock: str, edited: str = "2026-03-03 10:00:00") -> dict[str, Any]:
    """products/<id> as Shoper answers it (GET_products_36.json), as product webhooks carry it."""
    return {
        "product_id": "101",
        "edit_date": edited,
        "stock": {"stock_id": "201", "price": "49.90", "stock": stock, "product_id": "101"},
        "translations": {"pl_PL": {"name": "Kubek ceramiczny", "permalink": "/kubek"}},
    }


def test_two_units_in_stock_tell_the_first_two_to_sign_up_and_nobody_once_it_runs_out(
    client, factory, settings, clock, tick, shoper
):
    clock.set(utc("2026-03-03T09:00:00Z"))  # 10:00 in Warsaw
    shop = make_shop(
        factory,
        settings,
        now=clock.now,
        cart_recovery=False,
        overrides={"scenarios": {"back_in_stock": {"enabled": True, "per_unit": 1}}},
        shop_url=shoper.url,
        access_token_enc=CredentialBox(settings.secret_key).seal("rest-token"),
    )
    people = [f"osoba{i}@example.com" for i in range(1, 6)]
    for email in people:
        clock.advance(minutes=1)
        body = {"product_id": "101", "channel": "email", "contact": {"email": email}}
        body["consent"] = {"text_version": "restock-2026-01"}
        answer = client.post(f"/storefront/{shop.public_key}/restock", json=body)
        assert answer.status_code == 202, answer.text
    assert tick("2026-03-03T09:06:00Z")["ingested"] == 5

    # Each owner confirms from the request in their mailbox, the last to sign up first.
    asked = {e.to: e for e in outbox(client)}
    assert set(asked) == set(people)
    clock.set(utc("2026-03-03T09:07:00Z"))
    for email in reversed(people):
        assert "potwierdź zapis na powiadomienie" in asked[email].subject
        link = re.search(r"https://retention\.example/k/([\w.-]+)", asked[email].text)
        assert link is not None, asked[email].text
        answer = client.post(f"/k/{link.group(1)}", data={"answer": "yes"})
        assert answer.status_code == 200 and 'id="confirmed"' in answer.text

    def notified() -> list[str]:
        return [e.to for e in outbox(client) if e.subject == "Znów w sprzedaży: Kubek ceramiczny"]

    clock.set(utc("2026-03-03T09:10:00Z"))
    shoper.stock = "2"
    deliver(client, shop, "product.edit", product("2", "2026-03-03 10:10:00"))
    assert tick("2026-03-03T09:10:00Z")["sent"] == 1
    assert notified() == people[:1]  # the second unit's notice goes 10 minutes later
    # Ten minutes on, the shop is asked again (one pass) and the notice goes (the next).
    assert sum(tick(at)["sent"] for at in ("2026-03-03T09:20:00Z", "2026-03-03T09:21:00Z")) == 1
    assert notified() == people[:2]
    quiet = tick("2026-03-03T10:30:00Z")  # still 2 in stock: the allotment is used up
    assert (quiet["planned"], quiet["sent"]) == (0, 0)

    clock.set(utc("2026-03-03T10:31:00Z"))
    shoper.stock = "0"
    deliver(client, shop, "product.edit", product("0", "2026-03-03 11:31:00"))
    for at in ("2026-03-03T10:31:00Z", "2026-03-04T10:00:00Z"):
        report = tick(at)
        assert (report["planned"], report["sent"]) == (0, 0)
    assert notified() == people[:2]
    assert len(outbox(client)) == 5 + 2
    assert shoper.reads > 0  # the re-checks asked the shop too


def test_born_on_29_february_wished_on_the_28th_at_10_in_warsaw_once_and_on_the_29th_in_2028(
    client, factory, settings, clock, tick
):
    coupon = {"mode": "static", "static_code": "URODZINY"}
    birthday = {"enabled": True, "shoper_field": FIELD, "coupon": coupon}
    shop = make_shop(
        factory,
        settings,
        now=clock.set(utc("2027-02-20T11:00:00Z")),
        cart_recovery=False,
        overrides={"scenarios": {"birthday": birthday}},
    )
    deliver(client, shop, "client.create", customer(born="1992-02-29"))
    assert tick("2027-02-20T11:00:00Z")["ingested"] == 1

    def wishes() -> list[Sent]:
        return [e for e in outbox(client) if "z okazji urodzin" in e.subject]

    assert tick("2027-02-27T09:00:00Z")["planned"] == 0
    assert tick("2027-02-28T08:59:00Z")["sent"] == 0  # 09:59 in Warsaw
    assert wishes() == []
    assert tick("2027-02-28T09:00:00Z")["sent"] == 1  # 10:00 in Warsaw
    (wish,) = wishes()
    assert wish.to == "anna@example.com" and "URODZINY" in wish.text
    for at in ("2027-02-28T19:00:00Z", "2027-03-01T09:00:00Z", "2028-02-28T09:00:00Z"):
        report = tick(at)
        assert (report["planned"], report["sent"]) == (0, 0), at
    assert tick("2028-02-29T09:00:00Z")["sent"] == 1  # a leap year: on the day itself
    assert [e.to for e in wishes()] == ["anna@example.com"] * 2


def test_the_first_order_is_remembered_a_year_later_at_10_in_warsaw_not_on_the_day_itself(
    client, factory, settings, clock, tick
):
    ordered = clock.set(utc("2026-06-15T06:30:00Z"))  # 08:30 in Warsaw (summer time)
    shop = make_shop(
        factory,
        settings,
        now=ordered,
        cart_recovery=False,
        overrides={"scenarios": {"anniversaries": {"enabled": True}}},
    )
    # A customer since 10 January 2020 (another day's anniversary), first order today.
    deliver(client, shop, "client.create", customer())
    deliver(client, shop, "order.create", order_payload("1", at=ordered))
    first = tick("2026-06-15T08:00:00Z")  # 10:00 in Warsaw on the day itself
    assert (first["ingested"], first["planned"], first["sent"]) == (2, 0, 0)

    assert tick("2027-06-15T07:59:00Z")["sent"] == 0
    assert tick("2027-06-15T08:00:00Z")["sent"] == 1
    for at in ("2027-06-15T16:00:00Z", "2027-06-16T08:00:00Z"):
        report = tick(at)
        assert (report["planned"], report["sent"]) == (0, 0), at
    (note,) = outbox(client)
    assert note.to == "anna@example.com"
    assert note.subject == "To już rok od Twojego pierwszego zamówienia"
