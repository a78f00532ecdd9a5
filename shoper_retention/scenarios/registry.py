"""The scenario registry: ingest, the scans, dispatch, shopper links, the settings page and the
manifest test all read it; none of them knows a scenario by name. Adding a scenario is its
module, its templates, its tests and one line here."""

from __future__ import annotations

from shoper_retention.scenarios.anniversaries import Anniversaries
from shoper_retention.scenarios.back_in_stock import BackInStock
from shoper_retention.scenarios.base import Scenario
from shoper_retention.scenarios.birthday import Birthday
from shoper_retention.scenarios.cart_recovery import CartRecovery
from shoper_retention.scenarios.consent_confirmation import ConsentConfirmation

REGISTRY: dict[str, Scenario] = {
    s.name: s
    for s in (
        CartRecovery(),
        ConsentConfirmation(),
        BackInStock(),
        Birthday(),
        Anniversaries(),
    )
}
