"""The catalogue cache: ids noted from carts, read from the platform (a fake reader here; the
Shoper one has its own tests), and cart lines built from it alone."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from sqlalchemy import select

from shoper_retention.commerce import catalogue
from shoper_retention.commerce.catalogue import CatalogueUnavailable, ProductInfo
from shoper_retention.models import Cart, CatalogueProduct, Shop
from tests.support import make_shop, seed_catalogue

MUG = ProductInfo("Kubek ceramiczny", Decimal("49.90"), "https://sklep.example/img/kubek.jpg")


class FakeReader:
    """What the platform answers, per (product_id, variant_id): a ProductInfo, None (does not
    know it) or an exception (cannot tell now). Records every call."""

    def __init__(self, answers: dict[tuple[str, str], object]) -> None:
        self.answers = answers
        self.calls: list[tuple[int, str, str]] = []

    def __call__(self, shop: Shop, product_id: str, variant_id: str) -> ProductInfo | None:
        self.calls.append((shop.id, product_id, variant_id))
        answer = self.answers.get((product_id, variant_id))
        if isinstance(answer, Exception):
            raise answer
        assert answer is None or isinstance(answer, ProductInfo)
        return answer


def _rows(factory) -> dict[tuple[str, str], CatalogueProduct]:
    with factory() as session:
        rows = session.scalars(select(CatalogueProduct)).all()
    return {(r.product_id, r.variant_id): r for r in rows}


def _cart(shop_id: int, *items: tuple[str, str, int]) -> Cart:
    return Cart(
        shop_id=shop_id,
        items=[catalogue.item_json(p, v, q) for p, v, q in items],
    )


def test_noting_products_creates_pending_rows_due_now_once(factory, settings, clock):
    shop = make_shop(factory, settings, now=clock.now)  # "101" already found
    with factory() as session, session.begin():
        new = catalogue.note_products(
            session, shop.id, [("101", ""), ("202", ""), ("202", "7"), ("202", "")], clock.now
        )
    assert new == 2
    with factory() as session, session.begin():
        assert catalogue.note_products(session, shop.id, [("202", "7")], clock.now) == 0
    rows = _rows(factory)
    assert rows[("202", "")].status == rows[("202", "7")].status == "pending"
    assert rows[("202", "")].due_at == clock.now
    assert rows[("101", "")].status == "found"  # untouched


def test_cart_lines_come_from_the_catalogue_and_drop_what_it_does_not_know(
    factory, settings, clock
):
    shop = make_shop(factory, settings, now=clock.now)
    seed_catalogue(factory, shop, now=clock.now, products={"666": {}}, status="missing")
    seed_catalogue(factory, shop, now=clock.now, products={"202": {}}, status="pending")
    seed_catalogue(
        factory, shop, now=clock.now, products={"101/5": {"name": "Kubek XL", "price": "59.90"}}
    )
    cart = _cart(shop.id, ("101", "", 2), ("101", "5", 1), ("666", "", 1), ("202", "", 1))
    cart.items.append({"product_id": "303", "quantity": 1, "name": "never noted"})
    with factory() as session:
        lines, unresolved = catalogue.cart_lines(session, session.get(Shop, shop.id), cart)
    assert [(line.name, line.quantity, line.price) for line in lines] == [
        ("Kubek ceramiczny", 2, Decimal("49.90")),
        ("Kubek XL", 1, Decimal("59.90")),
    ]
    assert lines[0].image_url == "https://sklep.example/img/kubek.jpg"
    assert lines[0].product_url == "https://sklep.example/kubek"
    assert unresolved == 2  # 202 pending, 303 never noted; 666 missing is simply dropped
    assert catalogue.lines_total(lines) == Decimal("159.70")


def test_refresh_records_found_and_missing(factory, settings, clock):
    shop = make_shop(factory, settings, now=clock.now, products={})
    with factory() as session, session.begin():
        catalogue.note_products(session, shop.id, [("101", ""), ("999", "")], clock.now)
    reader = FakeReader({("101", ""): MUG, ("999", ""): None})
    report = catalogue.refresh_due(factory, reader, clock.now)
    assert (report.found, report.missing, report.failed) == (1, 1, 0)
    rows = _rows(factory)
    found, missing = rows[("101", "")], rows[("999", "")]
    assert (found.status, found.name, found.price, found.fetched_at) == (
        "found",
        "Kubek ceramiczny",
        Decimal("49.90"),
        clock.now,
    )
    assert found.due_at == clock.now + catalogue.FOUND_LIFETIME
    assert missing.status == "missing" and missing.due_at == clock.now + catalogue.MISSING_LIFETIME
    # Nothing is due again until the cache lifetime is over.
    assert catalogue.refresh_due(factory, reader, clock.now + timedelta(hours=23)).found == 0
    assert len(reader.calls) == 2


def test_a_failed_read_backs_off_doubling_up_to_six_hours(factory, settings, clock):
    shop = make_shop(factory, settings, now=clock.now, products={})
    with factory() as session, session.begin():
        catalogue.note_products(session, shop.id, [("101", "")], clock.now)
    reader = FakeReader({("101", ""): CatalogueUnavailable("Shoper answered 503")})
    now = clock.now
    waits = []
    for _ in range(12):
        assert catalogue.refresh_due(factory, reader, now).failed == 1
        row = _rows(factory)[("101", "")]
        waits.append(row.due_at - now)
        assert catalogue.refresh_due(factory, reader, row.due_at - timedelta(seconds=1)).failed == 0
        now = row.due_at
    minutes = [int(w.total_seconds() // 60) for w in waits]
    assert minutes[:5] == [1, 2, 4, 8, 16]
    assert minutes[-1] == 360
    assert row.status == "pending" and row.attempts == 12


def test_a_bug_in_the_reader_is_a_failure_of_that_product_only(factory, settings, clock):
    shop = make_shop(factory, settings, now=clock.now, products={})
    with factory() as session, session.begin():
        catalogue.note_products(session, shop.id, [("1", ""), ("2", "")], clock.now)
    reader = FakeReader({("1", ""): KeyError("stock"), ("2", ""): MUG})
    report = catalogue.refresh_due(factory, reader, clock.now)
    assert (report.found, report.failed) == (1, 1)


def test_found_products_are_read_again_after_a_day_and_kept_while_the_platform_is_down(
    factory, settings, clock
):
    make_shop(factory, settings, now=clock.now)  # "101" found now
    renamed = ProductInfo("Kubek ceramiczny 300 ml", Decimal("44.90"))
    down = FakeReader({("101", ""): CatalogueUnavailable("401")})
    day_later = clock.now + timedelta(hours=24)
    assert catalogue.refresh_due(factory, down, day_later).failed == 1
    row = _rows(factory)[("101", "")]
    assert (row.status, row.name, row.attempts) == ("found", "Kubek ceramiczny", 1)
    up = FakeReader({("101", ""): renamed})
    assert catalogue.refresh_due(factory, up, row.due_at).found == 1
    row = _rows(factory)[("101", "")]
    assert (row.name, row.price, row.attempts, row.image_url) == (
        "Kubek ceramiczny 300 ml",
        Decimal("44.90"),
        0,
        "",
    )


def test_products_of_uninstalled_shops_are_not_read(factory, settings, clock):
    shop = make_shop(factory, settings, now=clock.now, products={})
    with factory() as session, session.begin():
        catalogue.note_products(session, shop.id, [("101", "")], clock.now)
        session.get(Shop, shop.id).status = "uninstalled"
    reader = FakeReader({("101", ""): MUG})
    assert catalogue.refresh_due(factory, reader, clock.now).found == 0
    assert reader.calls == []


def test_a_pass_reads_each_due_product_once_in_small_batches(factory, settings, clock):
    shop = make_shop(factory, settings, now=clock.now, products={})
    ids = [str(n) for n in range(1, 46)]
    with factory() as session, session.begin():
        catalogue.note_products(session, shop.id, [(i, "") for i in ids], clock.now)
    reader = FakeReader({})  # the platform knows none of them
    report = catalogue.refresh_due(factory, reader, clock.now, batch=10, max_reads=40)
    assert report.missing == 40  # capped per pass
    assert len(set(reader.calls)) == len(reader.calls) == 40
    assert catalogue.refresh_due(factory, reader, clock.now, batch=10).missing == 5


def test_one_shops_flood_of_ids_does_not_hold_back_another_shops_product(factory, settings, clock):
    flooded = make_shop(factory, settings, now=clock.now, products={})
    other = make_shop(factory, settings, now=clock.now, products={})
    with factory() as session, session.begin():
        catalogue.note_products(session, flooded.id, [(str(n), "") for n in range(900)], clock.now)
        catalogue.note_products(session, other.id, [("7", "")], clock.now + timedelta(seconds=1))
    reader = FakeReader({("7", ""): MUG})
    catalogue.refresh_due(factory, reader, clock.now + timedelta(seconds=1), max_reads=20)
    assert (other.id, "7", "") in reader.calls  # in the first batch, beside the flood
    assert len(reader.calls) == 20


def test_a_shop_with_too_many_ids_waiting_notes_no_new_ones(factory, settings, clock):
    shop = make_shop(factory, settings, now=clock.now, products={})
    flood = [(str(n), "") for n in range(catalogue.MAX_PENDING_PER_SHOP)]
    with factory() as session, session.begin():
        assert catalogue.note_products(session, shop.id, flood, clock.now) == len(flood)
        assert catalogue.note_products(session, shop.id, [("x", "")], clock.now) == 0
    assert ("x", "") not in _rows(factory)


def test_a_due_carts_ids_are_noted_over_the_backlog_and_read_first(factory, settings, clock):
    shop = make_shop(factory, settings, now=clock.now, products={})
    flood = [(str(n), "") for n in range(catalogue.MAX_PENDING_PER_SHOP)]
    with factory() as session, session.begin():
        catalogue.note_products(session, shop.id, flood, clock.now - timedelta(hours=1))
        catalogue.note_products(session, shop.id, [("555", "")], clock.now, urgent=True)
    reader = FakeReader({("555", ""): MUG})
    catalogue.refresh_due(factory, reader, clock.now, batch=1, max_reads=1)
    assert reader.calls == [(shop.id, "555", "")]
