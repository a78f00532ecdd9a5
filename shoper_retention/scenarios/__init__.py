"""The scenario registry: ingest, scans, dispatch and the settings page all read it.

Back in stock, birthday, anniversaries, welcome, post-purchase and win-back register here as
they are built; each is one module implementing `scenarios.base.Scenario`."""

from __future__ import annotations

from shoper_retention.scenarios.base import Scenario
from shoper_retention.scenarios.cart_recovery import CartRecovery
from shoper_retention.scenarios.consent_confirmation import ConsentConfirmation

REGISTRY: dict[str, Scenario] = {s.name: s for s in (CartRecovery(), ConsentConfirmation())}
