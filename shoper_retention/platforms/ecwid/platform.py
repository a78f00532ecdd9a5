"""Ecwid behind the platform interface (platforms/base.py): the pieces of this package put
together once, so core code asks the registry for "the shop's platform" instead of naming it."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import requests
from flask import Blueprint
from sqlalchemy.orm import Session, sessionmaker

from shoper_retention.errors import BadInput, DomainError, UpstreamFailed
from shoper_retention.ingest.events import DomainEvent, ShopUninstalled
from shoper_retention.ingest.untrusted_json import parse_object
from shoper_retention.messaging.coupons import CreateAtPlatform
from shoper_retention.models import InboxDelivery, Shop
from shoper_retention.platforms.base import WSGIApp
from shoper_retention.platforms.ecwid import api, app_page, events, views
from shoper_retention.platforms.ecwid.catalogue import EcwidCatalogue
from shoper_retention.platforms.ecwid.clients import PLATFORM, client_for
from shoper_retention.platforms.ecwid.coupons import EcwidCoupons
from shoper_retention.platforms.ecwid.history import EcwidHistory
from shoper_retention.platforms.ecwid.install import TOKEN_MISSING, TOKEN_REFUSED, EcwidInstaller
from shoper_retention.platforms.ecwid.stock import EcwidStock
from shoper_retention.settings import Settings

log = logging.getLogger(__name__)
WAITING_FOR_TOKEN = "waiting for the store's access token: open the app once in the Ecwid admin"
# The Ecwid control panel, which frames the app's tab: "https://my.ecwid.com/cp/CP.html#app:
# name=my-cool-app&parent-menu=sales" (developers.ecwid.com/native-applications).
CONTROL_PANEL_ORIGIN = "https://my.ecwid.com"


class EcwidPlatform:
    name = PLATFORM
    adds_storefront_script = True  # /ecwid/storefront.js, registered with the app

    def __init__(self, settings: Settings, http: requests.Session | None = None) -> None:
        self.settings = settings
        self.http = http or requests.Session()
        self.installer = EcwidInstaller(settings, self.http)
        self.catalogue = EcwidCatalogue(settings, self.http)
        self.stock = EcwidStock(settings, self.http)
        self.history = EcwidHistory(settings, self.http)
        self.coupons = EcwidCoupons(settings, self.http)

    def blueprint(self) -> Blueprint:
        return views.make_blueprint(self.installer)

    def wrap_wsgi(self, app: WSGIApp, services: Any) -> WSGIApp:
        return app  # Ecwid's webhooks go through Flask (views.py)

    def to_events(self, shop: Shop, delivery: InboxDelivery) -> Sequence[DomainEvent]:
        """Every fact is read back over REST (the body is not signed): a store Ecwid does not
        answer for now is UpstreamFailed, and the delivery waits for it.

        So is a store whose token Ecwid refuses, or whose token we cannot read: the merchant
        opening the app in the Ecwid admin brings a working one (app_page.py), and the
        deliveries taken meanwhile are then read. The settings page says what to do
        (install.TOKEN_REFUSED, recorded by the worker's next `maintain`). An uninstall
        reads nothing but the refusal (`_confirmed_uninstall`)."""
        body = parse_object(delivery.body, max_depth=views.BODY_DEPTH, free_text=True)
        try:
            client = client_for(self.settings, self.http, shop)
            found = events.to_events(client, shop, delivery.event_name, body, delivery.received_at)
            if any(isinstance(event, ShopUninstalled) for event in found):
                found = self._confirmed_uninstall(client, shop, found)
        except api.EcwidUnavailable as exc:
            raise UpstreamFailed(exc.message) from exc
        except api.EcwidAuthError as exc:
            self.installer.note_refused(shop.id, shop.access_token_enc)
            raise UpstreamFailed(f"waiting for a token Ecwid accepts: {exc.message}") from exc
        except api.EcwidError as exc:
            # Refused for good (a plan with no API, a malformed request): retrying will not help.
            raise DomainError(exc.message) from exc
        except ValueError as exc:  # an id no URL can carry
            raise BadInput(str(exc)) from exc
        return found

    @staticmethod
    def _confirmed_uninstall(
        client: api.EcwidClient, shop: Shop, found: Sequence[DomainEvent]
    ) -> Sequence[DomainEvent]:
        """`application.uninstalled` is believed only if Ecwid refuses the stored token: the
        body is not signed, so a captured delivery replayed under another store's id, or an
        uninstall from before a re-install, must not take the store down."""
        try:
            client.profile()
        except api.EcwidAuthError:
            return found
        log.warning("shop %s: uninstall not confirmed, the token still works", shop.id)
        return [event for event in found if not isinstance(event, ShopUninstalled)]

    @staticmethod
    def waiting_reason(shop: Shop) -> str | None:
        # Without a token Ecwid accepts no order can be read back, so a paid cart could not
        # be seen (nor a coupon made).
        if not shop.access_token_enc or shop.setup_error in (TOKEN_REFUSED, TOKEN_MISSING):
            return WAITING_FOR_TOKEN
        return None

    def app_page_shop(
        self, session: Session, args: Mapping[str, str], now: datetime
    ) -> Shop | None:
        return app_page.shop_for_payload(session, args, self.installer, now)

    def maintain(self, factory: sessionmaker[Session], now: datetime) -> int:
        return self.installer.maintain(factory, now)

    def coupon_creator(self, session: Session, now: datetime) -> CreateAtPlatform:
        return self.coupons.creator(session, now)

    def widget_config(self) -> Mapping[str, Any]:
        # Ecwid's storefront API hands an app's public token to the page for its client id;
        # the product read (stock) goes to Ecwid's REST API with it.
        return {
            "ecwid": {"clientId": self.settings.ecwid_client_id, "api": self.settings.ecwid_api_url}
        }

    def admin_origins(self, shop: Shop) -> Sequence[str]:
        return [CONTROL_PANEL_ORIGIN]

    @staticmethod
    def cart_link(shop: Shop, cart_token: str) -> str:
        # The query goes before Ecwid's hash route (#!/~/cart opens the cart): the widget reads
        # `sr_cart` from the query string.
        return f"{shop.shop_url.rstrip('/')}/?sr_cart={cart_token}#!/~/cart"

    @staticmethod
    def webhook_url(public_url: str, shop: Shop) -> str:
        return f"{public_url}{views.WEBHOOK_PATH}"
