"""The settings page's "import history" button (`POST /shoper/app/history-import`).

It takes the same short-lived signed form token `t` as a settings save, which is also its CSRF
defence, and counts refusals against the settings page's budget of the caller's address."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, redirect, request, url_for

from shoper_retention.commerce import history
from shoper_retention.web import settings_page
from shoper_retention.web.services import services

blueprint = Blueprint("history_import", __name__)


@blueprint.before_request
def _refuse_guessers() -> None:
    services().limits.refuse_if_blocked(settings_page.BUDGET, request.remote_addr)


@blueprint.post("/shoper/app/history-import")
def request_history_import() -> Any:
    svc = services()
    with svc.factory() as session, session.begin():
        shop = settings_page.counted(
            lambda: settings_page.shop_from_token(session, request.form.get("t"))
        )
        history.request_import(session, shop, svc.clock())
    token = svc.links.settings_form_token(shop.id, svc.clock())
    return redirect(url_for("settings_page.settings_page", t=token), code=303)
