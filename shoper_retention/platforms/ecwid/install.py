"""Ecwid installs: a store's token arrives either through OAuth (an install started outside the
App Market: `GET /ecwid/oauth/callback?code=`) or inside the admin iframe's encrypted payload
(app_page.py), the first time the merchant opens the app. Either way the store is activated
here: its token stored encrypted, its profile read, our storefront config put in its app
storage, its history import requested.

Ecwid tokens never expire and have no refresh (platforms.md), and webhooks are declared in the
app's registration, not created per store: once the token is stored there is nothing else to
register. Reading the profile and saving the storefront config happen with no transaction
open (on SQLite an open transaction holds the write lock every webhook needs): right after the
OAuth install, or by the worker (`maintain`) for a store activated from the admin, and again
after a failure."""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import requests
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from shoper_retention import shop_config
from shoper_retention.commerce import history
from shoper_retention.credentials import CredentialBox
from shoper_retention.errors import BadInput, Forbidden, NotFound, UpstreamFailed
from shoper_retention.manifest import scopes
from shoper_retention.messaging.locales import language_of
from shoper_retention.models import Shop
from shoper_retention.platforms.ecwid import api
from shoper_retention.platforms.ecwid.clients import PLATFORM
from shoper_retention.platforms.setup_backoff import SetupBackoff
from shoper_retention.settings import Settings

log = logging.getLogger(__name__)
CALLBACK_PATH = "/ecwid/oauth/callback"
# The token check runs inside the settings page's transaction (on SQLite, the write lock every
# webhook needs, and Ecwid gives a webhook 10 s): a slow Ecwid is answered 503 sooner.
CHECK_TIMEOUT = 4.0
MAX_CODE_LENGTH = 512  # Ecwid's codes are short; a longer one is not worth a token exchange
# Ecwid's codes live "a few minutes" (includes/_authentication.md): one seen longer ago than
# this cannot be exchanged anyway.
CODE_MEMORY = timedelta(minutes=30)
MAX_CODES_REMEMBERED = 10_000
LINK_EXPIRED = "this link is no longer valid: open the app again from your Ecwid admin"
# What the settings page shows (shop.setup_error) while the store cannot be read.
TOKEN_REFUSED = (
    "Ecwid refused the app's access token: open the app again in the Ecwid admin"
    " (if this message stays, install the app there again)"
)
TOKEN_MISSING = "no usable access token is stored: open the app again in the Ecwid admin"
# Written where a store is activated; the worker takes such a store at its next pass.
SETUP_PENDING = "the storefront settings are being saved in Ecwid (a minute or two)"


class CodeSpent(Exception):
    """This code was exchanged here already: exchanging it again would disable its token."""

    def __init__(self, installed: bool) -> None:
        super().__init__("code already exchanged")
        self.installed = installed


class EcwidInstaller:
    def __init__(self, settings: Settings, http: requests.Session | None = None) -> None:
        self.settings = settings
        self.box = CredentialBox(settings.secret_key)
        self.http = http or requests.Session()
        # Back-off for stores whose set-up keeps failing (per process: a restart retries now).
        self.backoff = SetupBackoff()
        # Stores whose token a webhook's read found refused (or missing), with the sealed
        # token that was refused: recorded on the shop by the next `maintain`.
        self._refused: dict[int, str | None] = {}
        # sha256 of each code this process exchanged: when, and whether it installed.
        self._codes: dict[str, tuple[datetime, bool]] = {}
        self._codes_lock = threading.Lock()

    @property
    def redirect_uri(self) -> str:
        return f"{self.settings.public_url}{CALLBACK_PATH}"

    # --- entries ----------------------------------------------------------------------------
    def install_from_code(self, factory: sessionmaker[Session], code: str, now: datetime) -> int:
        """Exchange an OAuth code and activate its store; returns the shop's id. The code is
        single-use, and a second exchange disables the token the first returned
        (platforms.md): it is sent once, never retried, and never again by this process
        (CodeSpent). The exchange and the set-up's REST calls run with no transaction open;
        the token is stored in a short one between them."""
        if not self.settings.ecwid_enabled:
            raise NotFound("Ecwid is not configured on this server")
        code = code.strip()
        if not code or len(code) > MAX_CODE_LENGTH or not code.isprintable():
            raise BadInput("missing or malformed code", field="code")
        digest = self._claim_code(code, now)
        installed = False
        try:
            grant = self._exchange(code)
            store_id = store_id_text(grant.store_id)
            missing = sorted(set(scopes(PLATFORM)) - set(grant.scopes))
            if grant.scopes and missing:
                log.warning("Ecwid store %s granted no %s", store_id, ", ".join(missing))
            with factory() as session, session.begin():
                shop = self.activate(
                    session, store_id, grant.access_token, now, granted=grant.scopes
                )
                shop_id = shop.id
            installed = True
        finally:
            with self._codes_lock:
                self._codes[digest] = (now, installed)
        try:
            self.finish_setup(factory, shop_id, now)
        except SQLAlchemyError:
            # The token is stored and the code spent: the install stands, and the worker
            # finishes the set-up (SETUP_PENDING).
            log.exception("shop %s: set-up left to the worker", shop_id)
        return shop_id

    def _claim_code(self, code: str, now: datetime) -> str:
        """Note a code before it is sent; CodeSpent if this process sent it before (a reload
        of the callback, a restored tab, a double click). Per process: the redirect after an
        install (views.py) keeps the code out of the browser's history for the rest."""
        digest = hashlib.sha256(code.encode()).hexdigest()
        with self._codes_lock:
            seen = self._codes.get(digest)
            if seen is not None and seen[0] > now - CODE_MEMORY:
                raise CodeSpent(installed=seen[1])
            if len(self._codes) >= MAX_CODES_REMEMBERED:
                self._codes = {k: v for k, v in self._codes.items() if v[0] > now - CODE_MEMORY}
            while len(self._codes) >= MAX_CODES_REMEMBERED:  # a flood of made-up codes
                del self._codes[next(iter(self._codes))]
            self._codes[digest] = (now, False)
        return digest

    def _exchange(self, code: str) -> api.TokenGrant:
        try:
            return api.exchange_code(
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

    def check_token(self, store_id: str, token: str) -> dict[str, Any]:
        """The store's profile, read with `token`: Ecwid's word that the token works now.
        Forbidden when Ecwid refuses it (an uninstalled store's, from an old payload);
        UpstreamFailed when Ecwid does not answer: no token is taken unconfirmed."""
        client = api.EcwidClient(
            self.settings.ecwid_api_url,
            store_id,
            token,
            http=self.http,
            timeout=CHECK_TIMEOUT,
            max_retries=0,
        )
        try:
            return client.profile()
        except api.EcwidAuthError:
            raise Forbidden(LINK_EXPIRED) from None
        except api.EcwidError as exc:
            log.info("Ecwid store %s: token not checked: %s", store_id, exc.message)
            raise UpstreamFailed(
                "Ecwid is not answering right now: open the app again in a few minutes"
            ) from None

    def adopt_token(self, session: Session, shop: Shop, token: str, now: datetime) -> None:
        """The admin iframe brought a token other than the one stored. Taken only once Ecwid
        accepts it: an old payload replayed from browser history must not swap a working
        token for a revoked one (Forbidden), and one Ecwid cannot vouch for now is not taken
        (UpstreamFailed)."""
        profile = self.check_token(shop.platform_shop_id, token)
        self._store_token(shop, token)
        read_profile(shop, profile)
        if shop.setup_error:
            # Whatever failed may have failed for the old token: the worker tries again now.
            shop.setup_error = SETUP_PENDING

    def activate(
        self,
        session: Session,
        store_id: str,
        token: str,
        now: datetime,
        *,
        granted: tuple[str, ...] | None = None,
        profile: dict[str, Any] | None = None,
    ) -> Shop:
        """Install, re-install or refresh a store with a token Ecwid gave or confirmed: the
        token stored, the `profile` read if given, the rest of the set-up left for
        `finish_setup` (SETUP_PENDING), the history import requested. No REST here."""
        shop = find_shop(session, store_id) or self._new_shop(session, store_id, now)
        shop.status = "active"
        shop.uninstalled_at = None
        if granted is not None:
            shop.scopes = ",".join(granted)
        self._store_token(shop, token)
        if profile is not None:
            read_profile(shop, profile)
        shop.setup_error = SETUP_PENDING
        session.flush()
        # Past customers and orders for birthdays and anniversaries; a re-install also fills
        # in what happened while the app was away. One already running goes on.
        history.request_import(session, shop, now)
        return shop

    def _new_shop(self, session: Session, store_id: str, now: datetime) -> Shop:
        """A new row; when a concurrent first opening wins the unique (platform, id), its row."""
        try:
            with session.begin_nested():
                shop = Shop.new(PLATFORM, store_id, now)
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

    def note_refused(self, shop_id: int, sealed_token: str | None) -> None:
        """A webhook's read found the store's token refused or missing: the next `maintain`
        tells the merchant on the settings page (a refusal proves nothing about a token
        stored since, so the sealed one is kept to compare)."""
        self._refused[shop_id] = sealed_token

    # --- set-up that needs REST -------------------------------------------------------------
    def finish_setup(
        self,
        factory: sessionmaker[Session],
        shop_id: int,
        now: datetime,
    ) -> bool:
        """Read the store's profile and put our storefront config, each on its own (the
        config matters most: without it the storefront script cannot find the shop), with
        no transaction open during the calls; the outcome is stored in a short one, unless
        the store was uninstalled or given another token meanwhile. What failed is recorded
        and retried by `maintain`."""
        with factory() as session:
            shop = session.get(Shop, shop_id)
            if shop is None or not shop.active:
                return False
            sealed, store_id, config = (
                shop.access_token_enc,
                shop.platform_shop_id,
                public_config(shop),
            )
        error, profile = self._set_up_at_ecwid(store_id, sealed, config)
        with factory() as session, session.begin():
            shop = session.get(Shop, shop_id, with_for_update=True)
            if shop is None or not shop.active or shop.access_token_enc != sealed:
                return False
            if profile is not None:
                read_profile(shop, profile)
            shop.setup_error = error
        if error:
            log.warning("shop %s: %s", shop_id, error)
            self.backoff.failed(shop_id, now)
        else:
            self.backoff.succeeded(shop_id)
        return not error

    def _set_up_at_ecwid(
        self, store_id: str, sealed: str | None, config: str
    ) -> tuple[str, dict[str, Any] | None]:
        """The REST half of the set-up: (what went wrong or '', the profile if read)."""
        token = self.box.open(sealed)
        if not token:
            return TOKEN_MISSING, None
        client = api.EcwidClient(
            self.settings.ecwid_api_url, store_id, token, http=self.http, max_retries=0
        )
        problems: list[str] = []
        profile: dict[str, Any] | None = None
        try:
            profile = client.profile()
        except api.EcwidAuthError:
            return TOKEN_REFUSED, None  # nothing more would work with this token
        except api.EcwidError as exc:
            problems.append(f"store profile not read: {exc.message}")
        try:
            client.set_public_config(config)
        except api.EcwidError as exc:
            problems.append(f"storefront config not saved: {exc.message}")
        if not problems:
            return "", profile
        return ("Ecwid set-up incomplete: " + "; ".join(problems))[:500], profile

    # --- worker job -------------------------------------------------------------------------
    def maintain(self, factory: sessionmaker[Session], now: datetime) -> int:
        """Tell the merchants whose token a webhook found refused, then finish set-ups that are
        pending or failed, one store at a time; returns the stores tried."""
        self._record_refusals(factory, now)
        with factory() as session:
            rows = session.execute(
                select(Shop.id, Shop.setup_error)
                .where(Shop.platform == PLATFORM, Shop.status == "active")
                .where(Shop.setup_error != "", Shop.access_token_enc.is_not(None))
                .order_by(Shop.id)
                .limit(100)
            ).all()
        # A store activated since is due now; one whose set-up failed backs off.
        due = [i for i, error in rows if error == SETUP_PENDING or self.backoff.due(i, now)]
        for shop_id in due:
            self.finish_setup(factory, shop_id, now)
        return len(due)

    def _record_refusals(self, factory: sessionmaker[Session], now: datetime) -> None:
        refused, self._refused = self._refused, {}
        for shop_id, sealed in refused.items():
            with factory() as session, session.begin():
                shop = session.get(Shop, shop_id, with_for_update=True)
                if shop is None or not shop.active or shop.access_token_enc != sealed:
                    continue  # uninstalled, or a new token came since
                shop.setup_error = TOKEN_REFUSED if self.box.open(sealed) else TOKEN_MISSING
                log.warning("shop %s: %s", shop_id, shop.setup_error)
            self.backoff.failed(shop_id, now)


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
