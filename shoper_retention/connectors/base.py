"""What a connector is: something that sends one rendered message and says what happened.

Connectors never raise for provider trouble; they return an outcome value so the dispatcher can
decide (record, retry, fail, pause the shop's channel) in one place.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol


@dataclass(frozen=True)
class OutgoingMessage:
    """A fully rendered message, ready for a provider.

    `idempotency_key` is stable for one message across retries and workers (SMSAPI `idx`,
    e-mail `Message-ID`), so a resend after a crash is recognised as the same message.
    """

    channel: str  # "sms" or "email"
    to: str  # E.164 phone number or e-mail address
    text: str
    idempotency_key: str
    subject: str = ""
    html: str = ""
    sender: str = ""  # SMS sender name or e-mail From
    headers: dict[str, str] = field(default_factory=dict)
    notify_url: str = ""  # SMS delivery reports
    shop_id: int | None = None
    message_id: int | None = None
    # When the dispatcher sent it (its `now`), so the e-mail Date agrees with our records,
    # also under `tick --now`.
    date: datetime | None = None


@dataclass(frozen=True)
class Sent:
    provider_id: str
    segments: int | None = None
    already_sent: bool = False  # the provider had it already (SMSAPI error 53)


@dataclass(frozen=True)
class Retry:
    reason: str
    after: timedelta | None = None  # provider's hint; None means "use our backoff"


@dataclass(frozen=True)
class Failed:
    """The message cannot be delivered; `suppress` marks the address as unreachable for good."""

    reason: str
    permanent: bool = True
    suppress: bool = False


@dataclass(frozen=True)
class Paused:
    """The shop's configuration is wrong (bad token, no credit, bad sender): stop this channel
    for this shop, tell the merchant, keep the message pending."""

    reason: str


Outcome = Sent | Retry | Failed | Paused


class Connector(Protocol):
    """A provider for one channel. Used as a context manager around a dispatch batch, so a
    connection (SMTP) is opened once per batch and closed only if this connector opened it."""

    channel: str
    name: str
    # True when sending the same idempotency key twice delivers once: then a message whose
    # worker died mid-send may be sent again; otherwise it must not (it may have arrived).
    idempotent: bool

    def __enter__(self) -> Connector: ...

    def __exit__(self, *exc: object) -> None: ...

    def send(self, message: OutgoingMessage) -> Outcome: ...
