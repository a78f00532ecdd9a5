"""Shoper behind the platform interface (platforms/base.py): the pieces of this package put
together once, so core code asks the registry for "the shop's platform" instead of naming it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import requests
from flask import Blueprint
from sqlalchemy.orm import Session, sessionmaker

from shoper_retention import shop_config
from shoper_retention.ingest.events import DomainEvent
from shoper_retention.messaging.coupons import CreateAtPlatform
from shoper_retention.models import InboxDelivery, Shop
from shoper_retention.platforms.base import WSGIApp
from shoper_retention.platforms.shoper import app_page, events, views
from shoper_retention.platforms.shoper.catalogue import ShoperCatalogue
from shoper_retention.platforms.shoper.fast_ingest import PREFIX, ShoperWebhookIngest
from shoper_retention.platforms.shoper.history import ShoperHistory
from shoper_retention.platforms.shoper.install import PLATFORM, ShoperInstaller
from shoper_retention.platforms.shoper.stock import ShoperStock
from shoper_retention.settings import Settings

WAITING_FOR_WEBHOOKS = "waiting for the shop's order webhooks to be registered"


class ShoperPlatform:
    name = PLATFORM
    # No API adds a script per shop (App Store snippets are tied to the app version and not
    # documented publicly): the merchant pastes the widget's tag.
    adds_storefront_script = False

    def __init__(self, settings: Settings, http: requests.Session | None = None) -> None:
        self.settings = settings
        self.installer = ShoperInstaller(settings, http)
        self.catalogue = ShoperCatalogue(settings, http)
        self.stock = ShoperStock(settings, http)
        self.history = ShoperHistory(settings, http)

    def blueprint(self) -> Blueprint:
        return views.make_blueprint(self.installer)

    def wrap_wsgi(self, app: WSGIApp, services: Any) -> WSGIApp:
        return ShoperWebhookIngest(app, services)

    def to_events(self, shop: Shop, delivery: InboxDelivery) -> Sequence[DomainEvent]:
        return events.to_events(
            delivery.event_name,
            delivery.body,
            timezone=shop.timezone,
            region=shop.country,
            now=delivery.received_at,
            birthday_field=shop_config.customer_birthday_field(shop),
        )

    @staticmethod
    def waiting_reason(shop: Shop) -> str | None:
        # Without order webhooks we cannot know the shopper already bought: wait.
        return None if shop.webhooks_registered else WAITING_FOR_WEBHOOKS

    def app_page_shop(
        self, session: Session, args: Mapping[str, str], now: datetime
    ) -> Shop | None:
        return app_page.shop_for_iframe(session, args, self.settings.shoper_appstore_secret, now)

    def maintain(self, factory: sessionmaker[Session], now: datetime) -> int:
        return self.installer.maintain(factory, now)

    def coupon_creator(self, session: Session, now: datetime) -> CreateAtPlatform:
        return self.installer.coupon_creator(session, now)

    def widget_config(self) -> Mapping[str, Any]:
        return {}

    def admin_origins(self, shop: Shop) -> Sequence[str]:
        # The Shoper admin lives on the shop's own domain (<shop_url>/admin).
        parts = urlsplit(shop.shop_url)
        return [f"{parts.scheme}://{parts.netloc}"] if parts.netloc else []

    @staticmethod
    def cart_link(shop: Shop, cart_token: str) -> str:
        return f"{shop.shop_url.rstrip('/')}/basket?sr_cart={cart_token}"

    @staticmethod
    def webhook_url(public_url: str, shop: Shop) -> str:
        return f"{public_url}{PREFIX}{shop.ref}"
