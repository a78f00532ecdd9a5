"""Shoper App Store lifecycle through `POST /shoper/appstore`, with Shoper's OAuth and REST
faked by `responses`: install, re-install, failures that must store nothing or be finished
later by the worker, uninstall, stale callbacks, token refresh and upgrade."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit
from zoneinfo import ZoneInfo

import pytest
import responses
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session, sessionmaker

from shoper_retention.credentials import CredentialBox
from shoper_retention.manifest import webhook_events
from shoper_retention.models import Shop
from shoper_retention.platforms.shoper.signature import appstore_hash
from shoper_retention.settings import Settings
from tests.support import Clock, cart_snapshot, make_shop, messages, post_cart

LICENCE = "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678"
SHOP_URL = "https://sklep.example"
REST = f"{SHOP_URL}/webapi/rest"
TOKEN_URL = f"{REST}/oauth/token"
WEBHOOKS_URL = f"{REST}/webhooks"
CONFIG_URL = f"{REST}/application-config"
MONTH = 30 * 24 * 3600
PROFILE = {
    "shop_name": "Ceramika Nowak",
    "shop_email": "biuro@sklep.example",
    "default_language_name": "pl_PL",
    "default_currency_name": "EUR",
    "locale_timezone": "Europe/London",
    "shop_url": SHOP_URL,
}


@pytest.fixture
def shoper() -> Iterator[responses.RequestsMock]:
    """Shoper's side of the wire; every request the code makes must be one registered here."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


def signed(form: dict[str, str], secret: str = "appstore-secret") -> dict[str, str]:
    return {**form, "hash": appstore_hash(form, secret)}


def warsaw(moment: datetime) -> str:
    """Shoper's callback `timestamp`: a Europe/Warsaw wall-clock date string."""
    return moment.astimezone(ZoneInfo("Europe/Warsaw")).strftime("%Y-%m-%d %H:%M:%S")


def callback(action: str, at: datetime, **extra: str) -> dict[str, str]:
    form = {
        "action": action,
        "shop": LICENCE,
        "shop_url": SHOP_URL,
        "application_code": "app-id",
        "timestamp": warsaw(at),
        **extra,
    }
    return signed(form)


def install_form(at: datetime, code: str = "auth-code-1", version: str = "3") -> dict[str, str]:
    return callback("install", at, auth_code=code, application_version=version)


def tokens(access: str, refresh: str, expires_in: int = MONTH) -> dict[str, Any]:
    return {
        "access_token": access,
        "refresh_token": refresh,
        "expires_in": expires_in,
        "token_type": "bearer",
        "scope": "orders,products,webhooks,application_config",
    }


def webhook_page(*hooks: dict[str, Any]) -> dict[str, Any]:
    return {
        "count": str(len(hooks)),
        "pages": "1" if hooks else "0",
        "page": "1",
        "list": list(hooks),
    }


def fake_shoper_install(
    rsps: responses.RequestsMock,
    *,
    access: str = "access-1",
    refresh: str = "refresh-1",
    existing: tuple[dict[str, Any], ...] = (),
    webhook_id: int = 42,
    profile: dict[str, Any] | None = None,
) -> None:
    rsps.post(TOKEN_URL, json=tokens(access, refresh))
    rsps.get(CONFIG_URL, json=profile or PROFILE)
    rsps.get(WEBHOOKS_URL, json=webhook_page(*existing))
    rsps.post(WEBHOOKS_URL, json=webhook_id)


def calls_to(rsps: responses.RequestsMock, method: str, url: str) -> list[Any]:
    return [
        c for c in rsps.calls if c.request.method == method and c.request.url.split("?")[0] == url
    ]


def the_shop(factory: sessionmaker[Session]) -> Shop:
    with factory() as session:
        return session.scalars(select(Shop).where(Shop.platform_shop_id == LICENCE)).one()


def shop_count(factory: sessionmaker[Session]) -> int:
    with factory() as session:
        return int(session.scalar(select(func.count()).select_from(Shop)) or 0)


def our_webhook_url(shop: Shop) -> str:
    return f"https://retention.example/shoper/webhooks/{shop.ref}"


# --- install -------------------------------------------------------------------------------


def test_install_exchanges_the_code_stores_encrypted_tokens_reads_the_profile_and_adds_webhooks(
    client: Any,
    shoper: responses.RequestsMock,
    factory: sessionmaker[Session],
    settings: Settings,
    clock: Clock,
) -> None:
    fake_shoper_install(shoper, access="plain-access-token-123", refresh="plain-refresh-token-456")

    answer = client.post("/shoper/appstore", data=install_form(clock.now, code="the-auth-code"))

    assert answer.status_code == 200, answer.get_json()
    (exchange,) = calls_to(shoper, "POST", TOKEN_URL)
    basic = base64.b64encode(b"app-id:app-secret").decode()
    assert exchange.request.headers["Authorization"] == f"Basic {basic}"
    assert parse_qs(urlsplit(exchange.request.url).query) == {"grant_type": ["authorization_code"]}
    assert parse_qs(exchange.request.body) == {"code": ["the-auth-code"]}

    box = CredentialBox(settings.secret_key)
    shop = the_shop(factory)
    assert shop.status == "active"
    assert box.open(shop.access_token_enc) == "plain-access-token-123"
    assert box.open(shop.refresh_token_enc) == "plain-refresh-token-456"
    assert shop.token_expires_at == clock.now + timedelta(seconds=MONTH)
    with factory() as session:
        raw = session.execute(
            text("SELECT access_token_enc, refresh_token_enc FROM shops WHERE id = :id"),
            {"id": shop.id},
        ).one()
    assert "plain-access-token-123" not in raw[0]
    assert "plain-refresh-token-456" not in raw[1]

    assert (shop.name, shop.email, shop.language) == ("Ceramika Nowak", "biuro@sklep.example", "pl")
    assert (shop.currency, shop.timezone) == ("EUR", "Europe/London")
    assert shop.app_version == "3"

    (created,) = calls_to(shoper, "POST", WEBHOOKS_URL)
    assert created.request.headers["Authorization"] == "Bearer plain-access-token-123"
    sent = json.loads(created.request.body)
    assert sent["url"] == our_webhook_url(shop)
    assert sent["events"] == webhook_events("shoper")
    assert sent["format"] == 0 and sent["active"] == 1
    assert len(sent["secret"]) >= 32
    assert sent["secret"] == box.open(shop.webhook_secret_enc)
    assert shop.webhook_ids == [42]
    assert shop.webhooks_registered is True
    assert shop.setup_error == ""


@pytest.mark.parametrize(
    "form",
    [
        {**install_form(datetime(2026, 3, 3, 8, 0, tzinfo=ZoneInfo("UTC"))), "hash": "0" * 128},
        {
            k: v
            for k, v in install_form(datetime(2026, 3, 3, 8, 0, tzinfo=ZoneInfo("UTC"))).items()
            if k != "hash"
        },
        signed(
            {"action": "install", "shop": LICENCE, "shop_url": SHOP_URL, "auth_code": "c"},
            secret="someone-elses-secret",
        ),
    ],
    ids=["forged-hash", "missing-hash", "signed-with-another-secret"],
)
def test_install_with_a_bad_hash_is_refused_and_stores_nothing(
    client: Any,
    shoper: responses.RequestsMock,
    factory: sessionmaker[Session],
    form: dict[str, str],
) -> None:
    answer = client.post("/shoper/appstore", data=form)

    assert answer.status_code == 403
    assert shop_count(factory) == 0
    assert len(shoper.calls) == 0  # not even the token exchange was tried


def test_a_changed_field_breaks_the_hash(
    client: Any, factory: sessionmaker[Session], clock: Clock
) -> None:
    form = install_form(clock.now)
    form["shop_url"] = "https://attacker.example"

    assert client.post("/shoper/appstore", data=form).status_code == 403
    assert shop_count(factory) == 0


def test_repeated_install_updates_the_same_shop_with_new_tokens_and_replaces_our_webhook(
    client: Any,
    shoper: responses.RequestsMock,
    factory: sessionmaker[Session],
    settings: Settings,
    clock: Clock,
) -> None:
    fake_shoper_install(shoper, access="access-1", refresh="refresh-1", webhook_id=42)
    assert (
        client.post("/shoper/appstore", data=install_form(clock.now, code="code-1")).status_code
        == 200
    )
    first = the_shop(factory)

    shoper.reset()
    foreign = {"webhook_id": "7", "url": "https://other-app.example/hook"}
    ours = {"webhook_id": "42", "url": our_webhook_url(first)}
    fake_shoper_install(
        shoper,
        access="access-2",
        refresh="refresh-2",
        existing=(foreign, ours),
        webhook_id=43,
        profile={**PROFILE, "default_language_name": "en_GB"},
    )
    shoper.delete(f"{WEBHOOKS_URL}/42", body="")
    later = clock.advance(days=2)
    assert (
        client.post("/shoper/appstore", data=install_form(later, code="code-2")).status_code == 200
    )

    box = CredentialBox(settings.secret_key)
    second = the_shop(factory)
    assert shop_count(factory) == 1
    assert (second.id, second.ref, second.public_key) == (first.id, first.ref, first.public_key)
    assert box.open(second.access_token_enc) == "access-2"
    assert box.open(second.refresh_token_enc) == "refresh-2"
    assert second.language == "en"  # the profile is read again
    assert [c.request.url for c in calls_to(shoper, "DELETE", f"{WEBHOOKS_URL}/42")] == [
        f"{WEBHOOKS_URL}/42"
    ]
    assert calls_to(shoper, "DELETE", f"{WEBHOOKS_URL}/7") == []  # not ours: left alone
    (created,) = calls_to(shoper, "POST", WEBHOOKS_URL)
    new_secret = json.loads(created.request.body)["secret"]
    assert new_secret == box.open(second.webhook_secret_enc)
    assert new_secret != box.open(first.webhook_secret_enc)
    assert second.webhook_ids == [43]


def test_token_exchange_refused_answers_400_and_stores_nothing(
    client: Any, shoper: responses.RequestsMock, factory: sessionmaker[Session], clock: Clock
) -> None:
    shoper.post(
        TOKEN_URL,
        status=400,
        json={
            "error": "invalid_grant",
            "error_description": "Authorization code doesn't exist or is invalid",
        },
    )

    answer = client.post("/shoper/appstore", data=install_form(clock.now))

    assert answer.status_code == 400
    assert "invalid_grant" in answer.get_json()["message"]
    assert shop_count(factory) == 0
    assert calls_to(shoper, "GET", CONFIG_URL) == []


def test_shoper_failing_the_token_exchange_answers_503_with_retry_after_and_stores_nothing(
    client: Any, shoper: responses.RequestsMock, factory: sessionmaker[Session], clock: Clock
) -> None:
    shoper.post(TOKEN_URL, status=502, body="Bad Gateway")

    answer = client.post("/shoper/appstore", data=install_form(clock.now))

    assert answer.status_code == 503
    assert int(answer.headers["Retry-After"]) > 0
    assert shop_count(factory) == 0
    assert len(calls_to(shoper, "POST", TOKEN_URL)) == 1  # a code is single-use: never retried


def test_profile_failing_after_a_good_token_exchange_still_creates_webhooks_and_is_retried(
    client: Any,
    worker: Any,
    shoper: responses.RequestsMock,
    factory: sessionmaker[Session],
    settings: Settings,
    clock: Clock,
) -> None:
    """The order webhooks matter most (without them no reminder may go out): a profile
    Shoper refuses must not hold them back. The profile is retried by the worker."""
    shoper.post(TOKEN_URL, json=tokens("access-1", "refresh-1"))
    shoper.get(CONFIG_URL, status=403, json={"error": "insufficient_scope"})
    shoper.get(WEBHOOKS_URL, json=webhook_page())
    shoper.post(WEBHOOKS_URL, json=42)

    answer = client.post("/shoper/appstore", data=install_form(clock.now))

    assert answer.status_code == 200  # the code is spent: the shop must be kept
    shop = the_shop(factory)
    assert shop.status == "active"
    assert shop.webhooks_registered is True and shop.webhook_ids == [42]
    assert "shop profile not read" in shop.setup_error
    assert "insufficient_scope" in shop.setup_error
    assert CredentialBox(settings.secret_key).open(shop.access_token_enc) == "access-1"

    shoper.reset()
    shoper.get(CONFIG_URL, json=PROFILE)
    report = worker.tick(clock.advance(minutes=1))

    assert report.shops_maintained == 1
    shop = the_shop(factory)
    assert shop.name == "Ceramika Nowak"
    assert shop.setup_error == ""
    assert shop.webhook_ids == [42]  # kept: not re-created under in-flight deliveries
    assert calls_to(shoper, "POST", WEBHOOKS_URL) == []
    assert worker.tick(clock.advance(minutes=1)).shops_maintained == 0  # done: not again


def test_webhooks_failing_at_install_are_created_by_the_worker(
    client: Any,
    worker: Any,
    shoper: responses.RequestsMock,
    factory: sessionmaker[Session],
    settings: Settings,
    clock: Clock,
) -> None:
    shoper.post(TOKEN_URL, json=tokens("access-1", "refresh-1"))
    shoper.get(CONFIG_URL, json=PROFILE)
    shoper.get(WEBHOOKS_URL, status=503)

    assert client.post("/shoper/appstore", data=install_form(clock.now)).status_code == 200
    shop = the_shop(factory)
    assert shop.webhooks_registered is False
    assert "order webhooks not created" in shop.setup_error

    shoper.reset()
    shoper.get(CONFIG_URL, json=PROFILE)
    shoper.get(WEBHOOKS_URL, json=webhook_page())
    shoper.post(WEBHOOKS_URL, json=51)
    worker.tick(clock.advance(minutes=1))

    shop = the_shop(factory)
    assert shop.webhooks_registered is True and shop.webhook_ids == [51]
    assert shop.setup_error == ""
    (created,) = calls_to(shoper, "POST", WEBHOOKS_URL)
    assert json.loads(created.request.body)["secret"] == CredentialBox(settings.secret_key).open(
        shop.webhook_secret_enc
    )


def test_reinstall_whose_setup_fails_is_finished_by_the_worker_too(
    client: Any,
    worker: Any,
    shoper: responses.RequestsMock,
    factory: sessionmaker[Session],
    clock: Clock,
) -> None:
    fake_shoper_install(shoper, webhook_id=42)
    client.post("/shoper/appstore", data=install_form(clock.now, code="code-1"))
    first = the_shop(factory)

    shoper.reset()
    shoper.post(TOKEN_URL, json=tokens("access-2", "refresh-2"))
    shoper.get(CONFIG_URL, status=403, json={"error": "insufficient_scope"})
    assert (
        client.post(
            "/shoper/appstore", data=install_form(clock.advance(days=1), code="code-2")
        ).status_code
        == 200
    )
    assert the_shop(factory).webhooks_registered is False

    shoper.reset()
    shoper.get(CONFIG_URL, json=PROFILE)
    shoper.get(WEBHOOKS_URL, json=webhook_page({"webhook_id": "42", "url": our_webhook_url(first)}))
    shoper.delete(f"{WEBHOOKS_URL}/42", body="")
    shoper.post(WEBHOOKS_URL, json=44)
    worker.tick(clock.advance(minutes=1))

    shop = the_shop(factory)
    assert shop.webhooks_registered is True and shop.webhook_ids == [44]
    assert len(calls_to(shoper, "DELETE", f"{WEBHOOKS_URL}/42")) == 1


# --- uninstall -----------------------------------------------------------------------------


def test_uninstall_forgets_credentials_and_cancels_pending_messages(
    client: Any, worker: Any, factory: sessionmaker[Session], settings: Settings, clock: Clock
) -> None:
    shop = make_shop(factory, settings, now=clock.now, licence=LICENCE)
    post_cart(client, shop, cart_snapshot(at=clock.now), confirmed=True)
    worker.tick(clock.now)
    worker.tick(clock.advance(minutes=31))
    assert {m.status for m in messages(factory, shop.id)} == {"scheduled"}

    answer = client.post("/shoper/appstore", data=callback("uninstall", clock.advance(minutes=1)))

    assert answer.status_code == 200
    stored = the_shop(factory)
    assert stored.status == "uninstalled"
    assert stored.uninstalled_at == clock.now
    assert (stored.access_token_enc, stored.refresh_token_enc, stored.webhook_secret_enc) == (
        None,
        None,
        None,
    )
    assert stored.webhooks_registered is False
    planned = messages(factory, shop.id)
    assert planned and {(m.status, m.reason) for m in planned} == {
        ("cancelled", "shop uninstalled")
    }
    assert worker.tick(clock.advance(hours=2)).dispatch.sent == 0


def test_uninstall_older_than_the_last_install_is_ignored(
    client: Any,
    shoper: responses.RequestsMock,
    factory: sessionmaker[Session],
    settings: Settings,
    clock: Clock,
) -> None:
    fake_shoper_install(shoper)
    installed_at = clock.now
    assert client.post("/shoper/appstore", data=install_form(installed_at)).status_code == 200

    clock.advance(minutes=5)  # the late uninstall arrives after the install, but was sent before it
    answer = client.post(
        "/shoper/appstore", data=callback("uninstall", installed_at - timedelta(minutes=10))
    )

    assert answer.status_code == 200
    assert answer.get_json()["result"] == "stale callback ignored"
    shop = the_shop(factory)
    assert shop.status == "active"
    assert CredentialBox(settings.secret_key).open(shop.access_token_enc) == "access-1"
    assert shop.webhook_secret_enc is not None


def test_uninstall_of_an_unknown_shop_is_404(
    client: Any, factory: sessionmaker[Session], clock: Clock
) -> None:
    answer = client.post("/shoper/appstore", data=callback("uninstall", clock.now))

    assert answer.status_code == 404
    assert shop_count(factory) == 0


def test_install_after_uninstall_reactivates_the_same_shop(
    client: Any,
    shoper: responses.RequestsMock,
    factory: sessionmaker[Session],
    settings: Settings,
    clock: Clock,
) -> None:
    fake_shoper_install(shoper)
    client.post("/shoper/appstore", data=install_form(clock.now, code="code-1"))
    client.post("/shoper/appstore", data=callback("uninstall", clock.advance(hours=1)))
    assert the_shop(factory).status == "uninstalled"

    shoper.reset()
    fake_shoper_install(shoper, access="access-2", refresh="refresh-2", webhook_id=60)
    assert (
        client.post(
            "/shoper/appstore", data=install_form(clock.advance(days=1), code="code-2")
        ).status_code
        == 200
    )

    shop = the_shop(factory)
    assert shop_count(factory) == 1
    assert shop.status == "active" and shop.uninstalled_at is None
    assert CredentialBox(settings.secret_key).open(shop.access_token_enc) == "access-2"
    assert shop.webhook_ids == [60]


# --- tokens, upgrade, unknown actions ------------------------------------------------------


def test_worker_refreshes_a_token_expiring_within_a_day_and_stores_the_rotated_refresh_token(
    client: Any,
    worker: Any,
    shoper: responses.RequestsMock,
    factory: sessionmaker[Session],
    settings: Settings,
    clock: Clock,
) -> None:
    fake_shoper_install(shoper, access="access-1", refresh="refresh-1")
    client.post("/shoper/appstore", data=install_form(clock.now))
    installed_at = clock.now
    assert worker.tick(clock.advance(days=28)).shops_maintained == 0  # two days left: not yet

    shoper.reset()
    shoper.post(TOKEN_URL, json=tokens("access-2", "refresh-2"))
    refreshed_at = clock.set(installed_at + timedelta(days=29, hours=12))  # twelve hours left
    assert worker.tick(refreshed_at).shops_maintained == 1

    (call,) = calls_to(shoper, "POST", TOKEN_URL)
    assert parse_qs(urlsplit(call.request.url).query) == {"grant_type": ["refresh_token"]}
    assert parse_qs(call.request.body) == {"refresh_token": ["refresh-1"]}
    assert (
        call.request.headers["Authorization"]
        == "Basic " + base64.b64encode(b"app-id:app-secret").decode()
    )
    box = CredentialBox(settings.secret_key)
    shop = the_shop(factory)
    assert box.open(shop.access_token_enc) == "access-2"
    assert box.open(shop.refresh_token_enc) == "refresh-2"
    assert shop.token_expires_at == refreshed_at + timedelta(seconds=MONTH)


def test_upgrade_stores_the_application_version(
    client: Any, shoper: responses.RequestsMock, factory: sessionmaker[Session], clock: Clock
) -> None:
    fake_shoper_install(shoper)
    client.post("/shoper/appstore", data=install_form(clock.now, version="3"))

    answer = client.post(
        "/shoper/appstore", data=callback("upgrade", clock.advance(days=1), application_version="4")
    )

    assert answer.status_code == 200
    assert the_shop(factory).app_version == "4"


def test_unknown_action_is_400(client: Any, factory: sessionmaker[Session], clock: Clock) -> None:
    answer = client.post("/shoper/appstore", data=callback("reinstall_everything", clock.now))

    assert answer.status_code == 400
    assert answer.get_json()["field"] == "action"
    assert shop_count(factory) == 0


def test_install_follows_the_shops_redirect_to_https_for_the_token_exchange(
    client: Any,
    shoper: responses.RequestsMock,
    factory: sessionmaker[Session],
    settings: Settings,
    clock: Clock,
) -> None:
    """platforms.md: `shop_url` may redirect (http -> https, custom domain); the redirected
    request never reached the token endpoint, so the code is still good at the new address."""
    shoper.post(
        "http://sklep.example/webapi/rest/oauth/token",
        status=301,
        headers={"Location": f"{TOKEN_URL}?grant_type=authorization_code"},
    )
    fake_shoper_install(shoper)
    form = install_form(clock.now)
    del form["hash"]
    form = signed({**form, "shop_url": "http://sklep.example"})

    answer = client.post("/shoper/appstore", data=form)

    assert answer.status_code == 200, answer.get_json()
    (exchange,) = calls_to(shoper, "POST", TOKEN_URL)
    assert parse_qs(exchange.request.body) == {"code": ["auth-code-1"]}
    shop = the_shop(factory)
    assert shop.shop_url == SHOP_URL
    assert CredentialBox(settings.secret_key).open(shop.access_token_enc) == "access-1"
    assert shop.webhooks_registered is True


def test_install_redirected_to_plain_http_is_refused_and_stores_nothing(
    client: Any, shoper: responses.RequestsMock, factory: sessionmaker[Session], clock: Clock
) -> None:
    shoper.post(TOKEN_URL, status=302, headers={"Location": "http://elsewhere.example/token"})

    answer = client.post("/shoper/appstore", data=install_form(clock.now))

    assert answer.status_code == 400
    assert shop_count(factory) == 0
    assert len(shoper.calls) == 1  # our app secret is never sent in clear text


def test_install_survives_unreadable_entries_in_the_webhook_list(
    client: Any, shoper: responses.RequestsMock, factory: sessionmaker[Session], clock: Clock
) -> None:
    shoper.post(TOKEN_URL, json=tokens("access-1", "refresh-1"))
    shoper.get(CONFIG_URL, json=PROFILE)
    shoper.get(
        WEBHOOKS_URL,
        json=webhook_page(
            {"url": "https://retention.example/shoper/webhooks/whatever"},  # no id
            "not-an-object",  # type: ignore[arg-type]
        ),
    )
    shoper.post(WEBHOOKS_URL, json=42)

    answer = client.post("/shoper/appstore", data=install_form(clock.now))

    assert answer.status_code == 200
    shop = the_shop(factory)
    assert shop.webhooks_registered is True and shop.webhook_ids == [42]


def test_a_failed_token_refresh_leaves_working_webhooks_registered(
    worker: Any,
    shoper: responses.RequestsMock,
    factory: sessionmaker[Session],
    settings: Settings,
    clock: Clock,
) -> None:
    """A passing Shoper outage must not mark the order webhooks missing (that would hold
    every reminder and later re-create the webhooks under deliveries in flight)."""
    from tests.support import make_shop

    box = CredentialBox(settings.secret_key)
    handle = make_shop(
        factory,
        settings,
        now=clock.now,
        shop_url=SHOP_URL,
        refresh_token_enc=box.seal("refresh-1"),
    )
    with factory() as session, session.begin():
        stored = session.get(Shop, handle.id)
        assert stored is not None
        stored.token_expires_at = clock.now + timedelta(hours=2)
    shoper.post(TOKEN_URL, status=503)
    worker.tick(clock.now)
    worker.tick(clock.advance(minutes=5))  # past the back-off: tried again, fails again
    with factory() as session:
        shop = session.get(Shop, handle.id)
    assert shop is not None
    assert "token refresh failed" in shop.setup_error or "no access" in shop.setup_error
    assert shop.webhooks_registered is True
    assert calls_to(shoper, "POST", WEBHOOKS_URL) == []


# --- signed timestamps: callbacks and the admin iframe ---------------------------------------

UNREADABLE_TIMESTAMPS = [
    "9" * 30,  # no clock holds it (it raised OverflowError: a 500)
    "99999999999999",  # year 3 million: out of range too
    "0001-01-01 00:30:00",  # Warsaw wall clock with no UTC equivalent (OverflowError)
    "yesterday",
    "2026-03-03",
    "2026-02-30 09:00:00",
    "2026-03-03 09:00:00 extra",
    "",
    "٣٣٣٣٣٣",  # digits, but not ASCII ones
]


def callback_at(action: str, timestamp: str, **extra: str) -> dict[str, str]:
    form = {"action": action, "shop": LICENCE, "shop_url": SHOP_URL, "application_code": "app-id"}
    return signed({**form, "timestamp": timestamp, **extra})


@pytest.mark.parametrize("timestamp", UNREADABLE_TIMESTAMPS)
def test_a_callback_with_an_unreadable_timestamp_is_403_and_changes_nothing(
    client: Any,
    shoper: responses.RequestsMock,
    factory: sessionmaker[Session],
    settings: Settings,
    clock: Clock,
    timestamp: str,
) -> None:
    shop = make_shop(factory, settings, now=clock.now, licence=LICENCE)
    answer = client.post("/shoper/appstore", data=callback_at("uninstall", timestamp))
    assert answer.status_code == 403
    assert answer.get_json()["error"] == "forbidden"
    stored = the_shop(factory)
    assert (stored.id, stored.status, stored.last_callback_at) == (shop.id, "active", None)
    answer = client.post("/shoper/appstore", data=callback_at("install", timestamp, auth_code="c"))
    assert answer.status_code == 403
    assert len(shoper.calls) == 0


def test_the_hash_is_checked_before_the_timestamp(client: Any, clock: Clock) -> None:
    form = callback_at("uninstall", "9" * 30)
    form["hash"] = "0" * 128
    answer = client.post("/shoper/appstore", data=form)
    assert answer.status_code == 403
    assert answer.get_json()["message"] == "bad or missing hash"


def test_a_callback_from_more_than_ten_minutes_ahead_is_refused(
    client: Any, factory: sessionmaker[Session], settings: Settings, clock: Clock
) -> None:
    """Stored as the last callback, it would make every real callback until then stale."""
    make_shop(factory, settings, now=clock.now, licence=LICENCE)
    ahead = callback("upgrade", clock.now + timedelta(minutes=11), application_version="9")
    assert client.post("/shoper/appstore", data=ahead).status_code == 403
    assert the_shop(factory).last_callback_at is None

    skewed = callback("upgrade", clock.now + timedelta(minutes=9), application_version="4")
    assert client.post("/shoper/appstore", data=skewed).status_code == 200
    assert the_shop(factory).app_version == "4"


def test_a_callback_timestamp_in_unix_seconds_is_read(
    client: Any, factory: sessionmaker[Session], settings: Settings, clock: Clock
) -> None:
    make_shop(factory, settings, now=clock.now, licence=LICENCE)
    sent = clock.now - timedelta(seconds=30)
    form = callback_at("upgrade", str(int(sent.timestamp())), application_version="5")
    assert client.post("/shoper/appstore", data=form).status_code == 200
    shop = the_shop(factory)
    assert (shop.app_version, shop.last_callback_at) == ("5", sent)


def iframe_url(timestamp: str, secret: str = "appstore-secret") -> str:
    signed_text = f"place=app&shop={LICENCE}&timestamp={timestamp}"
    digest = hmac.new(secret.encode(), signed_text.encode(), hashlib.sha512).hexdigest()
    query = {"place": "app", "shop": LICENCE, "timestamp": timestamp, "hash": digest}
    return "/shoper/app?" + urlencode(query)


@pytest.mark.parametrize("timestamp", UNREADABLE_TIMESTAMPS)
def test_the_settings_page_refuses_an_unreadable_iframe_timestamp(
    client: Any, factory: sessionmaker[Session], settings: Settings, clock: Clock, timestamp: str
) -> None:
    """It opened with no expiry at all: a link from browser history worked for ever."""
    make_shop(factory, settings, now=clock.now, licence=LICENCE)
    answer = client.get(iframe_url(timestamp))
    assert answer.status_code == 403
    assert "Sklep Testowy" not in answer.get_data(as_text=True)


def test_the_settings_page_opens_from_a_fresh_iframe_url_in_either_format(
    client: Any, factory: sessionmaker[Session], settings: Settings, clock: Clock
) -> None:
    make_shop(factory, settings, now=clock.now, licence=LICENCE)
    assert client.get(iframe_url(warsaw(clock.now - timedelta(minutes=5)))).status_code == 200
    unix = str(int((clock.now - timedelta(minutes=5)).timestamp()))
    assert client.get(iframe_url(unix)).status_code == 200
    stale = str(int((clock.now - timedelta(hours=3)).timestamp()))
    assert client.get(iframe_url(stale)).status_code == 403
