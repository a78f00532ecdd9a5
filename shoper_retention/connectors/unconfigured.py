"""The connector for a channel with no provider while others have one (production).

The dev outbox is only for a server with no provider at all; once an operator configured one,
a message on a channel without a provider must not vanish into the dev outbox marked "sent".
It pauses that channel for the shop instead, which the settings page shows."""

from __future__ import annotations

from shoper_retention.connectors.base import Connector, Outcome, OutgoingMessage, Paused


class UnconfiguredConnector:
    name = "unconfigured"
    idempotent = True  # it never sends anything

    def __init__(self, channel: str, reason: str) -> None:
        self.channel = channel
        self.reason = reason

    def __enter__(self) -> Connector:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def send(self, message: OutgoingMessage) -> Outcome:
        return Paused(self.reason)
