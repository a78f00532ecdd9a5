"""The Ecwid admin opening the app (`GET /ecwid/app?payload=`): the encrypted payload installs
the store the first time (its token stored encrypted), opens the page afterwards, replaces a
token Ecwid still accepts, and is refused when tampered with, encrypted with another secret, or
carrying a token Ecwid refuses."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from shoper_retention import shop_config
from shoper_retention.credentials import CredentialBox
from shoper_retention.models import Shop
from shoper_retention.settings import Settings
from tests.fakes.ecwid_server import FakeEcwid, default_profile
from tests.platforms.ecwid_support import (
    CLIENT_ID,
    CLIENT_SECRET,
    STORE_ID,
    TOKEN,
    ecwid_shop,
    encrypted_payload,
    installed_store,
    shop_count,
    with_ecwid,
)
from tests.support import Clock


@pytest.fixture
def ecwid() -> Iterator[FakeEcwid]:
    with FakeEcwid(CLIENT_ID, CLIENT_SECRET) as fake:
        fake.add_store(STORE_ID, TOKEN)
        yield fake


@pytest.fixture
def settings(settings: Settings, ecwid: FakeEcwid) -> Settings:
    return with_ecwid(settings, ecwid)


def open_app(client: Any, payload: str) -> Any:
    return client.get("/ecwid/app", query_string={"payload": payload, "app_state": "x"})


def test_the_first_opening_installs_the_store_and_stores_its_token_encrypted(
    client: Any, ecwid: FakeEcwid, factory: sessionmaker[Session], settings: Settings
) -> None:
    answer = open_app(client, encrypted_payload())

    assert answer.status_code == 200, answer.get_data(as_text=True)[:500]
    assert "Sklep Testowy" in answer.get_data(as_text=True)
    assert "https://my.ecwid.com" in answer.headers["Content-Security-Policy"]
    shop = ecwid_shop(factory)
    assert shop is not None and shop.status == "active"
    assert CredentialBox(settings.secret_key).open(shop.access_token_enc) == TOKEN
    with factory() as session:
        raw = session.execute(
            text("SELECT access_token_enc FROM shops WHERE id = :id"), {"id": shop.id}
        ).scalar_one()
    assert TOKEN not in raw
    assert shop.setup_error == "" and shop.language == "pl"
    assert json.loads(ecwid.storage(STORE_ID)["public"]) == {"public_key": shop.public_key}


def test_opening_it_again_with_the_same_token_asks_ecwid_nothing(
    client: Any, ecwid: FakeEcwid, factory: sessionmaker[Session]
) -> None:
    assert open_app(client, encrypted_payload()).status_code == 200
    first = ecwid_shop(factory)
    calls = len(ecwid.requests)

    assert open_app(client, encrypted_payload()).status_code == 200

    again = ecwid_shop(factory)
    assert again is not None and first is not None
    assert (again.id, again.public_key) == (first.id, first.public_key)
    assert shop_count(factory) == 1
    assert len(ecwid.requests) == calls


def test_a_new_token_that_ecwid_accepts_replaces_the_stored_one(
    client: Any,
    ecwid: FakeEcwid,
    factory: sessionmaker[Session],
    settings: Settings,
    clock: Clock,
) -> None:
    installed_store(factory, settings, now=clock.now, token="old-token")

    answer = open_app(client, encrypted_payload())

    assert answer.status_code == 200
    shop = ecwid_shop(factory)
    assert shop is not None
    assert CredentialBox(settings.secret_key).open(shop.access_token_enc) == TOKEN


def test_a_payload_with_a_token_ecwid_refuses_is_403_and_keeps_the_stored_token(
    client: Any,
    ecwid: FakeEcwid,
    factory: sessionmaker[Session],
    settings: Settings,
    clock: Clock,
) -> None:
    """An old payload from browser history must not swap a working token for a revoked one."""
    installed_store(factory, settings, now=clock.now)

    answer = open_app(client, encrypted_payload(access_token="revoked-token"))

    assert answer.status_code == 403
    shop = ecwid_shop(factory)
    assert shop is not None
    assert CredentialBox(settings.secret_key).open(shop.access_token_enc) == TOKEN


def test_opening_the_app_after_an_uninstall_installs_the_store_again(
    client: Any, factory: sessionmaker[Session], settings: Settings, clock: Clock
) -> None:
    handle = installed_store(factory, settings, now=clock.now)
    with factory() as session, session.begin():
        shop = session.get(Shop, handle.id)
        assert shop is not None
        shop.status, shop.access_token_enc, shop.uninstalled_at = "uninstalled", None, clock.now

    assert open_app(client, encrypted_payload()).status_code == 200

    shop = ecwid_shop(factory)
    assert shop is not None and shop.id == handle.id
    assert (shop.status, shop.uninstalled_at) == ("active", None)
    assert CredentialBox(settings.secret_key).open(shop.access_token_enc) == TOKEN


def tampered(payload: str) -> str:
    middle = len(payload) // 2
    return payload[:middle] + ("A" if payload[middle] != "A" else "B") + payload[middle + 1 :]


@pytest.mark.parametrize(
    "payload",
    [
        tampered(encrypted_payload()),
        encrypted_payload()[:-8],
        encrypted_payload(secret="Another-apps-secret-0123456789"),
        encrypted_payload({"access_token": TOKEN}),
        "",
        "%%%",
    ],
    ids=["tampered", "cut", "another-secret", "no-store-id", "empty", "not-base64"],
)
def test_a_bad_payload_is_403_and_stores_nothing(
    client: Any, ecwid: FakeEcwid, factory: sessionmaker[Session], payload: str
) -> None:
    answer = open_app(client, payload)

    assert answer.status_code == 403
    assert answer.get_json()["error"] == "forbidden"
    assert shop_count(factory) == 0
    assert ecwid.requests == []


def test_ecwid_failing_at_the_first_opening_keeps_the_store_with_the_error(
    client: Any, ecwid: FakeEcwid, factory: sessionmaker[Session], settings: Settings
) -> None:
    ecwid.fail_next(503)  # the profile
    ecwid.fail_next(503)  # the storefront config

    answer = open_app(client, encrypted_payload())

    assert answer.status_code == 200
    shop = ecwid_shop(factory)
    assert shop is not None
    assert CredentialBox(settings.secret_key).open(shop.access_token_enc) == TOKEN
    assert "store profile not read" in shop.setup_error
    assert "storefront config not saved" in shop.setup_error


def test_a_payload_on_a_server_without_ecwid_is_refused(
    settings: Settings, factory: sessionmaker[Session], clock: Clock
) -> None:
    from shoper_retention.app import create_app

    app = create_app(settings.with_(ecwid_client_id=""), clock=clock, factory=factory)
    try:
        answer = open_app(app.test_client(), encrypted_payload())
    finally:
        app.extensions["shoper_retention"].inbox_writer.dispose()

    assert answer.status_code == 403
    assert shop_count(factory) == 0


def test_the_page_warns_when_ecwid_sends_its_own_cart_reminders_and_ours_are_on(
    client: Any, ecwid: FakeEcwid, factory: sessionmaker[Session]
) -> None:
    ecwid.add_store(
        STORE_ID,
        TOKEN,
        profile=own_reminders_profile(True),
    )
    assert "platform-cart-reminders" not in page_text(open_app(client, encrypted_payload()))
    with factory() as session, session.begin():
        shop = session.get(Shop, ecwid_shop(factory).id)  # type: ignore[union-attr]
        assert shop is not None
        shop_config.update(shop, {"scenarios": {"cart_recovery": {"enabled": True}}})

    warned = page_text(open_app(client, encrypted_payload()))

    assert 'id="platform-cart-reminders"' in warned and "dwa przypomnienia" in warned


def test_no_warning_when_ecwids_own_cart_reminder_is_off(
    client: Any, ecwid: FakeEcwid, factory: sessionmaker[Session]
) -> None:
    ecwid.add_store(STORE_ID, TOKEN, profile=own_reminders_profile(False))
    open_app(client, encrypted_payload())
    with factory() as session, session.begin():
        shop = session.get(Shop, ecwid_shop(factory).id)  # type: ignore[union-attr]
        assert shop is not None
        shop_config.update(shop, {"scenarios": {"cart_recovery": {"enabled": True}}})

    assert "platform-cart-reminders" not in page_text(open_app(client, encrypted_payload()))


def own_reminders_profile(on: bool) -> dict[str, Any]:
    profile = default_profile(STORE_ID)
    profile["settings"]["abandonedSales"] = {"autoAbandonedSalesRecovery": on}
    return profile


def page_text(answer: Any) -> str:
    assert answer.status_code == 200, answer.get_data(as_text=True)[:300]
    return str(answer.get_data(as_text=True))
