"""A worker pass with nothing due, at 10,000 and at 1,000,000 contacts, and the daily birthday
scan over the larger set: do the scans stay flat as a shop grows?

    .venv/bin/python bench/worker_scan.py [--sizes 10000,1000000] [--database-url URL] [--no-doc]

What it does, for each size (smallest first, so the small figure is the baseline of the run):
1. A fresh database (a temp SQLite file, or the given PostgreSQL URL with its schema dropped and
   migrated again) and one shop with every switchable scenario on.
2. N contacts with e-mail, birthday, first-order and joined dates spread over every day of the
   year except the measured day, and their consent rows: a platform e-mail grant for most, a
   later withdrawal for 1 in 50, nothing for 1 in 50, and for 1 in 10 a mobile number with a
   confirmed SMS grant; N/10 carts (closed, and a few open ones not idle yet); N/2 orders; a
   thousand sent messages; N/100 back-in-stock subscriptions waiting on products out of stock
   (their re-check not due) and a few products in stock nobody waits for. Bulk INSERTs, then
   ANALYZE.
3. Passes of `Worker.tick(now)` with nothing due (the median of several; any message planned or
   sent fails the run), and the query plan (EXPLAIN) of every SELECT each scenario's scan runs,
   and of the rest of the pass, to show each uses an index.
4. At the largest size: the birthdays of one day are added (N/365 contacts, as in a shop whose
   birthdays are spread evenly) and one scan (the worker's scan job, every scenario) is timed:
   the birthday scan finds them through the (shop_id, birthday_md) index, reads their consent
   and plans their messages. Then the next scan of that day, which must plan nothing.
Results print as a table and the section between the bench markers in docs/PERFORMANCE.md is
rewritten (--no-doc leaves it alone).
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))  # tests.support builds the shop

from sqlalchemy import insert, text  # noqa: E402
from sqlalchemy.engine import Engine  # noqa: E402

from shoper_retention import shop_config  # noqa: E402
from shoper_retention.db import make_engine, make_session_factory  # noqa: E402
from shoper_retention.migrate import upgrade  # noqa: E402
from shoper_retention.models import (  # noqa: E402
    Cart,
    Consent,
    Contact,
    Message,
    Order,
    ProductStock,
    RestockSubscription,
    Shop,
)
from shoper_retention.scenarios import registry  # noqa: E402
from shoper_retention.settings import Settings  # noqa: E402
from shoper_retention.worker import Worker  # noqa: E402
from tests.support import make_shop  # noqa: E402

DOC = REPO / "docs" / "PERFORMANCE.md"
HEADING = "## Worker pass and scans as a shop grows (`bench/worker_scan.py`)"
NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)  # 14:00 in Warsaw: past the 10:00 sends
MEASURED_MD = 615  # nobody's date is 15 June until step 4 adds the day's birthdays
CHUNK = 20_000
PASSES = 15
BIRTHDAY_TARGET_S = 1.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="10000,1000000")
    parser.add_argument("--database-url", default="")
    parser.add_argument("--no-doc", action="store_true")
    args = parser.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(","))
    rows = []
    birthday: dict[str, Any] = {}
    for size in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            url = args.database_url or f"sqlite:///{tmp}/bench.sqlite3"
            settings = _settings(url, Path(tmp))
            engine = _fresh_database(settings)
            shop_id = _populate(settings, engine, size)
            worker = Worker(settings, make_session_factory(engine), name="bench")
            worker.tick(NOW)  # warm caches and plan whatever is due (nothing should be)
            times = []
            for _ in range(PASSES):
                started = time.perf_counter()
                report = worker.tick(NOW)
                times.append(time.perf_counter() - started)
            assert not report.errors, report.errors
            scans = []
            for _ in range(PASSES):
                started = time.perf_counter()
                assert worker.scan(NOW) == 0
                scans.append(time.perf_counter() - started)
            sent = report.dispatch.sent if report.dispatch else 0
            assert report.planned == 0 and sent == 0, "the pass must have nothing due"
            plans = _scan_plans(engine, shop_id)
            rows.append(
                {
                    "contacts": size,
                    "median_ms": statistics.median(times) * 1000,
                    "min_ms": min(times) * 1000,
                    "scan_ms": statistics.median(scans) * 1000,
                    "planned": report.planned,
                    "sent": sent,
                    "plans": plans,
                }
            )
            if size == sizes[-1]:
                birthday = _birthday_scan(engine, worker, shop_id, size)
            engine.dispose()
    _print(rows, birthday, args.database_url)
    if not args.no_doc:
        _write_doc(rows, birthday, args.database_url)


def _settings(url: str, instance: Path) -> Settings:
    return Settings(
        database_url=url,
        secret_key="bench-secret-key-0123456789",
        instance_path=instance,
        public_url="http://127.0.0.1:8000",
    )


def _fresh_database(settings: Settings) -> Engine:
    engine = make_engine(settings.database_url)
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    upgrade(settings)
    return engine


def _populate(settings: Settings, engine: Engine, size: int) -> int:
    factory = make_session_factory(engine)
    on = {name: {"enabled": True} for name, s in registry.REGISTRY.items() if s.switchable}
    handle = make_shop(factory, settings, now=NOW - timedelta(days=800), cart_recovery=True)
    with factory() as session, session.begin():
        shop = session.get(Shop, handle.id)
        assert shop is not None
        shop_config.update(shop, {"scenarios": on})
    rng = random.Random(size)
    days = [d for d in _days_of_year() if d != MEASURED_MD]

    def contacts() -> Iterator[dict[str, Any]]:
        for i in range(size):
            first = NOW.date() - timedelta(days=rng.randrange(400, 700))
            joined = NOW.date() - timedelta(days=rng.randrange(400, 900))
            first = _avoid(first)
            joined = _avoid(joined)
            yield {
                "shop_id": handle.id,
                "email": f"c{i}@example.com",
                "phone": _phone(i),
                "first_name": "",
                "language": "",
                "birthday_md": rng.choice(days),
                "birthday_source": "platform",
                "first_order_on": first,
                "first_order_md": first.month * 100 + first.day,
                "joined_on": joined,
                "joined_md": joined.month * 100 + joined.day,
                "created_at": NOW - timedelta(days=800),
                "updated_at": NOW - timedelta(days=800),
            }

    _bulk(engine, Contact, contacts())
    with engine.connect() as conn:
        first_id = conn.execute(
            text("SELECT min(id) FROM contacts WHERE shop_id = :s"), {"s": handle.id}
        ).scalar_one()

    def consents() -> Iterator[dict[str, Any]]:
        for i in range(size):
            if i % 50 == 2:
                continue  # never asked: no message may go
            row = {
                "shop_id": handle.id,
                "contact_id": first_id + i,
                "channel": "email",
                "granted": True,
                "source": "shoper",
                "assurance": "platform",
                "text_version": "",
                "address": f"c{i}@example.com",
                "recorded_at": NOW - timedelta(days=700),
                "cart_id": None,
            }
            yield row
            if i % 50 == 1:  # signed off the newsletter later
                yield row | {
                    "granted": False,
                    "source": "unsubscribe",
                    "assurance": "owner",
                    "recorded_at": NOW - timedelta(days=100),
                }
            phone = _phone(i)
            if phone:
                yield row | {
                    "channel": "sms",
                    "source": "confirmation link",
                    "assurance": "confirmed",
                    "address": phone,
                }

    def carts() -> Iterator[dict[str, Any]]:
        for i in range(size // 10):
            open_now = i % 1000 == 0  # a few carts still being filled: not idle yet
            at = NOW - (timedelta(minutes=5) if open_now else timedelta(days=rng.randrange(1, 300)))
            yield {
                "shop_id": handle.id,
                "platform_cart_id": f"cart-{i}",
                "contact_id": first_id + i,
                "status": "open" if open_now else "ordered",
                "run": 1,
                "items": [{"product_id": "101", "variant_id": "", "quantity": 1}],
                "restore_url": "",
                "token": f"t{i:030d}",
                "started_at": at,
                "last_activity_at": at,
                "snapshot_at": at,
                "email": f"c{i}@example.com",
                "first_name": "",
            }

    def orders() -> Iterator[dict[str, Any]]:
        for i in range(size // 2):
            at = NOW - timedelta(days=rng.randrange(1, 700))
            yield {
                "shop_id": handle.id,
                "platform_order_id": str(i),
                "contact_id": first_id + i,
                "email": f"c{i}@example.com",
                "status_id": "1",
                "status_type": "new",
                "paid": True,
                "total": "10.00",
                "currency": "PLN",
                "placed_at": at,
                "received_at": at,
                "updated_at": at,
            }

    def messages() -> Iterator[dict[str, Any]]:
        for i in range(1000):
            at = NOW - timedelta(days=rng.randrange(2, 300))
            yield {
                "shop_id": handle.id,
                "contact_id": first_id + i,
                "scenario": "cart_recovery",
                "subject_type": "cart",
                "subject_id": i + 1,
                "step": 1,
                "run": 1,
                "channel": "email",
                "marketing": True,
                "plan_key": f"bench:{i}",
                "status": "sent",
                "due_at": at,
                "planned_at": at,
                "sent_at": at,
                "updated_at": at,
                "to_address": f"c{i}@example.com",
            }

    def stocks() -> Iterator[dict[str, Any]]:
        for p in range(max(size // 1000, 1)):
            for product, quantity, recheck in (
                (f"out-{p}", 0, NOW + timedelta(hours=6)),  # waited for, re-read later
                (f"in-{p}", 5, None),  # in stock, nobody waits
            ):
                yield {
                    "shop_id": handle.id,
                    "product_id": product,
                    "variant_id": "",
                    "quantity": quantity,
                    "updated_at": NOW - timedelta(days=3),
                    "recheck_at": recheck,
                }

    def subscriptions() -> Iterator[dict[str, Any]]:
        products = max(size // 1000, 1)
        for i in range(size // 100):
            yield {
                "shop_id": handle.id,
                "contact_id": first_id + i,
                "product_id": f"out-{i % products}",
                "variant_id": "",
                "channel": "email",
                "address": f"c{i}@example.com",
                "status": "waiting",
                "created_at": NOW - timedelta(days=10),
                "expires_at": NOW + timedelta(days=80),
            }

    _bulk(engine, Consent, consents())
    _bulk(engine, ProductStock, stocks())
    _bulk(engine, RestockSubscription, subscriptions())
    _bulk(engine, Cart, carts())
    _bulk(engine, Order, orders())
    _bulk(engine, Message, messages())
    with engine.begin() as conn:
        conn.execute(text("ANALYZE"))
    return handle.id


def _days_of_year() -> list[int]:
    start = date(2024, 1, 1)  # a leap year: 29 February is someone's birthday too
    return [
        (start + timedelta(days=n)).month * 100 + (start + timedelta(days=n)).day
        for n in range(366)
    ]


def _phone(i: int) -> str | None:
    """A Polish mobile number for 1 contact in 10."""
    return f"+4850{i:07d}" if i % 10 == 0 else None


def _avoid(day: date) -> date:
    """Never the measured day: the pass must have nothing due."""
    return day + timedelta(days=1) if day.month * 100 + day.day == MEASURED_MD else day


def _bulk(engine: Engine, model: Any, rows: Iterator[dict[str, Any]]) -> None:
    batch: list[dict[str, Any]] = []
    with engine.begin() as conn:
        for row in rows:
            batch.append(row)
            if len(batch) == CHUNK:
                conn.execute(insert(model), batch)
                batch = []
        if batch:
            conn.execute(insert(model), batch)


def _scan_plans(engine: Engine, shop_id: int) -> dict[str, str]:
    """The query plan of every SELECT a pass with nothing due runs: each scenario's scan on its
    own (so each is labelled with its scenario), then a whole tick for the other jobs. The
    statements are captured with SQLAlchemy's cursor hook and EXPLAINed with their parameters."""
    from sqlalchemy import event

    seen: dict[str, tuple[str, Any]] = {}
    label = ["?"]

    def capture(
        conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool
    ) -> None:
        table = re.search(r"\bFROM (\w+)", statement)
        if (
            many
            or not statement.lstrip().upper().startswith("SELECT")
            or table is None
            or table.group(1) in ("shops", "worker_heartbeats")
            or statement in seen
        ):
            return
        seen[statement] = (f"{label[0]}: {table.group(1)}", params)

    factory = make_session_factory(engine)
    event.listen(engine, "before_cursor_execute", capture)
    try:
        for name, scenario in registry.REGISTRY.items():
            label[0] = name
            with factory() as session:
                shop = session.get(Shop, shop_id)
                assert shop is not None
                scenario.scan(session, shop, NOW)
                session.rollback()
        label[0] = "other jobs"
        settings = _settings(
            engine.url.render_as_string(hide_password=False), Path(tempfile.gettempdir())
        )
        Worker(settings, factory, name="explain").tick(NOW)
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    plans: dict[str, str] = {}
    prefix = "EXPLAIN QUERY PLAN " if engine.dialect.name == "sqlite" else "EXPLAIN "
    with engine.connect() as conn:
        for statement, (key, params) in seen.items():
            rows = conn.exec_driver_sql(prefix + statement, params).fetchall()
            plan = " / ".join(str(r[-1]).strip() for r in rows)
            n = 2
            unique = key
            while unique in plans:
                unique, n = f"{key} #{n}", n + 1
            plans[unique] = plan + ("  **(no index)**" if _full_scan(plan) else "")
    return plans


def _full_scan(plan: str) -> bool:
    """A table read whole: SQLite's `SCAN t` without an index, PostgreSQL's `Seq Scan`."""
    return bool(
        re.search(r"\bSCAN \w+(?! USING)( |$)", plan.replace(" / ", "\n"), re.M)
        or "Seq Scan" in plan
    )


def _birthday_scan(engine: Engine, worker: Worker, shop_id: int, size: int) -> dict[str, Any]:
    """The day's birthdays (size/365 contacts) added, then one scan pass timed."""
    if "birthday" not in registry.REGISTRY:
        return {}
    day = size // 365
    with engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE contacts SET birthday_md = :md WHERE id IN "
                "(SELECT id FROM contacts WHERE shop_id = :s ORDER BY id LIMIT :n)"
            ),
            {"md": MEASURED_MD, "s": shop_id, "n": day},
        )
    started = time.perf_counter()
    planned = worker.scan(NOW.replace(hour=8))  # 10:00 in Warsaw (CEST)
    elapsed = time.perf_counter() - started
    started = time.perf_counter()
    again = worker.scan(NOW.replace(hour=8, minute=1))
    repeat = time.perf_counter() - started
    return {
        "contacts": size,
        "birthdays": day,
        "planned": planned,
        "seconds": elapsed,
        "repeat_seconds": repeat,
        "repeat_planned": again,
    }


def _print(rows: list[dict[str, Any]], birthday: dict[str, Any], url: str) -> None:
    for row in rows:
        print(
            f"{row['contacts']:>9,} contacts: pass median {row['median_ms']:.1f} ms "
            f"(min {row['min_ms']:.1f}), scan job median {row['scan_ms']:.1f} ms, "
            f"planned {row['planned']}, sent {row['sent']}"
        )
        for table, plan in row["plans"].items():
            print(f"    {table}: {plan}")
    if len(rows) > 1:
        print(f"ratio largest/smallest: {rows[-1]['median_ms'] / rows[0]['median_ms']:.2f}")
    if birthday:
        verdict = "PASS" if birthday["seconds"] < BIRTHDAY_TARGET_S else "FAIL"
        print(
            f"birthday scan over {birthday['contacts']:,} contacts, {birthday['birthdays']:,} "
            f"due: {birthday['seconds']:.3f} s, planned {birthday['planned']} [{verdict}]; "
            f"the next pass that day {birthday['repeat_seconds']:.3f} s"
        )


def _write_doc(rows: list[dict[str, Any]], birthday: dict[str, Any], url: str) -> None:
    database = "PostgreSQL" if url.startswith("postgres") else "SQLite (temp file)"
    key = "postgresql" if url.startswith("postgres") else "sqlite"
    begin = f"<!-- bench:worker_scan:{key}:begin (generated, do not edit by hand) -->"
    end = f"<!-- bench:worker_scan:{key}:end -->"
    lines = [
        begin,
        f"### {database}",
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.machine()}, "
        f"{os.cpu_count()} CPUs, {database}; `{' '.join(['bench/worker_scan.py', *sys.argv[1:]])}`"
        ".",
        "",
        "| contacts | pass with nothing due, median | min | scan job alone, median "
        "| planned | sent |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row['contacts']:,} | {row['median_ms']:.1f} ms | {row['min_ms']:.1f} ms "
            f"| {row['scan_ms']:.1f} ms "
            f"| {row['planned']} | {row['sent']} |"
        )
    if len(rows) > 1:
        lines += [
            "",
            f"Largest / smallest: **{rows[-1]['median_ms'] / rows[0]['median_ms']:.2f}** "
            f"(the scan job alone: {rows[-1]['scan_ms'] / rows[0]['scan_ms']:.2f}).",
        ]
    lines += ["", "Query plans of the scans at the largest size:", ""]
    for table, plan in rows[-1]["plans"].items():
        lines.append(f"- `{table}`: {plan}")
    if birthday:
        verdict = "PASS" if birthday["seconds"] < BIRTHDAY_TARGET_S else "FAIL"
        lines += [
            "",
            f"Daily birthday scan over {birthday['contacts']:,} contacts with "
            f"{birthday['birthdays']:,} birthdays that day: **{birthday['seconds']:.3f} s** "
            f"(target < {BIRTHDAY_TARGET_S:.0f} s, {verdict}), {birthday['planned']} messages "
            f"planned; the next pass the same day {birthday['repeat_seconds']:.3f} s.",
        ]
    lines.append(end)
    doc = DOC.read_text()
    block = "\n".join(lines)
    if begin in doc:
        doc = doc[: doc.index(begin)] + block + doc[doc.index(end) + len(end) :]
    else:  # the section is the last one of the file: each database's block goes at its end
        if HEADING not in doc:
            doc = doc.rstrip("\n") + f"\n\n{HEADING}\n"
        doc = doc.rstrip("\n") + "\n\n" + block + "\n"
    DOC.write_text(doc)


if __name__ == "__main__":
    main()
