"""The merchant's settings page inside the Shoper admin (`GET /shoper/app`).

Third-party cookies are unreliable in the admin's iframe, so there is no session: the iframe
hash is verified on entry, and every form and link carries a short-lived signed token naming the
shop. That token is also the CSRF defence: another site cannot obtain one."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, redirect, render_template, request, url_for
from sqlalchemy import select

from shoper_retention import settings_form, shop_config
from shoper_retention.app import services
from shoper_retention.errors import BadInput, Forbidden, UnknownShop
from shoper_retention.links import InvalidLink
from shoper_retention.models import ChannelPause, Message, Shop, WorkerHeartbeat
from shoper_retention.platforms.shoper import signature

blueprint = Blueprint("settings_page", __name__)


def _shop_from_request(session: Any) -> Shop:
    svc = services()
    token = request.values.get("t")
    if token:
        try:
            shop_id = svc.links.read_settings_form(token)
        except InvalidLink:
            raise Forbidden("this page has expired: open the app again from the shop admin") from None
        shop = session.get(Shop, shop_id)
    else:
        if not signature.verify_iframe(request.args, svc.settings.shoper_appstore_secret):
            raise Forbidden("bad or missing hash")
        shop = session.scalars(
            select(Shop).where(Shop.platform == "shoper", Shop.platform_shop_id == request.args["shop"])
        ).first()
    if shop is None or not shop.active:
        raise UnknownShop("unknown shop")
    return shop


def _render(session: Any, shop: Shop, error: BadInput | None = None, saved: bool = False) -> Any:
    svc = services()
    messages = session.scalars(
        select(Message).where(Message.shop_id == shop.id).order_by(Message.id.desc()).limit(50)
    ).all()
    pauses = session.scalars(select(ChannelPause).where(ChannelPause.shop_id == shop.id)).all()
    beat = session.scalars(
        select(WorkerHeartbeat.beat_at).order_by(WorkerHeartbeat.beat_at.desc()).limit(1)
    ).first()
    body = render_template(
        "admin/settings.html",
        shop=shop,
        config=shop_config.merged(shop.settings),
        has_smsapi_token=bool(shop.smsapi_token_enc),
        messages=messages,
        pauses=pauses,
        worker_beat=beat,
        dev_outbox=svc.settings.uses_dev_outbox and not shop.smsapi_token_enc,
        token=svc.links.settings_form_token(shop.id),
        error=error,
        saved=saved,
    )
    response = (body, 400 if error else 200)
    return response, _frame_ancestors(shop)


def _frame_ancestors(shop: Shop) -> dict[str, str]:
    parts = urlsplit(shop.shop_url)
    origin = f"{parts.scheme}://{parts.netloc}" if parts.netloc else "'none'"
    return {"Content-Security-Policy": f"frame-ancestors 'self' {origin}"}


@blueprint.get("/shoper/app")
def settings_page() -> Any:
    svc = services()
    with svc.factory() as session:
        shop = _shop_from_request(session)
        (body, status), headers = _render(session, shop, saved=request.args.get("saved") == "1")
    return body, status, headers


@blueprint.post("/shoper/app/settings")
def save_settings() -> Any:
    svc = services()
    with svc.factory() as session, session.begin():
        shop = _shop_from_request(session)  # the form's signed token: CSRF and identity
        try:
            with session.begin_nested():
                settings_form.apply(session, shop, request.form, svc.box, svc.clock())
        except BadInput as error:
            (body, status), headers = _render(session, shop, error=error)
            return body, status, headers
    token = svc.links.settings_form_token(shop.id)
    return redirect(url_for("settings_page.settings_page", t=token, saved=1), code=303)
