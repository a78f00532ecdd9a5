"""What a shop platform is. Core code (the app factory, the worker, ingest, dispatch, the CLI)
reaches a platform only through this interface and the registry (registry.py), never by name.

A platform package owns everything that differs from one platform to another: its install flow
and app page entry (its own routes), verifying its webhooks and turning them into domain events,
keeping its tokens fresh, creating coupons, and reading its catalogue."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from flask import Blueprint
from sqlalchemy.orm import Session, sessionmaker

from shoper_retention.commerce.catalogue import CatalogueReader
from shoper_retention.commerce.history import HistoryReader
from shoper_retention.commerce.stock import StockReader
from shoper_retention.ingest.events import DomainEvent
from shoper_retention.messaging.coupons import CreateAtPlatform
from shoper_retention.models import InboxDelivery, Shop

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


class Platform(Protocol):
    """`waiting_reason` and `webhook_url` need no instance (dispatch and the CLI call them on
    the class); the rest talk to the platform with the server's credentials."""

    name: str  # Shop.platform and InboxDelivery.source for its webhooks
    # Whether the platform puts our storefront script on the shop's pages itself (Ecwid, from
    # the app's registration); elsewhere the settings page shows the tag to paste.
    adds_storefront_script: bool

    @property
    def catalogue(self) -> CatalogueReader:
        """Names, prices and photos of products."""

    @property
    def stock(self) -> StockReader:
        """Units in stock now (back-in-stock re-checks)."""

    @property
    def history(self) -> HistoryReader:
        """Past customers and orders, a page at a time."""

    def blueprint(self) -> Blueprint:
        """Its routes: install callbacks, the app page entry, webhooks served by Flask."""

    def wrap_wsgi(self, app: WSGIApp, services: Any) -> WSGIApp:
        """Endpoints served in front of Flask (a fast webhook INSERT); `app` if none."""

    def to_events(self, shop: Shop, delivery: InboxDelivery) -> Sequence[DomainEvent]:
        """A stored, verified webhook delivery as domain events; DomainError if unreadable,
        UpstreamFailed when the platform must be asked and cannot answer now (the delivery
        waits and is tried again: a platform whose bodies are not signed is read back)."""

    @staticmethod
    def waiting_reason(shop: Shop) -> str | None:
        """Why this shop's messages must wait now (e.g. its order webhooks are not registered
        yet, so a paid cart could not be seen); None when they may go."""

    def app_page_shop(
        self, session: Session, args: Mapping[str, str], now: datetime
    ) -> Shop | None:
        """The shop whose admin opened the settings page with these (signed) parameters; None
        when they are not this platform's; Forbidden when they are but do not verify."""

    def maintain(self, factory: sessionmaker[Session], now: datetime) -> int:
        """Token upkeep and unfinished set-ups; returns the shops touched."""

    def coupon_creator(self, session: Session, now: datetime) -> CreateAtPlatform:
        """Creates unique coupon codes at the platform, in the caller's transaction."""

    def widget_config(self) -> Mapping[str, Any]:
        """What the storefront widget's code for this platform needs beside the shop's own
        settings (public values only: anyone can read the script)."""

    def admin_origins(self, shop: Shop) -> Sequence[str]:
        """Origins of the shop's admin, which frames the settings page (CSP frame-ancestors)."""

    @staticmethod
    def cart_link(shop: Shop, cart_token: str) -> str:
        """The shop's cart page with `?sr_cart=<token>`, where the widget refills a reminded
        cart (used when the platform gave no restore link of its own)."""

    @staticmethod
    def webhook_url(public_url: str, shop: Shop) -> str:
        """Where this platform delivers the shop's webhooks (shown to operators)."""


class PlatformSet(Protocol):
    """The platforms an app serves (registry.Platforms), as the web layer sees them."""

    @property
    def by_name(self) -> Mapping[str, Platform]:
        """Each platform by its name."""

    def __iter__(self) -> Iterator[Platform]:
        """Each platform once."""
