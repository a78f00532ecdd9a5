"""Settings read from the environment refuse what cannot work, naming the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from shoper_retention.settings import Settings, SettingsError

SECRET = "0123456789abcdef0123"


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:"])
def test_an_in_memory_sqlite_database_is_refused(url: str, tmp_path: Path) -> None:
    environ = {
        "SHOPER_RETENTION_DATABASE_URL": url,
        "SHOPER_RETENTION_SECRET_KEY": SECRET,
        "SHOPER_RETENTION_INSTANCE_PATH": str(tmp_path),
    }
    with pytest.raises(SettingsError, match="SHOPER_RETENTION_DATABASE_URL: an in-memory"):
        Settings.from_env(environ)


def test_a_sqlite_file_database_is_accepted(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/db.sqlite3"
    environ = {
        "SHOPER_RETENTION_DATABASE_URL": url,
        "SHOPER_RETENTION_SECRET_KEY": SECRET,
        "SHOPER_RETENTION_INSTANCE_PATH": str(tmp_path),
    }
    assert Settings.from_env(environ).database_url == url


def base_environ(tmp_path: Path) -> dict[str, str]:
    return {
        "SHOPER_RETENTION_DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite3",
        "SHOPER_RETENTION_SECRET_KEY": SECRET,
        "SHOPER_RETENTION_INSTANCE_PATH": str(tmp_path),
    }


def test_limits_proxies_and_inbox_retention_have_safe_defaults(tmp_path: Path) -> None:
    settings = Settings.from_env(base_environ(tmp_path))
    assert settings.rate_limit_storage_url == "memory://"
    assert settings.trusted_proxies == 0
    assert settings.inbox_retention_days == 7
    assert settings.limit_storefront_per_ip == "60/minute"
    assert settings.limit_storefront_per_shop == "3000/minute"
    assert settings.limit_new_contacts_per_shop == "300/hour"
    assert settings.limit_shopper_links_per_ip == "120/minute"
    assert settings.limit_rejected_per_ip == "60/minute"


def test_limits_proxies_and_inbox_retention_are_read_from_the_environment(tmp_path: Path) -> None:
    environ = {
        **base_environ(tmp_path),
        "SHOPER_RETENTION_RATE_LIMIT_STORAGE_URL": "redis://cache:6379/2",
        "SHOPER_RETENTION_TRUSTED_PROXIES": "2",
        "SHOPER_RETENTION_INBOX_RETENTION_DAYS": "30",
        "SHOPER_RETENTION_LIMIT_STOREFRONT_PER_IP": "10/second",
        "SHOPER_RETENTION_LIMIT_STOREFRONT_PER_SHOP": "9000/minute",
        "SHOPER_RETENTION_LIMIT_NEW_CONTACTS_PER_SHOP": "1000/hour",
        "SHOPER_RETENTION_LIMIT_SHOPPER_LINKS_PER_IP": "30/minute",
        "SHOPER_RETENTION_LIMIT_REJECTED_PER_IP": "5/minute",
    }
    settings = Settings.from_env(environ)
    assert settings.rate_limit_storage_url == "redis://cache:6379/2"
    assert (settings.trusted_proxies, settings.inbox_retention_days) == (2, 30)
    assert settings.limit_storefront_per_ip == "10/second"
    assert settings.limit_storefront_per_shop == "9000/minute"
    assert settings.limit_new_contacts_per_shop == "1000/hour"
    assert settings.limit_shopper_links_per_ip == "30/minute"
    assert settings.limit_rejected_per_ip == "5/minute"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("LIMIT_STOREFRONT_PER_IP", "lots"),
        ("LIMIT_REJECTED_PER_IP", "0/minute"),
        ("RATE_LIMIT_STORAGE_URL", "memcached://cache:11211"),
        ("TRUSTED_PROXIES", "one"),
        ("TRUSTED_PROXIES", "-1"),
        ("INBOX_RETENTION_DAYS", "0"),
    ],
)
def test_unusable_limit_proxy_and_retention_values_are_refused_by_name(
    tmp_path: Path, name: str, value: str
) -> None:
    environ = {**base_environ(tmp_path), f"SHOPER_RETENTION_{name}": value}
    with pytest.raises(SettingsError, match=f"SHOPER_RETENTION_{name}"):
        Settings.from_env(environ)
