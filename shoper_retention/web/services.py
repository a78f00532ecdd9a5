"""What request handlers need, built once per app by `create_app`.

A leaf module: blueprints import `services()` from here, never from app.py, so the app factory
can import the blueprints without a cycle."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from flask import current_app
from sqlalchemy.orm import Session, sessionmaker

from shoper_retention.credentials import CredentialBox
from shoper_retention.ingest.writer import InboxWriter
from shoper_retention.links import Links
from shoper_retention.platforms.base import PlatformSet
from shoper_retention.settings import Settings
from shoper_retention.web.rate_limits import RateLimits


@dataclass
class Services:
    """What request handlers need, built once per app (tests build their own)."""

    settings: Settings
    factory: sessionmaker[Session]
    inbox_writer: InboxWriter  # the webhook endpoint's INSERT, through the driver
    links: Links
    box: CredentialBox
    clock: Callable[[], datetime]
    platforms: PlatformSet
    limits: RateLimits


def services() -> Services:
    return current_app.extensions["shoper_retention"]  # type: ignore[no-any-return]
