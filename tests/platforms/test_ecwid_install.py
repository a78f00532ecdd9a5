"""An Ecwid install from outside the App Market (`GET /ecwid/oauth/callback?code=`), against a
fake Ecwid on loopback: the code exchanged once, the token stored encrypted, the profile read,
the storefront config put, the history import asked for, then the browser sent on to a page
without the code (a reload must never exchange it again: that disables the token); a spent,
refused or declined code stores nothing; set-up that failed after the token is kept and
finished by the worker; no Ecwid call is made while a database transaction is open."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from shoper_retention.credentials import CredentialBox
from shoper_retention.models import HistoryImport, Shop
from shoper_retention.platforms.ecwid.platform import EcwidPlatform
from shoper_retention.settings import Settings
from tests.fakes.ecwid_server import FakeEcwid
from tests.platforms.ecwid_support import (
    CLIENT_ID,
    CLIENT_SECRET,
    STORE_ID,
    TOKEN,
    ecwid_shop,
    installed_store,
    shop_count,
    watch_transactions,
    with_ecwid,
)
from tests.support import Clock

REDIRECT_URI = "https://retention.example/ecwid/oauth/callback"


@pytest.fixture
def ecwid() -> Iterator[FakeEcwid]:
    with FakeEcwid(CLIENT_ID, CLIENT_SECRET) as fake:
        yield fake


@pytest.fixture
def settings(settings: Settings, ecwid: FakeEcwid) -> Settings:
    return with_ecwid(settings, ecwid)


def install(client: Any, code: str = "code-1") -> Any:
    return client.get(f"/ecwid/oauth/callback?code={code}")


def assert_installed(answer: Any) -> None:
    """Sent on, with no cache and no referrer, to the code-less page saying it is installed."""
    assert answer.status_code == 303, answer.get_data(as_text=True)
    assert answer.headers["Location"].endswith("/ecwid/oauth/callback?installed=1")
    assert "code" not in answer.headers["Location"]
    assert answer.headers["Cache-Control"] == "no-store"
    assert answer.headers["Referrer-Policy"] == "no-referrer"


def the_shop(factory: sessionmaker[Session]) -> Shop:
    shop = ecwid_shop(factory)
    assert shop is not None
    return shop


def test_install_exchanges_the_code_once_and_stores_the_token_encrypted(
    client: Any, ecwid: FakeEcwid, factory: sessionmaker[Session], settings: Settings
) -> None:
    ecwid.issue_code("code-1", STORE_ID, TOKEN, redirect_uri=REDIRECT_URI)

    answer = install(client)

    assert_installed(answer)
    page = client.get(answer.headers["Location"])
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    shown = page.get_data(as_text=True)
    assert "Aplikacja Retention jest zainstalowana" in shown and "Retention is installed" in shown
    (exchange,) = [r for r in ecwid.requests if r.path == "/api/oauth/token"]
    assert exchange.method == "POST"
    assert exchange.form == {
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "code": "code-1",
        "redirect_uri": REDIRECT_URI,
        "grant_type": "authorization_code",
    }
    shop = the_shop(factory)
    assert shop.status == "active"
    assert CredentialBox(settings.secret_key).open(shop.access_token_enc) == TOKEN
    with factory() as session:
        raw = session.execute(
            text("SELECT access_token_enc FROM shops WHERE id = :id"), {"id": shop.id}
        ).scalar_one()
    assert TOKEN not in raw
    assert shop.webhooks_registered is True  # declared in the app's registration
    assert shop.setup_error == ""
    assert "read_orders" in shop.scopes.split(",")
    assert len(shop.ref) >= 16 and len(shop.public_key) >= 16 and len(shop.report_token) >= 32


def test_install_reads_the_profile_puts_the_storefront_config_and_asks_for_history(
    client: Any, ecwid: FakeEcwid, factory: sessionmaker[Session]
) -> None:
    profile = {
        "generalInfo": {"storeId": 1003, "storeUrl": "https://ceramika.example/sklep/"},
        "account": {"accountEmail": "biuro@ceramika.example"},
        "settings": {"storeName": "Ceramika Nowak"},
        "company": {"countryCode": "DE"},
        "formatsAndUnits": {"currency": "eur", "timezone": "Europe/Berlin"},
        "languages": {"defaultLanguage": "en"},
    }
    ecwid.add_store(STORE_ID, TOKEN, profile=profile)
    ecwid.issue_code("code-1", STORE_ID, TOKEN)

    assert_installed(install(client))

    shop = the_shop(factory)
    assert shop.setup_error == ""
    assert (shop.name, shop.email, shop.shop_url) == (
        "Ceramika Nowak",
        "biuro@ceramika.example",
        "https://ceramika.example/sklep",
    )
    assert (shop.language, shop.currency, shop.timezone, shop.country) == (
        "en",
        "EUR",
        "Europe/Berlin",
        "DE",
    )
    assert json.loads(ecwid.storage(STORE_ID)["public"]) == {"public_key": shop.public_key}
    with factory() as session:
        imports = session.scalars(
            select(HistoryImport).where(HistoryImport.shop_id == shop.id)
        ).all()
    assert imports and {row.status for row in imports} == {"pending"}


def exchanges(ecwid: FakeEcwid) -> int:
    return len([r for r in ecwid.requests if r.path == "/api/oauth/token"])


def test_a_second_load_of_the_callback_never_exchanges_the_code_again(
    client: Any, ecwid: FakeEcwid, factory: sessionmaker[Session]
) -> None:
    """F5, a restored tab, a double click: a second exchange would disable the token the
    first one stored (includes/_authentication.md)."""
    ecwid.issue_code("code-1", STORE_ID, TOKEN)
    assert_installed(install(client))
    first = the_shop(factory)

    again = install(client)

    assert_installed(again)
    assert exchanges(ecwid) == 1
    assert ecwid.token_enabled(TOKEN)
    shop = the_shop(factory)
    assert (shop.id, shop.public_key, shop.access_token_enc) == (
        first.id,
        first.public_key,
        first.access_token_enc,
    )


def test_a_refused_code_is_not_sent_again_either(
    client: Any, ecwid: FakeEcwid, factory: sessionmaker[Session]
) -> None:
    assert install(client, "made-up").status_code == 400
    again = install(client, "made-up")
    assert again.status_code == 400 and again.headers["Cache-Control"] == "no-store"
    assert exchanges(ecwid) == 1


def test_a_code_spent_elsewhere_is_refused_by_ecwid_and_changes_nothing(
    client: Any,
    ecwid: FakeEcwid,
    factory: sessionmaker[Session],
    settings: Settings,
    clock: Clock,
) -> None:
    """Another process of ours (or anyone) sends a spent code: Ecwid refuses it, and we store
    nothing of it."""
    from shoper_retention.app import create_app

    ecwid.issue_code("code-1", STORE_ID, TOKEN)
    assert_installed(install(client))
    first = the_shop(factory)
    other = create_app(settings, clock=clock, factory=factory)
    try:
        again = install(other.test_client())
    finally:
        other.extensions["shoper_retention"].inbox_writer.dispose()

    assert again.status_code == 400
    assert "już użyty" in again.get_data(as_text=True)
    assert again.headers["Referrer-Policy"] == "no-referrer"
    shop = the_shop(factory)
    assert shop_count(factory) == 1
    assert (shop.id, shop.public_key, shop.access_token_enc) == (
        first.id,
        first.public_key,
        first.access_token_enc,
    )
    assert exchanges(ecwid) == 2


@pytest.mark.parametrize(
    "query",
    ["error=access_denied&error_description=User+denied", "error=server_error", "", "code="],
    ids=["declined", "other-error", "no-code", "empty-code"],
)
def test_a_declined_or_missing_code_is_a_400_page_and_stores_nothing(
    client: Any, ecwid: FakeEcwid, factory: sessionmaker[Session], query: str
) -> None:
    answer = client.get(f"/ecwid/oauth/callback?{query}")

    assert answer.status_code == 400
    assert answer.mimetype == "text/html"
    if query.startswith("error=access_denied"):
        assert "Instalacja została anulowana" in answer.get_data(as_text=True)
    assert shop_count(factory) == 0
    assert ecwid.requests == []  # nothing was exchanged


def test_an_unknown_code_is_400_and_stores_nothing(
    client: Any, ecwid: FakeEcwid, factory: sessionmaker[Session]
) -> None:
    answer = install(client, "made-up")

    assert answer.status_code == 400
    assert shop_count(factory) == 0


def test_ecwid_failing_the_exchange_is_503_with_retry_after_and_is_sent_once(
    client: Any, ecwid: FakeEcwid, factory: sessionmaker[Session]
) -> None:
    ecwid.issue_code("code-1", STORE_ID, TOKEN)
    ecwid.fail_next(502)

    answer = install(client)

    assert answer.status_code == 503
    assert int(answer.headers["Retry-After"]) > 0
    assert "chwilowo nie odpowiada" in answer.get_data(as_text=True)
    assert shop_count(factory) == 0
    assert len([r for r in ecwid.requests if r.path == "/api/oauth/token"]) == 1


def test_a_server_without_ecwid_credentials_answers_404(
    settings: Settings, factory: sessionmaker[Session], clock: Clock
) -> None:
    from shoper_retention.app import create_app

    app = create_app(settings.with_(ecwid_client_secret=""), clock=clock, factory=factory)
    try:
        answer = app.test_client().get("/ecwid/oauth/callback?code=code-1")
    finally:
        app.extensions["shoper_retention"].inbox_writer.dispose()

    assert answer.status_code == 404
    assert shop_count(factory) == 0


def test_refused_install_links_count_against_the_address(
    settings: Settings, factory: sessionmaker[Session], clock: Clock
) -> None:
    from shoper_retention.app import create_app

    app = create_app(settings.with_(limit_rejected_per_ip="2/minute"), clock=clock, factory=factory)
    try:
        client = app.test_client()
        statuses = [
            client.get(f"/ecwid/oauth/callback?code=guess-{i}").status_code for i in range(4)
        ]
    finally:
        app.extensions["shoper_retention"].inbox_writer.dispose()

    assert statuses[:2] == [400, 400]
    assert statuses[-1] == 429


def test_a_setup_failure_after_the_exchange_keeps_the_store_and_the_worker_finishes_it(
    client: Any,
    worker: Any,
    ecwid: FakeEcwid,
    factory: sessionmaker[Session],
    settings: Settings,
    clock: Clock,
) -> None:
    ecwid.issue_code("code-1", STORE_ID, TOKEN)
    ecwid.delay_next(0)  # the exchange goes through
    ecwid.fail_next(503)  # the profile
    ecwid.fail_next(503)  # the storefront config

    answer = install(client)

    assert_installed(answer)  # the code is spent: the store must be kept
    shop = the_shop(factory)
    assert CredentialBox(settings.secret_key).open(shop.access_token_enc) == TOKEN
    assert "store profile not read" in shop.setup_error
    assert "storefront config not saved" in shop.setup_error
    assert "public" not in ecwid.storage(STORE_ID)
    assert EcwidPlatform.waiting_reason(shop) is None  # the token is what messages need

    report = worker.tick(clock.advance(minutes=2))

    assert report.shops_maintained == 1
    shop = the_shop(factory)
    assert shop.setup_error == ""
    assert shop.name == "Sklep Testowy"
    assert json.loads(ecwid.storage(STORE_ID)["public"]) == {"public_key": shop.public_key}
    assert worker.tick(clock.advance(minutes=2)).shops_maintained == 0  # done: not again


def test_maintain_backs_off_a_store_whose_setup_keeps_failing(
    worker: Any,
    ecwid: FakeEcwid,
    factory: sessionmaker[Session],
    settings: Settings,
    clock: Clock,
) -> None:
    ecwid.add_store(STORE_ID, TOKEN)
    handle = installed_store(factory, settings, now=clock.now)
    with factory() as session, session.begin():
        stored = session.get(Shop, handle.id)
        assert stored is not None
        stored.setup_error = "Ecwid set-up incomplete: store profile not read"
    for _ in range(4):
        ecwid.fail_next(503)  # the profile, and the storage write, of two passes

    assert worker.tick(clock.now).shops_maintained == 1
    assert worker.tick(clock.advance(seconds=30)).shops_maintained == 0  # backing off
    assert worker.tick(clock.advance(minutes=1)).shops_maintained == 1  # tried again
    assert worker.tick(clock.advance(minutes=1)).shops_maintained == 0  # two minutes now
    assert worker.tick(clock.advance(minutes=2)).shops_maintained == 1
    assert the_shop(factory).setup_error == ""


def test_the_install_calls_ecwid_with_no_transaction_open(
    client: Any,
    ecwid: FakeEcwid,
    factory: sessionmaker[Session],
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """On SQLite an open transaction holds the write lock: an install waiting on Ecwid inside
    one would keep every store's webhooks waiting past Ecwid's 10 s."""
    ecwid.issue_code("code-1", STORE_ID, TOKEN)
    seen = watch_transactions(ecwid, monkeypatch, settings.database_url)

    assert_installed(install(client))

    assert [(method, path) for method, path, _ in seen] == [
        ("POST", "/api/oauth/token"),
        ("GET", f"/api/v3/{STORE_ID}/profile"),
        ("PUT", f"/api/v3/{STORE_ID}/storage/public"),
    ]
    assert [open_ for _, _, open_ in seen] == [False, False, False]
    assert the_shop(factory).setup_error == ""


def test_the_worker_finishes_a_setup_with_no_transaction_open_during_ecwids_calls(
    worker: Any,
    ecwid: FakeEcwid,
    factory: sessionmaker[Session],
    settings: Settings,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ecwid.add_store(STORE_ID, TOKEN)
    handle = installed_store(factory, settings, now=clock.now)
    with factory() as session, session.begin():
        stored = session.get(Shop, handle.id)
        assert stored is not None
        stored.setup_error = "Ecwid set-up incomplete: store profile not read"
    seen = watch_transactions(ecwid, monkeypatch, settings.database_url)

    assert worker.tick(clock.now).shops_maintained == 1

    setup = [s for s in seen if s[1].endswith(("/profile", "/storage/public"))]
    assert [(method, open_) for method, _, open_ in setup] == [("GET", False), ("PUT", False)]
    assert the_shop(factory).setup_error == ""


def test_a_store_uninstalled_while_its_setup_ran_is_not_written_to(
    ecwid: FakeEcwid,
    factory: sessionmaker[Session],
    settings: Settings,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The set-up's calls run outside any transaction, so its outcome is stored only if the
    store still has the token it ran with."""
    from shoper_retention.platforms.ecwid.install import SETUP_PENDING, EcwidInstaller

    ecwid.add_store(STORE_ID, TOKEN)
    handle = installed_store(factory, settings, now=clock.now, name="Przed")
    with factory() as session, session.begin():
        stored = session.get(Shop, handle.id)
        assert stored is not None
        stored.setup_error = SETUP_PENDING
    handle_request = ecwid._handle

    def uninstall_meanwhile(request: Any) -> Any:
        with factory() as session, session.begin():
            shop = session.get(Shop, handle.id)
            assert shop is not None
            shop.status, shop.access_token_enc = "uninstalled", None
        monkeypatch.setattr(ecwid, "_handle", handle_request)
        return handle_request(request)

    monkeypatch.setattr(ecwid, "_handle", uninstall_meanwhile)

    assert EcwidInstaller(settings).finish_setup(factory, handle.id, clock.now) is False

    shop = the_shop(factory)
    assert (shop.status, shop.name, shop.setup_error) == ("uninstalled", "Przed", SETUP_PENDING)
