"""All configuration, read once from SHOPER_RETENTION_* environment variables.

Nothing else in the package reads `os.environ`: the app, the worker and the CLI are handed a
`Settings`, and tests build their own.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import urlsplit

from limits import parse as parse_limit

from shoper_retention.db import is_in_memory

PREFIX = "SHOPER_RETENTION_"
PROJECT_ROOT = Path(__file__).resolve().parent.parent


class SettingsError(ValueError):
    """A configuration value is unusable; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    database_url: str
    secret_key: str
    public_url: str = "http://127.0.0.1:8000"
    instance_path: Path = field(default=PROJECT_ROOT / "instance")
    shoper_app_id: str = ""
    shoper_app_secret: str = field(default="", repr=False)
    shoper_appstore_secret: str = field(default="", repr=False)
    ecwid_client_id: str = ""
    ecwid_client_secret: str = field(default="", repr=False)
    ecwid_api_url: str = "https://app.ecwid.com/api/v3/"
    ecwid_oauth_url: str = "https://my.ecwid.com/api/oauth/"
    smsapi_url: str = "https://api.smsapi.pl/"
    smsapi_token: str = field(default="", repr=False)
    smtp_url: str = field(default="", repr=False)
    mail_from: str = ""
    # Operational knobs (not part of the public contract; tests and the bench tune them).
    max_body_bytes: int = 256 * 1024
    max_storefront_body_bytes: int = 64 * 1024
    worker_interval_seconds: float = 5.0
    claim_lease_seconds: int = 300
    dispatch_batch_size: int = 100
    shoper_api_timeout: float = 10.0
    # Rate limits (limits' notation, "<count>/<period>"; rate_limits.py applies them). Each
    # default is far above what real use of the endpoint produces and far below a flood:
    # - a shopper's widget posts a snapshot per cart change, a few a minute; 60 also leaves
    #   room for many shoppers behind one NAT (an office, a mobile carrier).
    limit_storefront_per_ip: str = "60/minute"
    # - 50 snapshots a second for one shop is well beyond a large shop's busiest hour, and
    #   bounds what a flood spread over many addresses can store for it.
    limit_storefront_per_shop: str = "3000/minute"
    # - snapshots naming an address the shop has no contact for: every new address is someone
    #   we may message (an SMS costs money), so a flood must not plant thousands of them; a
    #   real shop meets far fewer new shoppers an hour.
    limit_new_contacts_per_shop: str = "300/hour"
    # - /c/ and /u/ links: a person follows a few; a mail provider's link scanner behind one
    #   address follows many at once, and must not lose a shopper's unsubscribe.
    limit_shopper_links_per_ip: str = "120/minute"
    # - refused requests to the signed endpoints (webhooks 401/404, App Store callbacks,
    #   delivery reports with an unknown token): a misconfigured platform fails a few times,
    #   guessing shop refs or signatures takes many.
    limit_rejected_per_ip: str = "60/minute"
    # Where the counters live: memory:// is per process (each gunicorn worker counts alone);
    # redis://host:6379 shares them between processes and machines (needs the redis package).
    rate_limit_storage_url: str = "memory://"
    # How many reverse proxies stand in front of the app and append X-Forwarded-For: the client
    # address (rate limits, the loopback-only pages) is taken that many hops back.
    trusted_proxies: int = 0
    # Days a processed inbox row keeps its raw body and headers (the worker then drops them).
    inbox_retention_days: int = 7

    @property
    def shoper_enabled(self) -> bool:
        return bool(self.shoper_app_id and self.shoper_app_secret and self.shoper_appstore_secret)

    @property
    def ecwid_enabled(self) -> bool:
        return bool(self.ecwid_client_id and self.ecwid_client_secret)

    @property
    def uses_dev_outbox(self) -> bool:
        """No provider at all: every message lands in the dev outbox (the embedded default)."""
        return not self.smsapi_token and not self.smtp_url

    def with_(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ

        def get(name: str, default: str = "") -> str:
            return env.get(PREFIX + name, default).strip()

        instance = Path(get("INSTANCE_PATH") or PROJECT_ROOT / "instance")
        database_url = get("DATABASE_URL") or f"sqlite:///{instance / 'shoper_retention.sqlite3'}"
        secret_key = get("SECRET_KEY") or _instance_secret(instance)
        public_url = (get("PUBLIC_URL") or "http://127.0.0.1:8000").rstrip("/")
        settings = cls(
            database_url=database_url,
            secret_key=secret_key,
            public_url=public_url,
            instance_path=instance,
            shoper_app_id=get("SHOPER_APP_ID"),
            shoper_app_secret=get("SHOPER_APP_SECRET"),
            shoper_appstore_secret=get("SHOPER_APPSTORE_SECRET"),
            ecwid_client_id=get("ECWID_CLIENT_ID"),
            ecwid_client_secret=get("ECWID_CLIENT_SECRET"),
            ecwid_api_url=get("ECWID_API_URL") or cls.ecwid_api_url,
            ecwid_oauth_url=get("ECWID_OAUTH_URL") or cls.ecwid_oauth_url,
            smsapi_url=get("SMSAPI_URL") or cls.smsapi_url,
            smsapi_token=get("SMSAPI_TOKEN"),
            smtp_url=get("SMTP_URL"),
            mail_from=get("MAIL_FROM"),
            limit_storefront_per_ip=get("LIMIT_STOREFRONT_PER_IP") or cls.limit_storefront_per_ip,
            limit_storefront_per_shop=get("LIMIT_STOREFRONT_PER_SHOP")
            or cls.limit_storefront_per_shop,
            limit_new_contacts_per_shop=get("LIMIT_NEW_CONTACTS_PER_SHOP")
            or cls.limit_new_contacts_per_shop,
            limit_shopper_links_per_ip=get("LIMIT_SHOPPER_LINKS_PER_IP")
            or cls.limit_shopper_links_per_ip,
            limit_rejected_per_ip=get("LIMIT_REJECTED_PER_IP") or cls.limit_rejected_per_ip,
            rate_limit_storage_url=get("RATE_LIMIT_STORAGE_URL") or cls.rate_limit_storage_url,
            trusted_proxies=_int(get, "TRUSTED_PROXIES", cls.trusted_proxies),
            inbox_retention_days=_int(get, "INBOX_RETENTION_DAYS", cls.inbox_retention_days),
        )
        settings.validate()
        return settings

    def validate(self) -> None:
        if urlsplit(self.public_url).scheme not in ("http", "https"):
            raise SettingsError(f"{PREFIX}PUBLIC_URL must start with http:// or https://")
        if not self.smsapi_url.endswith("/"):
            raise SettingsError(f"{PREFIX}SMSAPI_URL must end with '/' (got {self.smsapi_url!r})")
        if self.smtp_url and urlsplit(self.smtp_url).scheme not in ("smtp", "smtps"):
            raise SettingsError(f"{PREFIX}SMTP_URL must be smtp://... or smtps://...")
        if len(self.secret_key) < 16:
            raise SettingsError(f"{PREFIX}SECRET_KEY must be at least 16 characters")
        if not self.database_url.startswith(("sqlite", "postgresql")):
            raise SettingsError(f"{PREFIX}DATABASE_URL must be a sqlite:// or postgresql:// URL")
        if self.database_url.startswith("sqlite") and is_in_memory(self.database_url):
            raise SettingsError(
                f"{PREFIX}DATABASE_URL: an in-memory SQLite database is not shared by the web"
                " threads and the worker, and is gone at restart; give a file path"
            )
        for name in LIMIT_FIELDS:
            value = getattr(self, name)
            try:
                usable = parse_limit(value).amount > 0
            except ValueError:
                usable = False
            if not usable:
                raise SettingsError(
                    f"{PREFIX}{name.upper()} must read like 60/minute (got {value!r})"
                )
        scheme = urlsplit(self.rate_limit_storage_url).scheme
        if scheme not in RATE_LIMIT_STORAGES:
            raise SettingsError(
                f"{PREFIX}RATE_LIMIT_STORAGE_URL must be memory:// or a redis:// URL"
                f" (got {scheme + '://' if scheme else self.rate_limit_storage_url!r})"
            )
        if not 0 <= self.trusted_proxies <= 10:
            raise SettingsError(f"{PREFIX}TRUSTED_PROXIES must be a number from 0 to 10")
        if self.inbox_retention_days < 1:
            raise SettingsError(f"{PREFIX}INBOX_RETENTION_DAYS must be at least 1")


LIMIT_FIELDS = (
    "limit_storefront_per_ip",
    "limit_storefront_per_shop",
    "limit_new_contacts_per_shop",
    "limit_shopper_links_per_ip",
    "limit_rejected_per_ip",
)
# Storages with the moving window rate_limits.py uses (memcached has none).
RATE_LIMIT_STORAGES = frozenset(
    {"memory", "redis", "rediss", "redis+unix", "redis+cluster", "redis+sentinel"}
)


def _int(get: Callable[[str], str], name: str, default: int) -> int:
    value = get(name)
    if not value:
        return default
    if not (value.isascii() and value.isdigit()):
        raise SettingsError(f"{PREFIX}{name} must be a whole number (got {value!r})")
    return int(value)


def _instance_secret(instance: Path) -> str:
    """Generate the secret once into instance/ so tokens and stored credentials survive restarts."""
    path = instance / "secret_key"
    instance.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    try:
        # O_EXCL: several processes starting at once (gunicorn workers) agree on one key.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        for _ in range(50):  # the winner may not have written it yet
            existing = path.read_text().strip()
            if existing:
                return existing
            time.sleep(0.01)
        raise SettingsError(f"{path} is empty: delete it or set {PREFIX}SECRET_KEY") from None
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
    return key
