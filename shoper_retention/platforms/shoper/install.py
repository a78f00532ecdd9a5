"""Shoper App Store lifecycle: install (tokens, shop profile, our webhooks), uninstall, billing,
upgrade; and keeping the OAuth tokens fresh.

Install does the token exchange in the request (the code is single-use and short-lived); if
reading the profile or creating webhooks fails after that, the shop is stored with the error
and the worker finishes the set-up (`finish_setups`), so a passing Shoper hiccup loses nothing."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import requests
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from shoper_retention.commerce import history
from shoper_retention.credentials import CredentialBox
from shoper_retention.errors import BadInput, Forbidden, UnknownShop, UpstreamFailed
from shoper_retention.ingest import state
from shoper_retention.manifest import webhook_events
from shoper_retention.messaging.coupons import CouponUnavailable, CreateAtPlatform
from shoper_retention.messaging.locales import language_of
from shoper_retention.models import Shop
from shoper_retention.platforms.setup_backoff import SetupBackoff
from shoper_retention.platforms.shoper import api, signature
from shoper_retention.settings import Settings

log = logging.getLogger(__name__)
PLATFORM = "shoper"
REFRESH_MARGIN = timedelta(days=1)
ACTIONS = ("install", "uninstall", "billing_install", "billing_subscription", "upgrade")
# A callback dated later than this is refused: stored as the shop's last callback, it would
# make every real callback until then look stale.
CALLBACK_CLOCK_SKEW = timedelta(minutes=10)
SHOPER_LOCAL_FORMAT = "%Y-%m-%d %H:%M:%S"
UNIX_SECONDS_DIGITS = 11  # up to the year 5138; a longer number is no time Shoper sends


class ShoperInstaller:
    def __init__(self, settings: Settings, http: requests.Session | None = None) -> None:
        self.settings = settings
        self.box = CredentialBox(settings.secret_key)
        self.http = http or requests.Session()
        self.backoff = SetupBackoff()

    # --- lifecycle callback -------------------------------------------------------------
    def handle_callback(self, session: Session, form: Mapping[str, str], now: datetime) -> str:
        """Verify and apply one callback; returns a short description of what happened."""
        if not self.settings.shoper_enabled:
            raise Forbidden("Shoper is not configured on this server")
        if not signature.verify_appstore(form, self.settings.shoper_appstore_secret):
            raise Forbidden("bad or missing hash")
        sent_at = shoper_time(form.get("timestamp", ""))
        if sent_at > now + CALLBACK_CLOCK_SKEW:
            raise Forbidden("timestamp in the future")
        action = form.get("action", "")
        licence = form.get("shop", "").strip()
        if action not in ACTIONS:
            raise BadInput(f"unknown action {action!r}", field="action")
        if not licence or len(licence) > 64:
            raise BadInput("missing shop", field="shop")
        shop = session.scalars(
            select(Shop).where(Shop.platform == PLATFORM, Shop.platform_shop_id == licence)
        ).first()
        if shop is not None and shop.last_callback_at and sent_at < shop.last_callback_at:
            # An older callback replayed or arriving late (e.g. an uninstall sent before the
            # latest install) must not undo what a newer one did.
            log.warning("shop %s: ignoring stale %s callback", shop.id, action)
            return "stale callback ignored"
        if action == "install":
            shop = self._install(session, shop, form, licence, now)
        elif shop is None:
            raise UnknownShop("unknown shop")
        elif action == "uninstall":
            state.uninstall(session, shop, now)
        elif action == "upgrade":
            shop.app_version = form.get("application_version", "")[:32]
        # billing_install / billing_subscription: acknowledged; billing is not modelled yet.
        shop.last_callback_at = sent_at
        return action

    def _install(
        self,
        session: Session,
        shop: Shop | None,
        form: Mapping[str, str],
        licence: str,
        now: datetime,
    ) -> Shop:
        shop_url = form.get("shop_url", "").strip().rstrip("/")
        code = form.get("auth_code", "").strip()
        if not shop_url.startswith(("https://", "http://")):
            raise BadInput("missing or invalid shop_url", field="shop_url")
        if not code:
            raise BadInput("missing auth_code", field="auth_code")
        try:
            tokens, shop_url = self._exchange(shop_url, code, now)
        except api.ShoperTransientError as exc:
            raise UpstreamFailed("Shoper did not answer the token exchange; try again") from exc
        except api.ShoperError as exc:
            raise BadInput(f"Shoper refused the auth_code ({exc.error or exc.status})") from exc
        if shop is None:
            shop = Shop.new(PLATFORM, licence, now)
            session.add(shop)
        shop.status = "active"
        shop.uninstalled_at = None
        shop.shop_url = shop_url
        shop.app_version = form.get("application_version", "")[:32]
        self._store_tokens(shop, tokens)
        session.flush()
        self.finish_setup(session, shop, now)
        # Past customers and orders, for birthdays and anniversaries; a re-install also
        # fills in what happened while the app was away. One already running goes on.
        history.request_import(session, shop, now)
        return shop

    def _exchange(self, shop_url: str, code: str, now: datetime) -> tuple[api.TokenSet, str]:
        """The token set and the shop's URL, following one redirect to an https address.

        The callback's `shop_url` may redirect (custom domain, http -> https: platforms.md);
        the client reports a redirect instead of following it, and a redirected request never
        reached the token endpoint, so the single-use code is still good for one more try."""
        app_id, app_secret = self.settings.shoper_app_id, self.settings.shoper_app_secret
        try:
            return api.exchange_code(self.http, shop_url, app_id, app_secret, code, now), shop_url
        except api.ShoperError as exc:
            moved = _moved_to(exc)
            if moved is None or moved == shop_url:
                raise
            log.info("Shoper shop moved from %s to %s", shop_url, moved)
            return api.exchange_code(self.http, moved, app_id, app_secret, code, now), moved

    # --- set-up that needs REST ------------------------------------------------------------
    def finish_setup(
        self, session: Session, shop: Shop, now: datetime, *, webhooks: bool = True
    ) -> bool:
        """Read the shop's profile and (re)create our webhooks, each on its own: the order
        webhooks matter most (no reminder goes out without them), so a profile Shoper will not
        give us must not hold them back. What failed is recorded and retried by `maintain`."""
        problems: list[str] = []
        try:
            client = self.client(session, shop, now)
        except (api.ShoperError, requests.RequestException) as exc:
            client = None
            problems.append(f"no access to the shop's API: {exc}")
        if client is not None:
            try:
                self._read_profile(shop, client.application_config())
            except (api.ShoperError, requests.RequestException) as exc:
                problems.append(f"shop profile not read: {exc}")
            try:
                if webhooks or not shop.webhooks_registered:
                    self._register_webhooks(shop, client)
            except (api.ShoperError, requests.RequestException) as exc:
                problems.append(f"order webhooks not created: {exc}")
        webhooks_failed = any(p.startswith("order webhooks") for p in problems)
        if webhooks_failed or (client is None and webhooks):
            # On a re-install the flag is still True from the first install. A passing API
            # failure of `maintain` leaves working webhooks alone: they still deliver.
            shop.webhooks_registered = False
        shop.setup_error = (
            ("Shoper set-up incomplete: " + "; ".join(problems))[:500] if problems else ""
        )
        if problems:
            log.warning("shop %s: %s", shop.id, shop.setup_error)
            self.backoff.failed(shop.id, now)
        else:
            self.backoff.succeeded(shop.id)
        return not problems

    def _read_profile(self, shop: Shop, config: dict[str, object]) -> None:
        shop.name = str(config.get("shop_name") or shop.name)[:255]
        shop.email = str(config.get("shop_email") or shop.email)[:255]
        shop.language = language_of(str(config.get("default_language_name") or ""))
        currency = str(config.get("default_currency_name") or "").upper()
        if len(currency) == 3:
            shop.currency = currency
        zone = str(config.get("locale_timezone") or "")
        try:
            ZoneInfo(zone)
            shop.timezone = zone
        except (ZoneInfoNotFoundError, ValueError):
            pass  # keep the default (Europe/Warsaw)
        url = str(config.get("shop_url") or "").rstrip("/")
        if url.startswith("https://"):
            shop.shop_url = url  # the canonical (custom) domain, if the profile names one

    def _register_webhooks(self, shop: Shop, client: api.ShoperClient) -> None:
        url = f"{self.settings.public_url}/shoper/webhooks/{shop.ref}"
        for existing in client.list_webhooks():
            # Delete only what is ours (our URL for this shop) and skip entries we cannot read:
            # a KeyError here would escape as a 500 and lose the install after the code is spent.
            if not isinstance(existing, dict) or str(existing.get("url", "")) != url:
                continue
            existing_id = str(existing.get("webhook_id", ""))
            if existing_id.isdigit():
                client.delete_webhook(int(existing_id))
        secret = secrets.token_hex(24)
        webhook_id = client.create_webhook(url, secret, webhook_events(PLATFORM))
        shop.webhook_secret_enc = self.box.seal(secret)
        shop.webhook_ids = [webhook_id]
        shop.webhooks_registered = True

    # --- tokens -----------------------------------------------------------------------------
    def client(
        self, session: Session, shop: Shop, now: datetime, *, max_retries: int = 3
    ) -> api.ShoperClient:
        """A REST client with a token that is good for at least another day."""
        if shop.token_expires_at is None or shop.token_expires_at - now < REFRESH_MARGIN:
            self.refresh(shop, now)
        token = self.box.open(shop.access_token_enc)
        return api.ShoperClient(shop.shop_url, token, http=self.http, max_retries=max_retries)

    def refresh(self, shop: Shop, now: datetime) -> None:
        refresh_token = self.box.open(shop.refresh_token_enc)
        if not refresh_token:
            raise api.ShoperAuthError("no refresh token stored: reinstall the app", status=401)
        tokens = api.refresh_tokens(
            self.http,
            shop.shop_url,
            self.settings.shoper_app_id,
            self.settings.shoper_app_secret,
            refresh_token,
            now,
        )
        self._store_tokens(shop, tokens)  # Shoper rotates the refresh token on every refresh

    def _store_tokens(self, shop: Shop, tokens: api.TokenSet) -> None:
        shop.access_token_enc = self.box.seal(tokens.access_token)
        shop.refresh_token_enc = self.box.seal(tokens.refresh_token)
        shop.token_expires_at = tokens.expires_at
        shop.scopes = ",".join(tokens.scopes)

    # --- worker jobs ------------------------------------------------------------------------
    def maintain(self, factory: sessionmaker[Session], now: datetime) -> int:
        """Refresh tokens close to expiry and finish interrupted set-ups; returns shops touched.

        One transaction per shop: Shoper rotates the refresh token the moment we use it, so a
        failure in one shop must not roll back the tokens another shop just received. Shops
        whose tokens expire soonest go first."""
        with factory() as session:
            shop_ids = list(
                session.scalars(
                    select(Shop.id)
                    .where(Shop.platform == PLATFORM, Shop.status == "active")
                    .where(
                        (Shop.webhooks_registered.is_(False))
                        | (Shop.setup_error != "")
                        | (Shop.token_expires_at < now + REFRESH_MARGIN)
                    )
                    .order_by(Shop.token_expires_at)
                    .limit(100)
                )
            )
        shop_ids = [i for i in shop_ids if self.backoff.due(i, now)]  # backing off
        for shop_id in shop_ids:
            with factory() as session, session.begin():
                shop = session.get(Shop, shop_id, with_for_update=True)
                if shop is None:
                    continue
                if not shop.webhooks_registered or shop.setup_error:
                    # Working webhooks are kept: re-creating them would rotate their secret
                    # under deliveries already on their way.
                    self.finish_setup(session, shop, now, webhooks=False)
                    continue
                try:
                    self.refresh(shop, now)
                except (api.ShoperError, requests.RequestException) as exc:
                    shop.setup_error = f"token refresh failed: {exc}"[:500]
                    log.warning("shop %s: token refresh failed: %s", shop.id, exc)
                    self.backoff.failed(shop.id, now)
        return len(shop_ids)

    # --- coupons ----------------------------------------------------------------------------
    def coupon_creator(self, session: Session, now: datetime) -> CreateAtPlatform:
        """Unique codes through `promotion-codes`, in the caller's transaction (a refreshed
        token is stored with the message that needed it)."""

        def create(
            shop: Shop, code: str, percent: Decimal, valid_from: datetime, valid_to: datetime
        ) -> str:
            if shop.platform != PLATFORM or not shop.access_token_enc:
                raise CouponUnavailable("no platform access")
            zone = ZoneInfo(shop.timezone)
            try:
                # No waiting out 429s here: the message's transaction is open (on SQLite it
                # holds the write lock), and the static code is a fine fallback.
                client = self.client(session, shop, now, max_retries=0)
                platform_id = client.create_promotion_code(
                    code,
                    f"Cart recovery {code}",
                    percent,
                    valid_from.astimezone(zone),
                    valid_to.astimezone(zone),
                )
            except (api.ShoperError, requests.RequestException, ValueError) as exc:
                raise CouponUnavailable(str(exc)) from exc
            return str(platform_id)

        return create


def _moved_to(exc: api.ShoperError) -> str | None:
    """The shop's new base URL when Shoper answered with a redirect to an https address."""
    if exc.error != "redirect" or not exc.description:
        return None
    try:
        parts = urlsplit(exc.description)  # the client puts the Location here
    except ValueError:  # "https://[x": an unclosed IPv6 bracket
        return None
    if parts.scheme != "https" or not parts.netloc:
        return None
    base = parts.path.split("/webapi/", 1)[0].rstrip("/")
    return f"https://{parts.netloc}{base}"


def shoper_time(value: str) -> datetime:
    """The signed `timestamp` of a callback or of the admin iframe: Unix seconds, or a
    Europe/Warsaw `YYYY-MM-DD HH:MM:SS` (platforms.md: the format is unverified, both are
    accepted). Anything else, a value no clock can hold included, is Forbidden: a freshness
    check that cannot read its time must refuse, not pass."""
    value = value.strip()
    if value.isascii() and value.isdigit() and len(value) <= UNIX_SECONDS_DIGITS:
        try:
            return datetime.fromtimestamp(int(value), UTC)
        except (OverflowError, OSError, ValueError):
            pass
    elif len(value) == len("YYYY-MM-DD HH:MM:SS"):
        try:
            local = datetime.strptime(value, SHOPER_LOCAL_FORMAT)
            # 0001-01-01 00:30 in Warsaw has no UTC equivalent: OverflowError.
            return local.replace(tzinfo=ZoneInfo("Europe/Warsaw")).astimezone(UTC)
        except (ValueError, OverflowError):
            pass
    log.info("unreadable Shoper timestamp: %r", value[:40])
    raise Forbidden("missing or unreadable timestamp")
