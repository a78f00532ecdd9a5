"""Shoper's lifecycle callbacks (`POST /shoper/appstore`): install, upgrade, uninstall.

Webhooks (`POST /shoper/webhooks/<shop_ref>`) do not come through Flask: see shoper_ingest.py."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request

from shoper_retention.app import services

blueprint = Blueprint("shoper", __name__)


@blueprint.post("/shoper/appstore")
def appstore_callback() -> Any:
    svc = services()
    form = {key: request.form[key] for key in request.form}
    with svc.factory() as session, session.begin():
        result = svc.shoper.handle_callback(session, form, svc.clock())
    return jsonify(status="ok", result=result)
