"""The add-on's manifest (manifest.json at the project root): what we tell app markets and what
we register at install. The code reads it rather than repeating its lists."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from shoper_retention.settings import PROJECT_ROOT

MANIFEST_PATH = PROJECT_ROOT / "manifest.json"


@lru_cache(maxsize=1)
def load_manifest() -> dict[str, Any]:
    with MANIFEST_PATH.open(encoding="utf-8") as fh:
        return json.load(fh)


def webhook_events(platform: str) -> list[str]:
    return list(load_manifest()["platforms"][platform]["webhooks"]["events"])


def scopes(platform: str) -> list[str]:
    """The access the add-on asks a shop of `platform` for (install checks what it got)."""
    return list(load_manifest()["platforms"][platform]["scopes"])
