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
