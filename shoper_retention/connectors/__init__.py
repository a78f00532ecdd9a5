"""The connector registry: which provider sends a shop's messages on each channel.

A shop's own SMSAPI token wins over the operator's; with no provider configured at all, the dev
outbox takes the message. Adding a provider is one module and one line here."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from shoper_retention.connectors.base import Connector
from shoper_retention.connectors.dev_outbox import DevOutboxConnector
from shoper_retention.connectors.smsapi import SmsapiConnector
from shoper_retention.connectors.smtp import SmtpConnector
from shoper_retention.connectors.unconfigured import UnconfiguredConnector
from shoper_retention.settings import Settings


def provider_name(settings: Settings, channel: str, *, shop_has_sms_token: bool) -> str:
    """Which provider serves `channel`: the one decision both dispatch and the settings page
    (which tells the merchant what is not delivered) rely on."""
    if channel == "sms" and (shop_has_sms_token or settings.smsapi_token):
        return SmsapiConnector.name
    if channel == "email" and settings.smtp_url:
        return SmtpConnector.name
    return DevOutboxConnector.name if settings.uses_dev_outbox else UnconfiguredConnector.name


def sms_connector(
    settings: Settings, shop_token: str, sender: str, factory: sessionmaker[Session]
) -> Connector:
    provider = provider_name(settings, "sms", shop_has_sms_token=bool(shop_token))
    if provider == SmsapiConnector.name:
        token = shop_token or settings.smsapi_token
        return SmsapiConnector(settings.smsapi_url, token, sender=sender)
    if provider == UnconfiguredConnector.name:
        return UnconfiguredConnector("sms", "no SMSAPI token: add yours in these settings")
    return DevOutboxConnector("sms", factory)


def email_connector(settings: Settings, factory: sessionmaker[Session]) -> Connector:
    provider = provider_name(settings, "email", shop_has_sms_token=False)
    if provider == SmtpConnector.name:
        return SmtpConnector.from_url(settings.smtp_url, settings.mail_from)
    if provider == UnconfiguredConnector.name:
        return UnconfiguredConnector("email", "no SMTP server configured on this server")
    return DevOutboxConnector("email", factory)
