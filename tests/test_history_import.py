"""The history import end to end: a real database, the real Shoper reader and client, Shoper's
REST faked with `responses` on the recorded shapes (strings for numbers, zone-less dates)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from shoper_retention import shop_config
from shoper_retention.commerce import history
from shoper_retention.credentials import CredentialBox
from shoper_retention.models import (
    Consent,
    Contact,
    HistoryImport,
    Message,
    Order,
    Shop,
)
from shoper_retention.platforms.shoper.history import ShoperHistory
from shoper_retention.scenarios import registry
from shoper_retention.settings import Settings
from tests.support import make_shop

SHOP_URL = "https://sklep.example"
REST = f"{SHOP_URL}/webapi/rest"
CUSTOMER_PAGES = 3
ORDER_PAGES = 4
PER_PAGE = 50


class ProcessDied(BaseException):
    """The worker process ends mid-page (killed, out of memory): nothing catches this."""


def _user(n: int) -> dict[str, Any]:
    joined = datetime(2019, 1, 1) + timedelta(days=7 * n, hours=n % 24)
    return {
        "user_id": str(n),
        "login": "",
        "date_add": joined.strftime("%Y-%m-%d %H:%M:%S"),
        "lastvisit": "0000-00-00 00:00:00",
        "registered": "1",
        "groups": [],
        "additional_fields": [],
        "firstname": f"Imię{n}",
        "lastname": "Nowak",
        "email": f"klient{n}@example.com",
        "discount": "0.00",
        "newsletter": "1",
        "active": "1",
        "lang_id": "1",
    }


def _order(n: int) -> dict[str, Any]:
    placed = datetime(2025, 1, 1, 12) + timedelta(hours=5 * n)
    buyer = n % 120 + 1  # customers order more than once
    return {
        "order_id": str(1000 + n),
        "user_id": str(buyer),
        "date": placed.strftime("%Y-%m-%d %H:%M:%S"),
        "status_id": "3" if n % 3 else "1",
        "sum": f"{100 + n}.50",
        "currency_id": None,
        "paid": "1" if n % 2 else "0",
        "email": f"klient{buyer}@example.com",
        "billing_address": {
            "firstname": f"Imię{buyer}",
            "phone": f"600{buyer:06d}",
            "country_code": "PL",
        },
        "delivery_address": {"firstname": f"Imię{buyer}", "country_code": "PL"},
    }


class FakeShoper:
    """`GET users` and `GET orders` of one shop, paged as Shoper pages them. `fail` holds
    one-time faults for (resource, page): an HTTP status, or an exception to raise."""

    def __init__(self, rsps: responses.RequestsMock) -> None:
        self.lists = {
            "users": [_user(n) for n in range(1, PER_PAGE * (CUSTOMER_PAGES - 1) + 21)],
            "orders": [_order(n) for n in range(1, PER_PAGE * (ORDER_PAGES - 1) + 8)],
        }
        self.fail: dict[tuple[str, int], list[int | BaseException]] = {}
        self.queries: list[tuple[str, dict[str, list[str]]]] = []
        for resource in self.lists:
            rsps.add_callback(responses.GET, f"{REST}/{resource}", callback=self._answer(resource))

    def _answer(self, resource: str) -> Any:
        def answer(request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
            query = parse_qs(urlsplit(request.url or "").query)
            page, limit = int(query["page"][0]), int(query["limit"][0])
            self.queries.append((resource, query))
            faults = self.fail.get((resource, page)) or [None]
            fault = faults.pop(0)
            if isinstance(fault, BaseException):
                raise fault
            if fault is not None:
                return fault, {}, json.dumps({"error": "temporarily_unavailable"})
            items = self.lists[resource]
            pages = -(-len(items) // limit)
            body = {
                "count": str(len(items)),
                "pages": pages,
                "page": page,
                "list": items[(page - 1) * limit : page * limit],
            }
            headers = {"X-Shop-Api-Calls": "1", "X-Shop-Api-Limit": "10"}
            return 200, headers, json.dumps(body)

        return answer


@pytest.fixture
def shoper() -> Iterator[FakeShoper]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield FakeShoper(rsps)


@pytest.fixture
def reader(settings: Settings) -> ShoperHistory:
    return ShoperHistory(settings, requests.Session(), sleep=lambda _: None)


@pytest.fixture
def now() -> datetime:
    return datetime(2026, 7, 1, 8, 0, tzinfo=UTC)


def _shop(factory: sessionmaker[Session], settings: Settings, now: datetime) -> int:
    every_scenario = {"scenarios": {name: {"enabled": True} for name in registry.REGISTRY}}
    return make_shop(
        factory,
        settings,
        now=now,
        shop_url=SHOP_URL,
        access_token_enc=CredentialBox(settings.secret_key).seal("tok"),
        overrides=every_scenario,
    ).id


def _request(factory: sessionmaker[Session], shop_id: int, now: datetime) -> bool:
    with factory() as session, session.begin():
        shop = session.get(Shop, shop_id)
        assert shop is not None
        return history.request_import(session, shop, now)


def _run_until_done(
    factory: sessionmaker[Session], reader: ShoperHistory, now: datetime, limit: int = 20
) -> datetime:
    for _ in range(limit):
        history.run_due(factory, reader, now)
        with factory() as session:
            if not session.scalars(
                select(HistoryImport.id).where(HistoryImport.status == "pending")
            ).first():
                return now
        now += timedelta(minutes=10)
    raise AssertionError("the import did not finish")


# Columns that record when *we* processed something; everything else must match exactly.
OUR_TIMES = {"created_at", "updated_at", "received_at", "requested_at", "due_at", "finished_at"}


def _tables(factory: sessionmaker[Session], shop_id: int) -> dict[str, list[dict[str, Any]]]:
    """The shop's rows of every table the import writes, without surrogate ids; an order's
    contact is named by its e-mail."""

    def plain(row: Any, skip: set[str]) -> dict[str, Any]:
        return {
            c.key: getattr(row, c.key)
            for c in row.__table__.columns
            if c.key not in skip | OUR_TIMES | {"id", "shop_id"}
        }

    with factory() as session:
        emails = dict(session.execute(select(Contact.id, Contact.email)).all())
        contacts = session.scalars(select(Contact).where(Contact.shop_id == shop_id)).all()
        orders = session.scalars(select(Order).where(Order.shop_id == shop_id)).all()
        imports = session.scalars(
            select(HistoryImport).where(HistoryImport.shop_id == shop_id)
        ).all()
        return {
            "contacts": sorted((plain(c, set()) for c in contacts), key=lambda r: str(r["email"])),
            "orders": sorted(
                ({**plain(o, {"contact_id"}), "contact": emails.get(o.contact_id)} for o in orders),
                key=lambda r: str(r["platform_order_id"]),
            ),
            "imports": sorted((plain(i, set()) for i in imports), key=lambda r: r["kind"]),
        }


def test_an_import_reads_every_page_into_contacts_orders_and_their_dates(
    factory, settings, reader, shoper, now
):
    shop_id = _shop(factory, settings, now)
    assert _request(factory, shop_id, now)
    _run_until_done(factory, reader, now)

    tables = _tables(factory, shop_id)
    assert len(tables["orders"]) == len(shoper.lists["orders"])
    by_email = {c["email"]: c for c in tables["contacts"]}
    assert set(by_email) == {u["email"] for u in shoper.lists["users"]}
    # klient5 joined 2019-02-05 05:00 Warsaw time; the first order is the earliest one.
    klient5 = by_email["klient5@example.com"]
    assert klient5["joined_on"] == date(2019, 2, 5) and klient5["joined_md"] == 205
    assert klient5["first_name"] == "Imię5" and klient5["platform_customer_id"] == "5"
    assert klient5["phone"] == "+48600000005"
    first = min(
        (o for o in shoper.lists["orders"] if o["email"] == "klient5@example.com"),
        key=lambda o: o["date"],
    )
    assert klient5["first_order_on"] == date.fromisoformat(first["date"][:10])
    order_1004 = next(o for o in tables["orders"] if o["platform_order_id"] == "1004")
    assert order_1004["contact"] == "klient5@example.com"
    assert str(order_1004["total"]) == "104.50" and order_1004["paid"] is False
    assert {(i["kind"], i["status"], i["pages"], i["next_page"]) for i in tables["imports"]} == {
        ("customers", "done", CUSTOMER_PAGES, CUSTOMER_PAGES + 1),
        ("orders", "done", ORDER_PAGES, ORDER_PAGES + 1),
    }
    rows = {i["kind"]: i["rows"] for i in tables["imports"]}
    assert rows == {"customers": len(shoper.lists["users"]), "orders": len(shoper.lists["orders"])}
    # Orders were asked for from two years back, in the shop's time.
    filters = {q["filters"][0] for resource, q in shoper.queries if resource == "orders"}
    assert [json.loads(f) for f in filters] == [{"date": {">=": "2024-07-01 10:00:00"}}]
    # Each page once: the import read them in turn.
    pages = sorted((resource, q["page"][0]) for resource, q in shoper.queries)
    assert pages == sorted(
        [("users", str(p)) for p in range(1, CUSTOMER_PAGES + 1)]
        + [("orders", str(p)) for p in range(1, ORDER_PAGES + 1)]
    )


def test_an_import_plans_no_message_and_records_no_consent(factory, settings, reader, shoper, now):
    shop_id = _shop(factory, settings, now)
    with factory() as session:
        shop = session.get(Shop, shop_id)
        assert shop is not None
        assert all(shop_config.scenario_enabled(shop, name) for name in registry.REGISTRY)
    _request(factory, shop_id, now)
    _run_until_done(factory, reader, now)
    with factory() as session:
        assert session.scalars(select(Contact.id)).first() is not None
        assert session.scalars(select(Message.id)).all() == []
        # Every sample customer ticked the newsletter box: still no consent from history.
        assert session.scalars(select(Consent.id)).all() == []


@pytest.mark.parametrize(
    "fault",
    [503, requests.ConnectionError("connection reset"), ProcessDied()],
    ids=["5xx", "connection error", "process died"],
)
def test_an_import_interrupted_halfway_and_resumed_gives_the_same_rows_as_one_run(
    factory, settings, reader, shoper, now, fault
):
    whole = _shop(factory, settings, now)
    _request(factory, whole, now)
    _run_until_done(factory, reader, now)

    interrupted = _shop(factory, settings, now)
    _request(factory, interrupted, now)
    if isinstance(fault, ProcessDied):
        shoper.fail[("orders", 3)] = [fault]
        with pytest.raises(ProcessDied):
            history.run_due(factory, reader, now, per_shop=10)
    else:
        # Page 3 of the orders fails on both tries the client makes (it retries once).
        shoper.fail[("orders", 3)] = [fault, fault]
        history.run_due(factory, reader, now, per_shop=10)
    with factory() as session:
        orders = session.scalars(
            select(HistoryImport).where(
                HistoryImport.shop_id == interrupted, HistoryImport.kind == "orders"
            )
        ).one()
        assert orders.status == "pending" and orders.next_page == 3
        assert orders.due_at > now
    _run_until_done(factory, reader, now + timedelta(minutes=1))

    assert _tables(factory, interrupted) == _tables(factory, whole)


def test_a_pass_reads_no_more_than_its_budget_and_shops_take_turns(
    factory, settings, reader, shoper, now
):
    first, second = _shop(factory, settings, now), _shop(factory, settings, now)
    _request(factory, first, now)
    _request(factory, second, now)

    report = history.run_due(factory, reader, now, budget=4, per_shop=3)

    assert report.pages == 4 and len(shoper.queries) == 4
    with factory() as session:
        read = {
            shop_id: sum(
                p.pages_read for p in history.progress(session, session.get(Shop, shop_id))
            )
            for shop_id in (first, second)
        }
    assert read == {first: 2, second: 2}

    history.run_due(factory, reader, now, budget=20, per_shop=3)
    assert len(shoper.queries) == 4 + 6  # the next pass: three more pages of each shop


def test_a_second_request_while_running_changes_nothing_and_one_after_starts_again(
    factory, settings, reader, shoper, now
):
    shop_id = _shop(factory, settings, now)
    assert _request(factory, shop_id, now)
    history.run_due(factory, reader, now, budget=2)
    before = _tables(factory, shop_id)["imports"]

    assert not _request(factory, shop_id, now + timedelta(minutes=1))
    assert _tables(factory, shop_id)["imports"] == before
    with factory() as session:
        assert len(session.scalars(select(HistoryImport.id)).all()) == 2

    done_at = _run_until_done(factory, reader, now)
    once = _tables(factory, shop_id)
    assert _request(factory, shop_id, done_at + timedelta(days=1))
    with factory() as session:
        shop = session.get(Shop, shop_id)
        assert shop is not None
        assert [(p.status, p.pages_read) for p in history.progress(session, shop)] == [
            ("pending", 0),
            ("pending", 0),
        ]
    # Reading every page again, over what is there, gives the same rows.
    _run_until_done(factory, reader, done_at + timedelta(days=1))
    again = _tables(factory, shop_id)
    assert (again["contacts"], again["orders"]) == (once["contacts"], once["orders"])


def test_refused_access_stops_the_import_with_a_reason_the_merchant_can_read(
    factory, settings, reader, shoper, now
):
    shop_id = _shop(factory, settings, now)
    _request(factory, shop_id, now)
    shoper.fail[("users", 1)] = [401]
    history.run_due(factory, reader, now, budget=1)
    with factory() as session:
        shop = session.get(Shop, shop_id)
        assert shop is not None
        customers, orders = history.progress(session, shop)
    assert customers.status == "failed" and customers.error.startswith("auth: ")
    assert customers.text("pl") == (
        "Klienci: przerwano, brak dostępu do sklepu, zainstaluj aplikację ponownie"
    )
    assert customers.text("en") == "Customers: stopped, no access to the shop, reinstall the app"
    assert orders.text("en") == "Orders: waiting to start"
    assert orders.text("pl") == "Zamówienia: czeka na rozpoczęcie"


def test_progress_says_how_far_each_import_is(factory, settings, reader, shoper, now):
    shop_id = _shop(factory, settings, now)
    with factory() as session:
        shop = session.get(Shop, shop_id)
        assert shop is not None
        assert history.progress(session, shop) == []
        assert history.summary_of([]) == "not requested"
    _request(factory, shop_id, now)
    history.run_due(factory, reader, now, budget=2)
    with factory() as session:
        shop = session.get(Shop, shop_id)
        assert shop is not None
        customers, orders = history.progress(session, shop)
    assert customers.text("en") == "Customers: 2 of 3 pages read"
    assert customers.text("pl") == "Klienci: odczytano 2 z 3 stron"
    assert orders.text("en") == "Orders: waiting to start"
    assert customers.running and orders.running
    assert history.summary_of([customers.as_dict(), orders.as_dict()]) == (
        "customers 2/3 pages, orders 0/? pages"
    )

    history.run_due(factory, reader, now, budget=2)  # customers 3, orders 1
    shoper.fail[("orders", 2)] = [503, 503]
    history.run_due(factory, reader, now, budget=1)
    with factory() as session:
        shop = session.get(Shop, shop_id)
        assert shop is not None
        customers, orders = history.progress(session, shop)
    assert orders.text("en") == "Orders: 1 of 4 pages read (trying again soon)"
    assert orders.text("pl") == "Zamówienia: odczytano 1 z 4 stron (ponowna próba wkrótce)"
    assert history.summary_of([customers.as_dict(), orders.as_dict()]) == (
        f"customers done ({len(shoper.lists['users'])}), orders 1/4 pages, retrying"
    )

    _run_until_done(factory, reader, now + timedelta(minutes=5))
    with factory() as session:
        shop = session.get(Shop, shop_id)
        assert shop is not None
        customers, orders = history.progress(session, shop)
    assert customers.text("pl") == f"Klienci: gotowe, zaimportowano {len(shoper.lists['users'])}"
    assert orders.text("en") == f"Orders: done, {len(shoper.lists['orders'])} imported"
    assert not customers.running


def test_the_settings_page_button_needs_its_form_token(app, client, factory, settings, clock):
    shop_id = _shop(factory, settings, clock.now)
    assert client.post("/shoper/app/history-import").status_code == 403
    assert client.post("/shoper/app/history-import", data={"t": "forged"}).status_code == 403
    with factory() as session:
        assert session.scalars(select(HistoryImport.id)).all() == []

    token = app.extensions["shoper_retention"].links.settings_form_token(shop_id, clock.now)
    answer = client.post("/shoper/app/history-import", data={"t": token})
    assert answer.status_code == 303
    assert urlsplit(answer.headers["Location"]).path == "/shoper/app"
    assert parse_qs(urlsplit(answer.headers["Location"]).query)["t"]
    with factory() as session:
        rows = session.scalars(select(HistoryImport).where(HistoryImport.shop_id == shop_id)).all()
    assert sorted((r.kind, r.status, r.since) for r in rows) == [
        ("customers", "pending", clock.now.replace(year=clock.now.year - 2)),
        ("orders", "pending", clock.now.replace(year=clock.now.year - 2)),
    ]


def test_shops_list_shows_each_shops_import_progress(tmp_path, now):
    from tests.test_cli import Cli

    cli = Cli(tmp_path)
    try:
        cli.ok("db", "upgrade")
        shop_id = _shop(cli.factory, cli.settings, now)
        _request(cli.factory, shop_id, now)
        with cli.factory() as session, session.begin():
            orders = session.scalars(
                select(HistoryImport).where(HistoryImport.kind == "orders")
            ).one()
            orders.status, orders.rows, orders.pages, orders.next_page = "done", 120, 3, 4
            customers = session.scalars(
                select(HistoryImport).where(HistoryImport.kind == "customers")
            ).one()
            customers.pages, customers.next_page = 10, 4

        (listed,) = json.loads(cli.ok("shops", "list", "--json"))
        assert listed["history_import"] == [
            {
                "kind": "customers",
                "status": "pending",
                "pages_read": 3,
                "pages": 10,
                "rows": 0,
                "error": "",
            },
            {
                "kind": "orders",
                "status": "done",
                "pages_read": 3,
                "pages": 3,
                "rows": 120,
                "error": "",
            },
        ]
        assert "history: customers 3/10 pages, orders done (120)" in cli.ok("shops", "list")
    finally:
        cli.close()


def test_an_install_requests_the_import_and_a_repeated_one_does_not_restart_it(
    client, factory, clock
):
    from tests.platforms.test_shoper_install import fake_shoper_install, install_form

    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        fake_shoper_install(rsps)
        assert client.post("/shoper/appstore", data=install_form(clock.now)).status_code == 200
        with factory() as session, session.begin():
            rows = session.scalars(select(HistoryImport).order_by(HistoryImport.kind)).all()
            assert [(r.kind, r.status, r.requested_at) for r in rows] == [
                ("customers", "pending", clock.now),
                ("orders", "pending", clock.now),
            ]
            rows[0].next_page = 3  # under way

        clock.advance(minutes=5)
        fake_shoper_install(rsps, access="access-2", refresh="refresh-2")
        answer = client.post("/shoper/appstore", data=install_form(clock.now, code="code-2"))
        assert answer.status_code == 200
    with factory() as session:
        rows = session.scalars(select(HistoryImport).order_by(HistoryImport.kind)).all()
        assert [(r.kind, r.next_page) for r in rows] == [("customers", 3), ("orders", 1)]
