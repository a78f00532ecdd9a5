"""Shoper's lifecycle callbacks (`POST /shoper/appstore`): install, upgrade, uninstall.

Webhooks (`POST /shoper/webhooks/<shop_ref>`) do not come through Flask: see fast_ingest.py."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from flask import Blueprint, jsonify, request

from shoper_retention.errors import DomainError
from shoper_retention.platforms.shoper.install import PLATFORM, ShoperInstaller
from shoper_retention.web.services import services

if TYPE_CHECKING:
    from shoper_retention.platforms.shoper.platform import ShoperPlatform

blueprint = Blueprint("shoper", __name__)


def installer() -> ShoperInstaller:
    platform = services().platforms.by_name[PLATFORM]
    return cast("ShoperPlatform", platform).installer


BUDGET = "shoper appstore"  # refused callbacks per address (rate_limits.py)


@blueprint.post("/shoper/appstore")
def appstore_callback() -> Any:
    svc = services()
    svc.limits.refuse_if_blocked(BUDGET, request.remote_addr)
    form = {key: request.form[key] for key in request.form}
    try:
        with svc.factory() as session, session.begin():
            result = installer().handle_callback(session, form, svc.clock())
    except DomainError as exc:
        if exc.status < 500:  # refused (bad hash, stale or unknown): count it
            svc.limits.count_failure(BUDGET, request.remote_addr)
        raise
    return jsonify(status="ok", result=result)
