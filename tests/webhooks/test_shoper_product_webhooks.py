"""Shoper `product.create|edit|delete` webhooks into stock events: the default stock's units
(`stock.stock`, a string as in docs/samples/shoper/GET_products_36.json), and a deletion."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from shoper_retention.errors import BadInput
from shoper_retention.ingest.events import ProductDeleted, StockReported
from shoper_retention.platforms.shoper import events

NOW = datetime(2026, 3, 3, 8, 0, tzinfo=UTC)
# A copy of the recorded response (docs/samples/shoper/): CI runs on a clean clone.
SAMPLE = Path(__file__).parents[1] / "samples" / "shoper"


def _events(name: str, data: Any) -> list[Any]:
    body = json.dumps(data).encode()
    return events.to_events(name, body, timezone="Europe/Warsaw", region="PL", now=NOW)


def _sample() -> dict[str, Any]:
    return json.loads((SAMPLE / "GET_products_36.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", ["product.create", "product.edit"])
def test_a_product_record_reports_its_default_stock(name: str) -> None:
    assert _events(name, _sample()) == [StockReported("36", Decimal("100"), NOW)]


@pytest.mark.parametrize(
    ("stock", "units"), [("0", Decimal("0")), ("2.5", Decimal("2.5")), ("-3", Decimal("0"))]
)
def test_units_as_shoper_writes_them(stock: str, units: Decimal) -> None:
    data = {"product_id": "7", "stock": {"stock": stock}}
    assert _events("product.edit", data) == [StockReported("7", units, NOW)]


@pytest.mark.parametrize(
    "data",
    [
        {"product_id": "7"},
        {"product_id": "7", "stock": None},
        {"product_id": "7", "stock": {"stock": ""}},
        {"product_id": "7", "stock": {"stock": "lots"}},
        {"product_id": "7", "stock": {"stock": "NaN"}},
        {"product_id": "7", "stock": "12"},
    ],
)
def test_a_body_without_readable_stock_reports_nothing(data: dict[str, Any]) -> None:
    assert _events("product.edit", data) == []


def test_a_deleted_product_is_reported() -> None:
    assert _events("product.delete", {"product_id": "36"}) == [ProductDeleted("36", NOW)]


def test_a_product_webhook_without_an_id_is_refused() -> None:
    with pytest.raises(BadInput):
        _events("product.delete", {"name": "x"})
    with pytest.raises(BadInput):
        _events("product.edit", {"stock": {"stock": "3"}})
