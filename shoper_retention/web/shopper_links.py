"""Links shoppers follow from messages: `/c/<token>` (tracked redirect), `/u/<token>`
(unsubscribe page, and the RFC 8058 one-click POST mailbox providers send) and `/k/<token>`
(the answer to a consent confirmation request)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, redirect, render_template, request
from sqlalchemy import update

from shoper_retention.contacts import consent
from shoper_retention.contacts.unsubscribe import unsubscribe
from shoper_retention.links import InvalidLink
from shoper_retention.models import LinkClick, Message, Shop
from shoper_retention.scenarios import registry
from shoper_retention.web.rate_limits import SHOPPER_LINKS_PER_IP, request_client
from shoper_retention.web.services import services

blueprint = Blueprint("shopper", __name__)


@blueprint.before_request
def _limit() -> None:
    """Every shopper link (each route of this blueprint) counts against one per-address
    limit: a valid token replayed in a loop would otherwise write a row per request. Except
    an unsubscribe's POST: mailbox providers send RFC 8058 one-click POSTs for many people
    from a few addresses, an opt-out must never wait, and repeating one changes nothing."""
    if request.method == "POST" and request.path.startswith("/u/"):
        return
    services().limits.hit(SHOPPER_LINKS_PER_IP, request_client())


def _page(template: str, status: int = 200, **context: Any) -> Any:
    return render_template(f"shopper/{template}", **context), status


@blueprint.get("/c/<token>")
def click(token: str) -> Any:
    svc = services()
    try:
        message_id, link = svc.links.read_click(token)
    except InvalidLink:
        return _page("error.html", 404, language="en")
    now = svc.clock()
    with svc.factory() as session, session.begin():
        message = session.get(Message, message_id)
        shop = session.get(Shop, message.shop_id) if message else None
        if message is None or shop is None:
            return _page("error.html", 404, language="en")
        session.add(LinkClick(shop_id=shop.id, message_id=message.id, clicked_at=now))
        # The first click counts for attribution; later ones are only logged.
        session.execute(
            update(Message)
            .where(Message.id == message.id, Message.clicked_at.is_(None))
            .values(clicked_at=now)
        )
        scenario = registry.REGISTRY.get(message.scenario)
        target = scenario.link_target(session, shop, message, link) if scenario else None
        target = target or shop.shop_url or "/"
    return redirect(target, code=302)


def _message_and_page(session: Any, message_id: int) -> tuple[Message, dict[str, Any]] | None:
    """The message a shopper's token names, and what its page says of the shop; None when it
    is gone."""
    message = session.get(Message, message_id)
    shop = session.get(Shop, message.shop_id) if message else None
    if message is None or shop is None:
        return None
    page = {"language": shop.language, "shop_name": shop.name, "channel": message.channel}
    return message, page


@blueprint.route("/u/<token>", methods=["GET", "POST"])
def unsubscribe_page(token: str) -> Any:
    svc = services()
    try:
        message_id = svc.links.read_unsubscribe(token)
    except InvalidLink:
        return _page("error.html", 404, language="en")
    with svc.factory() as session, session.begin():
        found = _message_and_page(session, message_id)
        if found is None:
            return _page("error.html", 404, language="en")
        message, context = found
        if request.method == "GET":
            return _page("unsubscribe.html", token=token, done=False, **context)
        # One-click (RFC 8058: body List-Unsubscribe=One-Click) or our page's confirm button.
        # No cookie or login is needed: the signed token is the proof.
        unsubscribe(session, message, svc.clock(), "unsubscribe link")
    return _page("unsubscribe.html", token=token, done=True, **context)


@blueprint.route("/k/<token>", methods=["GET", "POST"])
def confirm_consent(token: str) -> Any:
    """The link in a confirmation request. GET only shows the question: mail scanners fetch
    links, and a fetch must not give anyone's consent. POST `answer=yes` confirms; `answer=no`
    ("it wasn't me") suppresses the address, so it is never asked again."""
    svc = services()
    try:
        message_id = svc.links.read_confirmation(token)
    except InvalidLink:
        return _page("error.html", 404, language="en")
    with svc.factory() as session, session.begin():
        found = _message_and_page(session, message_id)
        claim = consent.claim_of(session, found[0]) if found is not None else None
        if found is None or claim is None:
            return _page("error.html", 404, language="en")
        message, context = found
        context["purpose"] = consent.purpose(claim)
        shop = session.get(Shop, message.shop_id)
        if shop is None or not shop.active:
            return _page("error.html", 404, **context)
        answer = request.form.get("answer", "") if request.method == "POST" else ""
        if answer == "yes":
            consent.confirm(session, message, svc.clock())
        elif answer == "no":
            unsubscribe(session, message, svc.clock(), "declined confirmation")
        return _page("confirm.html", token=token, answer=answer, **context)
