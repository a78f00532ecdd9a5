"""What every platform must do, checked once for all of them: each test runs for Shoper and for
Ecwid, each platform driven by its harness (contract_harness.py) through its real install flow
and its real webhook endpoint, against its fake. A new platform joins by adding a harness."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
import responses
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session, sessionmaker

from shoper_retention.credentials import CredentialBox
from shoper_retention.models import InboxDelivery, Order, Shop
from shoper_retention.platforms.registry import PLATFORMS, Platforms
from shoper_retention.settings import Settings
from tests.fakes.ecwid_server import FakeEcwid
from tests.platforms.contract_harness import (
    CouponSeen,
    EcwidHarness,
    Harness,
    OrderFacts,
    ShoperHarness,
    post,
)
from tests.platforms.ecwid_support import CLIENT_ID, CLIENT_SECRET
from tests.support import Clock

ORDER = OrderFacts("7001", "Ola.Nowak@Example.com", Decimal("123.45"), paid=True)


@pytest.fixture(params=["shoper", "ecwid"])
def harness(request: pytest.FixtureRequest, clock: Clock) -> Iterator[Harness]:
    if request.param == "shoper":
        with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
            yield ShoperHarness(rsps, clock)
    else:
        with FakeEcwid(CLIENT_ID, CLIENT_SECRET) as fake:
            yield EcwidHarness(fake, clock)


@pytest.fixture
def settings(settings: Settings, harness: Harness) -> Settings:
    return harness.settings(settings)


def the_shop(factory: sessionmaker[Session], harness: Harness) -> Shop:
    with factory() as session:
        return session.scalars(select(Shop).where(Shop.platform == harness.name)).one()


def shop_count(factory: sessionmaker[Session]) -> int:
    with factory() as session:
        return int(session.scalar(select(func.count()).select_from(Shop)) or 0)


def installed(client: Any, worker: Any, harness: Harness, clock: Clock) -> None:
    """Installed, and one worker pass run (the set-up and history import an install asks
    for), so what a later test sees comes from what it sends."""
    harness.install(client)
    report = worker.tick(clock.now)
    assert report.errors == [] and report.history.failed == 0, report.summary()


def test_install_stores_one_active_shop_with_its_token_encrypted_and_again_no_second_one(
    client: Any, factory: sessionmaker[Session], settings: Settings, harness: Harness
) -> None:
    token = harness.install(client)

    shop = the_shop(factory, harness)
    assert shop.status == "active"
    assert CredentialBox(settings.secret_key).open(shop.access_token_enc) == token
    with factory() as session:
        row = session.execute(text("SELECT * FROM shops WHERE id = :id"), {"id": shop.id})
        stored = [str(value) for value in row.one()]
    assert not [value for value in stored if token in value]

    again = harness.install(client, attempt=2)

    assert shop_count(factory) == 1
    reinstalled = the_shop(factory, harness)
    assert (reinstalled.id, reinstalled.ref, reinstalled.public_key) == (
        shop.id,
        shop.ref,
        shop.public_key,
    )
    assert CredentialBox(settings.secret_key).open(reinstalled.access_token_enc) == again


def test_a_forged_webhook_is_refused_401_and_stores_nothing(
    client: Any, worker: Any, factory: sessionmaker[Session], harness: Harness, clock: Clock
) -> None:
    installed(client, worker, harness, clock)

    answer = post(client, harness.forged_order(ORDER))

    assert answer.status_code == 401
    worker.tick(clock.advance(minutes=1))
    with factory() as session:
        assert session.scalars(select(InboxDelivery)).all() == []
        assert session.scalars(select(Order)).all() == []


@pytest.mark.parametrize("paid", [True, False], ids=["paid", "awaiting-payment"])
def test_a_signed_order_webhook_becomes_the_order_after_the_worker_runs(
    client: Any,
    worker: Any,
    factory: sessionmaker[Session],
    harness: Harness,
    clock: Clock,
    paid: bool,
) -> None:
    installed(client, worker, harness, clock)
    order = OrderFacts(ORDER.order_id, ORDER.email, ORDER.total, paid=paid)

    answer = post(client, harness.signed_order(order))

    assert answer.status_code == harness.accepted, answer.get_data(as_text=True)
    with factory() as session:
        assert session.scalars(select(Order)).all() == []  # the worker applies it
    assert worker.tick(clock.advance(minutes=1)).ingested == 1
    with factory() as session:
        (stored,) = session.scalars(select(Order)).all()
    assert (stored.platform_order_id, stored.total, stored.email, stored.paid) == (
        "7001",
        Decimal("123.45"),
        "ola.nowak@example.com",
        paid,
    )
    assert stored.shop_id == the_shop(factory, harness).id


def test_the_coupon_creator_makes_a_single_use_percent_code_at_the_platform(
    client: Any,
    worker: Any,
    factory: sessionmaker[Session],
    platforms: Platforms,
    harness: Harness,
    clock: Clock,
) -> None:
    installed(client, worker, harness, clock)

    with factory() as session, session.begin():
        shop = session.get(Shop, the_shop(factory, harness).id)
        create = platforms.by_name[harness.name].coupon_creator(session, clock.now)
        until = clock.now + timedelta(hours=48)
        platform_id = create(shop, "WRCCONTRACT2", Decimal(15), clock.now, until)  # type: ignore[arg-type]

    assert platform_id
    assert harness.coupons() == [CouponSeen("WRCCONTRACT2", Decimal(15), single_use=True)]


def test_the_catalogue_reader_gives_name_price_and_photo_and_none_for_an_unknown_product(
    client: Any,
    worker: Any,
    factory: sessionmaker[Session],
    platforms: Platforms,
    harness: Harness,
    clock: Clock,
) -> None:
    installed(client, worker, harness, clock)
    photo = harness.seed_product("4242", "Dzbanek szklany", Decimal("89.00"))
    shop = the_shop(factory, harness)
    read = platforms.by_name[harness.name].catalogue

    found = read(shop, "4242", "")

    assert found is not None
    assert (found.name, found.price, found.image_url) == (
        "Dzbanek szklany",
        Decimal("89.00"),
        photo,
    )
    assert read(shop, "4243", "") is None


def test_an_installed_shop_may_send_and_names_the_admin_that_frames_its_page(
    client: Any,
    worker: Any,
    factory: sessionmaker[Session],
    platforms: Platforms,
    harness: Harness,
    clock: Clock,
) -> None:
    installed(client, worker, harness, clock)
    shop = the_shop(factory, harness)
    assert shop.setup_error == ""  # fully installed

    assert PLATFORMS[harness.name].waiting_reason(shop) is None
    origins = platforms.by_name[harness.name].admin_origins(shop)
    assert origins
    assert all(o.startswith("https://") and o.count("/") == 2 for o in origins)


def test_the_platform_is_registered_and_the_manifest_lists_its_webhook_events(
    client: Any, harness: Harness
) -> None:
    assert PLATFORMS[harness.name].name == harness.name

    manifest = client.get("/manifest.json")

    assert manifest.status_code == 200
    events = manifest.get_json()["platforms"][harness.name]["webhooks"]["events"]
    assert harness.order_event in events
