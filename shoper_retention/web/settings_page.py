"""The merchant's settings page inside the Shoper admin (`GET /shoper/app`).

Third-party cookies are unreliable in the admin's iframe, so there is no session: the iframe
hash is verified on entry, and every form and link carries a short-lived signed token naming the
shop. That token is also the CSRF defence: another site cannot obtain one, so a save is accepted
only with it (the iframe hash never expires and may leak through history, so it opens the page
but never changes anything)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, redirect, render_template, request, url_for
from sqlalchemy import select
from sqlalchemy.orm import Session

from shoper_retention import shop_config
from shoper_retention.commerce import history
from shoper_retention.connectors import provider_name
from shoper_retention.connectors.dev_outbox import DevOutboxConnector
from shoper_retention.errors import BadInput, Forbidden, UnknownShop
from shoper_retention.links import InvalidLink
from shoper_retention.messaging.locales import language_of
from shoper_retention.models import ChannelPause, Message, Shop, WorkerHeartbeat
from shoper_retention.scenarios import registry
from shoper_retention.scenarios.settings_schema import say
from shoper_retention.web import page_texts, settings_form
from shoper_retention.web.services import services

blueprint = Blueprint("settings_page", __name__)
LAST_MESSAGES = 50


def shop_from_token(session: Session, token: str | None) -> Shop:
    if not token:
        raise Forbidden("missing form token: open the app again from the shop admin")
    try:
        shop_id = services().links.read_settings_form(token, services().clock())
    except InvalidLink:
        raise Forbidden("this page has expired: open the app again from the shop admin") from None
    return _active(session.get(Shop, shop_id))


def _shop_from_app_entry(session: Session) -> Shop:
    """The shop whose platform signed this entry into the page (each platform checks its own
    signed parameters)."""
    svc = services()
    for platform in svc.platforms:
        shop = platform.app_page_shop(session, request.args, svc.clock())
        if shop is not None:
            return _active(shop)
    raise Forbidden("bad or missing hash")


def _active(shop: Shop | None) -> Shop:
    if shop is None or not shop.active:
        raise UnknownShop("unknown shop")
    return shop


def _dev_outbox_channels(shop: Shop) -> list[str]:
    """Channels whose messages this shop's configuration leaves in the dev outbox, so the
    merchant learns they are not delivered."""
    settings = services().settings
    return [
        channel
        for channel in ("sms", "email")
        if provider_name(settings, channel, shop_has_sms_token=bool(shop.smsapi_token_enc))
        == DevOutboxConnector.name
    ]


def _form_values(
    submitted: Mapping[str, str] | None,
) -> tuple[Callable[..., Any], Callable[..., bool]]:
    """Field accessors for the template: after a rejected save the page shows what the merchant
    typed (nothing of it was stored), otherwise the stored value."""

    def value(name: str, stored: Any) -> Any:
        return submitted.get(name, "") if submitted is not None else stored

    def checked(name: str, stored: bool) -> bool:
        return submitted.get(name) == "on" if submitted is not None else stored

    return value, checked


def _render(
    session: Session,
    shop: Shop,
    *,
    error: BadInput | None = None,
    submitted: Mapping[str, str] | None = None,
    saved: bool = False,
) -> tuple[str, int, dict[str, str]]:
    svc = services()
    zone = ZoneInfo(shop.timezone)
    messages = session.scalars(
        select(Message)
        .where(Message.shop_id == shop.id)
        .order_by(Message.id.desc())
        .limit(LAST_MESSAGES)
    ).all()
    pauses = session.scalars(select(ChannelPause).where(ChannelPause.shop_id == shop.id)).all()
    beat = session.scalars(
        select(WorkerHeartbeat.beat_at).order_by(WorkerHeartbeat.beat_at.desc()).limit(1)
    ).first()
    value, checked = _form_values(submitted)
    language = language_of(shop.language)
    scenarios = shop_config.merged(shop.settings)["scenarios"]

    def local(moment: datetime | None) -> str:
        return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M") if moment else ""

    def scenario_title(name: str) -> str:
        scenario = registry.REGISTRY.get(name)
        return say(scenario.settings.title, language) if scenario else name.replace("_", " ")

    token = svc.links.settings_form_token(shop.id, svc.clock())
    body = render_template(
        "admin/settings.html",
        language=language,
        shop=shop,
        config=shop_config.merged(shop.settings),
        has_smsapi_token=bool(shop.smsapi_token_enc),
        messages=messages,
        pauses=pauses,
        worker_beat=beat,
        # Two reminders for one cart: the shop's own and ours.
        platform_cart_reminders=shop_config.platform_sends_cart_reminders(shop)
        and shop_config.scenario_enabled(shop, "cart_recovery"),
        dev_outbox_channels=_dev_outbox_channels(shop),
        token=token,
        sections=[
            {
                "name": s.name,
                "title": s.settings.title,
                "description": s.settings.description,
                "groups": s.settings.groups(s.name, scenarios.get(s.name)),
            }
            for s in settings_form.switchable()
        ],
        tools=_tools(token),
        widget=_widget_section(shop),
        history=history.progress(session, shop),
        history_url=url_for("history_import.request_history_import"),
        t=page_texts.translator(language),
        label=lambda name: say(settings_form.field_label(name), language),
        status=lambda status: page_texts.status_word(status, language),
        scenario_title=scenario_title,
        error=error,
        error_label=say(settings_form.field_label(error.field or ""), language) if error else "",
        error_message=page_texts.error_message(error.message, language) if error else "",
        saved=saved,
        value=value,
        checked=checked,
        local=local,
    )
    return body, 400 if error else 200, frame_ancestors(shop)


def _widget_section(shop: Shop) -> dict[str, Any]:
    """The storefront widget's card: its forms and consent text, when the first and the
    latest event from the shop's pages arrived (the latest to within an hour, see
    ingest/pipeline.note_widget_seen), whether that was long ago, the shop's other addresses,
    and the line to paste where the platform does not load it by itself (Ecwid does, through
    the app's registered script)."""
    svc = services()
    base = svc.settings.public_url.rstrip("/")
    src = f"{base}/storefront/{shop.public_key}/widget.js"
    platform = svc.platforms.by_name.get(shop.platform)
    quiet_days = 7  # a template changed without our line, a shop closed for a holiday
    last = shop.widget_last_seen_at or shop.widget_seen_at
    return {
        "config": shop_config.widget(shop),
        "seen_at": shop.widget_seen_at,
        "last_seen_at": last,
        "quiet": last is not None and (svc.clock() - last).total_seconds() > quiet_days * 86400,
        "quiet_days": quiet_days,
        "origins": "\n".join(shop_config.storefront_origins(shop)),
        "snippet": ""
        if platform and platform.adds_storefront_script
        else f'<script async src="{src}"></script>',
    }


def _tools(token: str) -> list[dict[str, Any]]:
    """The page's Data area: {"title", "text", "url"} per link to a data tool of this shop."""
    return [
        {
            "title": "birthdays_tool",
            "text": "birthdays_tool_hint",
            "url": url_for("birthday_import.import_page", t=token),
        }
    ]


def frame_ancestors(shop: Shop) -> dict[str, str]:
    """Only the shop's own admin may frame the page (its platform names the origins)."""
    platform = services().platforms.by_name.get(shop.platform)
    origins = list(platform.admin_origins(shop)) if platform is not None else []
    allowed = " ".join(origins) or "'none'"
    return {"Content-Security-Policy": f"frame-ancestors 'self' {allowed}"}


BUDGET = "settings page"  # refused entries (bad hash or form token) per address (rate_limits)


@blueprint.before_request
def _refuse_guessers() -> None:
    services().limits.refuse_if_blocked(BUDGET, request.remote_addr)


def counted(find: Callable[[], Shop]) -> Shop:
    """The shop a request names; a refusal (bad hash, token or shop) counts against its
    address's budget, so someone guessing hashes or tokens is cut off."""
    try:
        return find()
    except (Forbidden, UnknownShop):
        services().limits.count_failure(BUDGET, request.remote_addr)
        raise


@blueprint.get("/shoper/app")
def settings_page() -> Any:
    svc = services()
    # Writable: a platform may store what its entry brings (Ecwid hands over its token here).
    with svc.factory() as session, session.begin():
        # Entry from the admin (signed iframe parameters), or back after a save (form token).
        token = request.args.get("t")
        shop = counted(
            lambda: shop_from_token(session, token) if token else _shop_from_app_entry(session)
        )
        return _render(session, shop, saved=request.args.get("saved") == "1")


# Ecwid's admin opens the same page with its own signed entry (?payload=); after that the form
# token carries the shop, so saves and links go to the one path whatever the platform.
blueprint.add_url_rule("/ecwid/app", "ecwid_entry", settings_page)


@blueprint.post("/shoper/app/settings")
def save_settings() -> Any:
    svc = services()
    with svc.factory() as session, session.begin():
        # The form token is the CSRF defence and the shop's identity.
        shop = counted(lambda: shop_from_token(session, request.form.get("t")))
        try:
            with session.begin_nested():
                settings_form.apply(session, shop, request.form, svc.box, svc.clock())
        except BadInput as error:
            return _render(session, shop, error=error, submitted=request.form)
    token = svc.links.settings_form_token(shop.id, svc.clock())
    return redirect(url_for("settings_page.settings_page", t=token, saved=1), code=303)
