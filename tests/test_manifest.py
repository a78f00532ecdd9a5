"""manifest.json tells app markets and operators what the add-on is; these tests keep it true.

Every webhook event it subscribes to has a handler and every handler is subscribed to; every
path it names is a route of the app, answering the methods the public contract gives it (the
manifest lists only what is built); and GET /manifest.json serves the file itself with the
registry's scenarios."""

from __future__ import annotations

import json
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

import shoper_retention
from shoper_retention.manifest import MANIFEST_PATH, webhook_events
from shoper_retention.platforms.ecwid import events as ecwid_events
from shoper_retention.platforms.shoper import events as shoper_events
from shoper_retention.scenarios import registry

# The methods architecture.md gives each kind of path, by the manifest key that names it.
METHODS = {
    "callback": {"POST"},
    "iframe": {"GET"},
    "endpoint": {"POST"},  # webhooks
    "oauth_callback": {"GET"},
    "widget": {"GET"},
    "storefront_script": {"GET"},  # Ecwid's app-wide loader
    "errors": {"POST"},
    "cart": {"GET"},
    "events": {"POST"},  # storefront cart events (the webhook "events" is a list, not a path)
    "restock": {"POST"},
    "birthday": {"POST"},
    "click": {"GET"},
    "unsubscribe": {"GET", "POST"},
    "confirm": {"GET", "POST"},
    "smsapi": {"GET", "POST"},
}


def _manifest() -> dict[str, Any]:
    """Read from disk, not through the code under test's cache."""
    return json.loads(MANIFEST_PATH.read_text(encoding="utf-8"))


def _paths(node: Any, key: str = "") -> list[tuple[str, str]]:
    """Every (key, path) in the manifest: any string value that starts with '/'."""
    if isinstance(node, dict):
        return [found for k, value in node.items() for found in _paths(value, k)]
    if isinstance(node, list):
        return [found for value in node for found in _paths(value, key)]
    return [(key, node)] if isinstance(node, str) and node.startswith("/") else []


def _routes(app: Flask) -> dict[str, set[str]]:
    """Flask's url_map, and the routes of WSGI handlers the app has in front of Flask (the
    Shoper webhook endpoint is one)."""
    routes: dict[str, set[str]] = {}
    for rule in app.url_map.iter_rules():
        routes.setdefault(rule.rule, set()).update(rule.methods or ())
    layer = app.wsgi_app
    while hasattr(layer, "app"):
        for path, methods in getattr(layer, "routes", {}).items():
            routes.setdefault(path, set()).update(methods)
        layer = layer.app
    return routes


def test_every_shoper_event_in_the_manifest_has_a_handler_and_every_handler_is_subscribed() -> None:
    events = _manifest()["platforms"]["shoper"]["webhooks"]["events"]
    assert len(events) == len(set(events)), "an event is listed twice"
    assert set(events) == set(shoper_events.HANDLERS)
    assert webhook_events("shoper") == events  # what install registers at Shoper


def test_every_ecwid_event_in_the_manifest_has_a_handler_and_every_handler_is_subscribed() -> None:
    """Ecwid's events are declared in the app's registration at Ecwid (not created over REST):
    the manifest is the list to give Ecwid, and the webhook endpoint keeps only these."""
    events = _manifest()["platforms"]["ecwid"]["webhooks"]["events"]
    assert len(events) == len(set(events)), "an event is listed twice"
    assert set(events) == set(ecwid_events.HANDLERS)
    assert webhook_events("ecwid") == events


def test_a_planned_platform_names_no_paths_and_no_events_until_it_is_built() -> None:
    planned = [p for p in _manifest()["platforms"].values() if p.get("status") == "planned"]
    for platform in planned:
        assert _paths(platform) == []
        assert platform.get("webhooks", {}).get("events", []) == []


def test_every_path_in_the_manifest_is_a_route_answering_its_methods(app: Flask) -> None:
    routes = _routes(app)
    declared = _paths(_manifest())
    assert len(declared) >= 6  # callback, iframe, webhooks, storefront events, click, unsubscribe
    for key, path in declared:
        assert path in routes, f"manifest names {path} ({key}), but no route serves it"
        assert key in METHODS, f"add the methods of manifest key {key!r} to METHODS"
        assert METHODS[key] <= routes[path], f"{path} answers {sorted(routes[path])}"


def test_the_manifest_names_the_package_and_its_version() -> None:
    manifest = _manifest()
    assert manifest["name"] == "shoper-retention"
    assert manifest["version"] == shoper_retention.__version__


def test_get_manifest_json_serves_the_file_with_the_registered_scenarios(
    client: FlaskClient,
) -> None:
    answer = client.get("/manifest.json")
    assert answer.status_code == 200
    assert answer.mimetype == "application/json"
    served = answer.get_json()
    assert served.pop("scenarios") == list(registry.REGISTRY)
    assert served == _manifest()
