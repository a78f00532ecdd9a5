"""The Ecwid admin opening the app (`GET /ecwid/app?payload=`): the encrypted payload installs
the store the first time (its token stored encrypted, once Ecwid accepts it), opens the page
afterwards, replaces a token Ecwid still accepts, and is refused when tampered with, encrypted
with another secret, or carrying a token Ecwid refuses or cannot vouch for now. The page's
transaction asks Ecwid one thing at most (the token's profile); the worker saves the
storefront config."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from shoper_retention import shop_config
from shoper_retention.credentials import CredentialBox
from shoper_retention.models import HistoryImport, Shop
from shoper_retention.platforms.ecwid.install import SETUP_PENDING, TOKEN_REFUSED
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
    client: Any,
    worker: Any,
    ecwid: FakeEcwid,
    factory: sessionmaker[Session],
    settings: Settings,
    clock: Clock,
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
    assert shop.language == "pl"  # the profile that vouched for the token
    # Only the token's check inside the page's transaction; the worker saves the config.
    assert ecwid.paths() == [f"/api/v3/{STORE_ID}/profile"]
    assert shop.setup_error == SETUP_PENDING
    assert "public" not in ecwid.storage(STORE_ID)

    worker.tick(clock.now)

    shop = ecwid_shop(factory)
    assert shop is not None and shop.setup_error == ""
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


def test_a_new_token_is_not_taken_while_ecwid_cannot_vouch_for_it(
    client: Any,
    ecwid: FakeEcwid,
    factory: sessionmaker[Session],
    settings: Settings,
    clock: Clock,
) -> None:
    installed_store(factory, settings, now=clock.now, token="old-token")
    ecwid.fail_next(503)

    answer = open_app(client, encrypted_payload())

    assert answer.status_code == 503 and int(answer.headers["Retry-After"]) > 0
    shop = ecwid_shop(factory)
    assert shop is not None
    assert CredentialBox(settings.secret_key).open(shop.access_token_enc) == "old-token"


def test_a_new_token_clears_a_refusal_and_the_worker_checks_the_setup_again(
    client: Any,
    worker: Any,
    ecwid: FakeEcwid,
    factory: sessionmaker[Session],
    settings: Settings,
    clock: Clock,
) -> None:
    handle = installed_store(factory, settings, now=clock.now, token="old-token")
    with factory() as session, session.begin():
        stored = session.get(Shop, handle.id)
        assert stored is not None
        stored.setup_error = TOKEN_REFUSED

    assert open_app(client, encrypted_payload()).status_code == 200

    assert ecwid_shop(factory).setup_error == SETUP_PENDING  # type: ignore[union-attr]
    worker.tick(clock.now)
    assert ecwid_shop(factory).setup_error == ""  # type: ignore[union-attr]


def test_an_old_payload_does_not_bring_back_a_store_uninstalled_since(
    client: Any,
    ecwid: FakeEcwid,
    factory: sessionmaker[Session],
    settings: Settings,
    clock: Clock,
) -> None:
    """A payload decrypts for ever: one kept in browser history or a proxy log must not
    re-activate a store whose token Ecwid took back with the app."""
    old_link = encrypted_payload()
    handle = installed_store(factory, settings, now=clock.now)
    with factory() as session, session.begin():
        shop = session.get(Shop, handle.id)
        assert shop is not None
        shop.status, shop.access_token_enc, shop.uninstalled_at = "uninstalled", None, clock.now
    ecwid.revoke(TOKEN)

    answer = open_app(client, old_link)

    assert answer.status_code == 403
    shop = ecwid_shop(factory)
    assert shop is not None
    assert (shop.status, shop.access_token_enc, shop.uninstalled_at) == (
        "uninstalled",
        None,
        clock.now,
    )
    with factory() as session:
        assert session.scalars(select(HistoryImport)).all() == []


def test_a_first_opening_with_a_token_ecwid_refuses_installs_nothing(
    client: Any, ecwid: FakeEcwid, factory: sessionmaker[Session]
) -> None:
    answer = open_app(client, encrypted_payload(access_token="revoked-token"))

    assert answer.status_code == 403
    assert shop_count(factory) == 0


def test_a_first_opening_while_ecwid_does_not_answer_installs_nothing(
    client: Any, ecwid: FakeEcwid, factory: sessionmaker[Session]
) -> None:
    ecwid.fail_next(503)

    answer = open_app(client, encrypted_payload())

    assert answer.status_code == 503
    assert shop_count(factory) == 0


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


def test_ecwid_failing_the_workers_setup_keeps_the_store_with_the_error(
    client: Any,
    worker: Any,
    ecwid: FakeEcwid,
    factory: sessionmaker[Session],
    settings: Settings,
    clock: Clock,
) -> None:
    assert open_app(client, encrypted_payload()).status_code == 200
    ecwid.fail_next(503)  # the profile
    ecwid.fail_next(503)  # the storefront config

    worker.tick(clock.now)

    shop = ecwid_shop(factory)
    assert shop is not None
    assert CredentialBox(settings.secret_key).open(shop.access_token_enc) == TOKEN
    assert "store profile not read" in shop.setup_error
    assert "storefront config not saved" in shop.setup_error
    assert "Sklep Testowy" in page_text(open_app(client, encrypted_payload()))


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
