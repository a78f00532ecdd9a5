"""Ecwid installs: a store's token arrives either through OAuth (an install started outside the
App Market: `GET /ecwid/oauth/callback?code=`) or inside the admin iframe's encrypted payload
(app_page.py), the first time the merchant opens the app. Either way the store is activated
here: its token stored encrypted, its profile read, our storefront config put in its app
storage, its history import requested.

Ecwid tokens never expire and have no refresh (platforms.md), and webhooks are declared in the
app's registration, not created per store: once the token is stored there is nothing else to
register. Reading the profile or saving the storefront config may fail after the token is
stored; the store is kept with the error and the worker finishes the set-up (`maintain`)."""

from __future__ import annotations

import json
import logging
import secrets
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import requests
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from shoper_retention import shop_config
from shoper_retention.commerce import history
from shoper_retention.credentials import CredentialBox
from shoper_retention.errors import BadInput, Forbidden, NotFound, UpstreamFailed
from shoper_retention.manifest import scopes
from shoper_retention.messaging.locales import language_of
from shoper_retention.models import Shop
from shoper_retention.platforms.ecwid import api
from shoper_retention.platforms.ecwid.clients import PLATFORM, client_for
from shoper_retention.settings import Settings

log = logging.getLogger(__name__)
CALLBACK_PATH = "/ecwid/oauth/callback"
SETUP_RETRY_BASE = timedelta(minutes=1)
SETUP_RETRY_MAX = timedelta(hours=6)
MAX_CODE_LENGTH = 512  # Ecwid's codes are short; a longer one is not worth a token exchange
LINK_EXPIRED = "this link is no longer valid: open the app again from your Ecwid admin"


class EcwidInstaller:
    def __init__(self, settings: Settings, http: requests.Session | None = None) -> None:
        self.settings = settings
        self.box = CredentialBox(settings.secret_key)
        self.http = http or requests.Session()
        # Back-off for stores whose set-up keeps failing (per process: a restart retries now).
        self._retry_at: dict[int, datetime] = {}
        self._failures: dict[int, int] = {}

    @property
    def redirect_uri(self) -> str:
        return f"{self.settings.public_url}{CALLBACK_PATH}"

    # --- entries ----------------------------------------------------------------------------
    def install_from_code(self, session: Session, code: str, now: datetime) -> Shop:
        """Exchange an OAuth code and activate its store. The code is single-use, and a
        second exchange disables the token the first returned (platforms.md): it is sent
        once, never retried."""
        if not self.settings.ecwid_enabled:
            raise NotFound("Ecwid is not configured on this server")
        code = code.strip()
        if not code or len(code) > MAX_CODE_LENGTH or not code.isprintable():
            raise BadInput("missing or malformed code", field="code")
        try:
            grant = api.exchange_code(
                self.http,
                self.settings.ecwid_oauth_url,
                self.settings.ecwid_client_id,
                self.settings.ecwid_client_secret,
                code,
                self.redirect_uri,
            )
        except api.EcwidUnavailable as exc:
            raise UpstreamFailed(
                "Ecwid did not answer the install; open the app again from your Ecwid admin"
            ) from exc
        except api.EcwidError as exc:
            log.info("Ecwid refused an install code: %s", exc.message)
            raise BadInput(
                "Ecwid refused this install link (it may have been used already): start the"
                " installation again"
            ) from exc
        store_id = store_id_text(grant.store_id)
        missing = sorted(set(scopes(PLATFORM)) - set(grant.scopes))
        if grant.scopes and missing:
            log.warning("Ecwid store %s granted no %s", store_id, ", ".join(missing))
        return self.activate(session, store_id, grant.access_token, now, granted=grant.scopes)

    def adopt_token(self, session: Session, shop: Shop, token: str, now: datetime) -> None:
        """The admin iframe brought a token other than the one stored. Taken only if Ecwid
        does not refuse it: an old payload replayed from browser history must not swap a
        working token for a revoked one."""
        client = api.EcwidClient(
            self.settings.ecwid_api_url,
            shop.platform_shop_id,
            token,
            http=self.http,
            max_retries=0,
        )
        try:
            profile: dict[str, Any] | None = client.profile()
        except api.EcwidAuthError:
            raise Forbidden(LINK_EXPIRED) from None
        except api.EcwidError:
            profile = None  # Ecwid is not answering now: the newest token is likelier right
        self._store_token(shop, token)
        self.finish_setup(session, shop, now, profile=profile)

    def activate(
        self,
        session: Session,
        store_id: str,
        token: str,
        now: datetime,
        *,
        granted: tuple[str, ...] | None = None,
    ) -> Shop:
        """Install, re-install or refresh a store: its token stored, its set-up finished (or
        recorded for `maintain`), its history import requested."""
        shop = find_shop(session, store_id) or self._new_shop(session, store_id, now)
        shop.status = "active"
        shop.uninstalled_at = None
        if granted is not None:
            shop.scopes = ",".join(granted)
        self._store_token(shop, token)
        session.flush()
        self.finish_setup(session, shop, now)
        # Past customers and orders for birthdays and anniversaries; a re-install also fills
        # in what happened while the app was away. One already running goes on.
        history.request_import(session, shop, now)
        return shop

    def _new_shop(self, session: Session, store_id: str, now: datetime) -> Shop:
        """A new row; when a concurrent first opening wins the unique (platform, id), its row."""
        try:
            with session.begin_nested():
                shop = Shop(
                    platform=PLATFORM,
                    platform_shop_id=store_id,
                    ref=secrets.token_urlsafe(12),
                    public_key=secrets.token_urlsafe(12),
                    report_token=secrets.token_urlsafe(24),
                    installed_at=now,
                    settings={},
                )
                session.add(shop)
                session.flush()
                return shop
        except IntegrityError:
            found = find_shop(session, store_id)
            if found is None:
                raise
            return found

    def _store_token(self, shop: Shop, token: str) -> None:
        shop.access_token_enc = self.box.seal(token)
        # Nothing to register: Ecwid delivers the webhooks declared in the app's registration
        # to every store that installed it (api-docs.ecwid.com/reference/set-up-webhooks).
        shop.webhooks_registered = True

    # --- set-up that needs REST -------------------------------------------------------------
    def finish_setup(
        self,
        session: Session,
        shop: Shop,
        now: datetime,
        *,
        profile: dict[str, Any] | None = None,
    ) -> bool:
        """Read the store's profile and put our storefront config, each on its own (the
        config matters most: without it the storefront script cannot find the shop). What
        failed is recorded and retried by `maintain`."""
        problems: list[str] = []
        try:
            client = client_for(self.settings, self.http, shop, max_retries=0)
        except api.EcwidError as exc:
            client = None
            problems.append(f"no access to the store's API: {exc.message}")
        if client is not None:
            try:
                read_profile(shop, profile if profile is not None else client.profile())
            except api.EcwidError as exc:
                problems.append(f"store profile not read: {exc.message}")
            try:
                client.set_public_config(public_config(shop))
            except api.EcwidError as exc:
                problems.append(f"storefront config not saved: {exc.message}")
        shop.setup_error = (
            ("Ecwid set-up incomplete: " + "; ".join(problems))[:500] if problems else ""
        )
        if problems:
            log.warning("shop %s: %s", shop.id, shop.setup_error)
            self._back_off(shop.id, now)
        else:
            self._retry_at.pop(shop.id, None)
            self._failures.pop(shop.id, None)
        return not problems

    def _back_off(self, shop_id: int, now: datetime) -> None:
        failures = self._failures.get(shop_id, 0)
        self._retry_at[shop_id] = now + min(SETUP_RETRY_BASE * 2**failures, SETUP_RETRY_MAX)
        self._failures[shop_id] = failures + 1

    # --- worker job -------------------------------------------------------------------------
    def maintain(self, factory: sessionmaker[Session], now: datetime) -> int:
        """Finish set-ups that failed, one store per transaction; returns the stores tried."""
        with factory() as session:
            shop_ids = list(
                session.scalars(
                    select(Shop.id)
                    .where(Shop.platform == PLATFORM, Shop.status == "active")
                    .where(Shop.setup_error != "", Shop.access_token_enc.is_not(None))
                    .order_by(Shop.id)
                    .limit(100)
                )
            )
        shop_ids = [i for i in shop_ids if self._retry_at.get(i, now) <= now]  # backing off
        for shop_id in shop_ids:
            with factory() as session, session.begin():
                shop = session.get(Shop, shop_id, with_for_update=True)
                if shop is not None and shop.active and shop.setup_error:
                    self.finish_setup(session, shop, now)
        return len(shop_ids)


def find_shop(session: Session, store_id: str) -> Shop | None:
    """The store's row, locked: two first openings of the app must not both set it up."""
    return session.scalars(
        select(Shop)
        .where(Shop.platform == PLATFORM, Shop.platform_shop_id == store_id)
        .with_for_update()
    ).first()


def store_id_text(value: object) -> str:
    """An Ecwid store id (a positive integer, as JSON number or text) in one canonical text
    form, so "1003", " 1003" and 1003 name one store; BadInput otherwise."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise BadInput("missing or malformed store id", field="storeId")
    text = str(value).strip()
    if not (text.isascii() and text.isdigit() and 0 < len(text) <= 20) or int(text) == 0:
        raise BadInput("missing or malformed store id", field="storeId")
    return str(int(text))


def public_config(shop: Shop) -> str:
    """What the storefront script reads with `Ecwid.getAppPublicConfig(appId)` to find the
    shop: its storefront key only, since anyone who knows our app id can read it
    (api-docs.ecwid.com/reference/public-application-config)."""
    return json.dumps({"public_key": shop.public_key})


def read_profile(shop: Shop, profile: dict[str, Any]) -> None:
    """`GET /profile` into the shop (api-docs.ecwid.com/reference/get-store-profile):
    generalInfo.storeUrl, settings.storeName, account.accountEmail, languages.defaultLanguage,
    formatsAndUnits.currency and .timezone, company.countryCode. What is missing or odd keeps
    the value the shop has."""
    general, settings = _part(profile, "generalInfo"), _part(profile, "settings")
    account, company = _part(profile, "account"), _part(profile, "company")
    formats, languages = _part(profile, "formatsAndUnits"), _part(profile, "languages")
    url = _text(general.get("storeUrl")).rstrip("/")
    if url.startswith(("https://", "http://")) and len(url) <= 255:
        shop.shop_url = url
    shop.name = (_text(settings.get("storeName")) or shop.name)[:255]
    email = _text(account.get("accountEmail")) or _text(company.get("email"))
    if "@" in email and len(email) <= 255:
        shop.email = email
    language = _text(languages.get("defaultLanguage"))
    if language:
        shop.language = language_of(language)
    currency = _text(formats.get("currency")).upper()
    if len(currency) == 3 and currency.isascii() and currency.isalpha():
        shop.currency = currency
    zone = _text(formats.get("timezone")) or _text(profile.get("timezone"))
    try:
        ZoneInfo(zone)
        shop.timezone = zone
    except (ZoneInfoNotFoundError, ValueError):
        pass  # keep the default (Europe/Warsaw)
    # settings.abandonedSales.autoAbandonedSalesRecovery: Ecwid's own reminder e-mail; with
    # ours on too, shoppers get two (api-docs.ecwid.com/reference/get-store-profile).
    abandoned = _part(settings, "abandonedSales")
    if isinstance(abandoned.get("autoAbandonedSalesRecovery"), bool):
        own = abandoned["autoAbandonedSalesRecovery"]
        shop_config.update(shop, {"platform": {"own_cart_reminders": own}})
    country = _text(company.get("countryCode")).upper()
    if len(country) == 2 and country.isascii() and country.isalpha():
        shop.country = country


def _part(profile: dict[str, Any], name: str) -> dict[str, Any]:
    value = profile.get(name)
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""
