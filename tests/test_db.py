"""The SQLite engine's write turns: never kept after a failure."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import text

from shoper_retention.db import make_engine


def test_a_lock_file_that_cannot_be_opened_does_not_keep_the_write_turn(tmp_path):
    """Each write fails at once with the real cause; none waits for a turn nobody holds."""
    database = tmp_path / "x.sqlite3"
    (tmp_path / "x.sqlite3-writers").mkdir()  # a directory: os.open(O_RDWR) fails
    engine = make_engine(f"sqlite:///{database}")
    try:
        for _ in range(2):
            started = time.monotonic()
            with pytest.raises(IsADirectoryError):
                with engine.begin() as connection:
                    connection.execute(text("SELECT 1"))
            assert time.monotonic() - started < 2
    finally:
        engine.dispose()
