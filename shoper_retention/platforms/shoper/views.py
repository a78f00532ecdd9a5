"""Shoper's lifecycle callbacks (`POST /shoper/appstore`): install, upgrade, uninstall.

Webhooks (`POST /shoper/webhooks/<shop_ref>`) do not come through Flask: see fast_ingest.py."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request

from shoper_retention.errors import DomainError
from shoper_retention.platforms.shoper.install import ShoperInstaller
from shoper_retention.web.services import services

BUDGET = "shoper appstore"  # refused callbacks per address (rate_limits.py)


def make_blueprint(installer: ShoperInstaller) -> Blueprint:
    """The routes, bound to the app's own installer (one per app: tests build several)."""
    blueprint = Blueprint("shoper", __name__)

    @blueprint.post("/shoper/appstore")
    def appstore_callback() -> Any:
        svc = services()
        svc.limits.refuse_if_blocked(BUDGET, request.remote_addr)
        form = {key: request.form[key] for key in request.form}
        try:
            with svc.factory() as session, session.begin():
                result = installer.handle_callback(session, form, svc.clock())
        except DomainError as exc:
            if exc.status < 500:  # refused (bad hash, stale or unknown): count it
                svc.limits.count_failure(BUDGET, request.remote_addr)
            raise
        return jsonify(status="ok", result=result)

    return blueprint
