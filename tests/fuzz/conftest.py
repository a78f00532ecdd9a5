"""Hypothesis profiles for the property tests of the public endpoints, and an app whose rate
limits stay out of the way (a fuzz run sends thousands of requests from one address).

`HYPOTHESIS_PROFILE=fuzz` (what `make fuzz` sets) runs 10,000 cases per test; the default
runs a few hundred in all, derandomized so CI sees the same cases every time."""

from __future__ import annotations

import os
from typing import Any

import pytest
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings

from shoper_retention.settings import Settings

# One database per test function, shared by its examples: every property compares row counts
# taken around the one request it makes, so what earlier examples stored does not matter.
_COMMON: dict[str, Any] = {
    "deadline": None,
    "suppress_health_check": [HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
}
hypothesis_settings.register_profile(
    "default", max_examples=150, derandomize=True, database=None, print_blob=True, **_COMMON
)
hypothesis_settings.register_profile("fuzz", max_examples=10_000, print_blob=True, **_COMMON)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

UNLIMITED = "1000000/minute"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The suite's settings with every rate limit far above what a fuzz run sends."""
    return settings.with_(
        limit_storefront_per_ip=UNLIMITED,
        limit_storefront_per_shop=UNLIMITED,
        limit_new_contacts_per_shop=UNLIMITED,
        limit_shopper_links_per_ip=UNLIMITED,
        limit_rejected_per_ip=UNLIMITED,
    )
