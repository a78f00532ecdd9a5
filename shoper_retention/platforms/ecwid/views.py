"""Ecwid's routes: `GET /ecwid/oauth/callback` (an install started outside the App Market) and
`POST /ecwid/webhooks` (every store's webhooks, one URL per app).

A successful install answers 303 to `/ecwid/oauth/callback?installed=1`, the same page without
the code: Ecwid disables a token whose code is exchanged a second time
(includes/_authentication.md, "a temporary code can be exchanged to an access token only
once. In case of second attempt, the previously provided access token is automatically
disabled"), so a reload, a restored tab or a link preview must find no code to send. Callback
answers are `no-store` and `no-referrer` for the same reason.

A webhook is verified, checked for freshness and stored in the inbox; the worker reads the
entity it names back over REST and does the rest. Ecwid allows 10 s for an answer and takes a
200 as delivered (docs.ecwid.com/build-apps/webhook-automations/setup-webhooks/
how-to-process-webhooks); anything else is retried for 24 h, so every refusal here is meant:
a forgery, a replay, a store we do not know yet (its app page has not been opened, so it is
retried until it is)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from flask import Blueprint, Response, jsonify, redirect, render_template, request
from sqlalchemy import select
from sqlalchemy.exc import InterfaceError
from werkzeug.wrappers import Response as BaseResponse

from shoper_retention.errors import (
    BadInput,
    BadSignature,
    DomainError,
    NotFound,
    PayloadTooLarge,
    UnknownShop,
)
from shoper_retention.ingest import inbox
from shoper_retention.ingest.untrusted_json import parse_object
from shoper_retention.manifest import webhook_events
from shoper_retention.models import Shop
from shoper_retention.platforms.ecwid import signature
from shoper_retention.platforms.ecwid.clients import PLATFORM
from shoper_retention.platforms.ecwid.install import (
    CALLBACK_PATH,
    CodeSpent,
    EcwidInstaller,
    store_id_text,
)
from shoper_retention.web.services import Services, services

R = TypeVar("R", bound=BaseResponse)
WEBHOOK_PATH = "/ecwid/webhooks"
INSTALLED = "installed"  # the callback's query flag for the page shown after an install
SIGNATURE_HEADER = "X-Ecwid-Webhook-Signature"
INSTALL_BUDGET = "ecwid install"  # refused install links per address (rate_limits.py)
WEBHOOK_BUDGET = "ecwid webhooks"  # refused signatures per address
# Ecwid retries a delivery for 24 hours (27 tries, the last at 24 h: the page above); an hour
# more covers the last try's queueing. Anything older is a replay of a captured delivery.
MAX_EVENT_AGE = timedelta(hours=25)
CLOCK_SKEW = timedelta(minutes=10)
BODY_DEPTH = 8  # {"data": {...}} is two levels; room for what Ecwid may add
MAX_EVENT_ID = 100  # fits "ecwid:" + id in the inbox's 128-character dedupe key
MAX_UNIX_SECONDS = 10**11  # later than any clock reads: no timestamp Ecwid sends


def make_blueprint(installer: EcwidInstaller) -> Blueprint:
    """The routes, bound to the app's own installer (one per app: tests build several)."""
    blueprint = Blueprint("ecwid", __name__)
    events = frozenset(webhook_events(PLATFORM))

    @blueprint.get(CALLBACK_PATH)
    def oauth_callback() -> Any:
        if "code" not in request.args and request.args.get(INSTALLED) == "1":
            return _page("installed", 200)  # where a successful install sends the browser
        svc = services()
        svc.limits.refuse_if_blocked(INSTALL_BUDGET, request.remote_addr)
        if "error" in request.args:
            # The merchant declined the consent dialog (`error=access_denied`), or Ecwid
            # could not go on: nothing to exchange, nothing stored.
            declined = request.args.get("error") == "access_denied"
            return _page("declined" if declined else "refused", 400)
        try:
            installer.install_from_code(svc.factory, request.args.get("code", ""), svc.clock())
        except CodeSpent as spent:
            # Exchanging it again would disable the token it brought (platforms.md).
            return _installed_redirect() if spent.installed else _page("refused", 400)
        except DomainError as exc:
            if exc.status < 500:
                svc.limits.count_failure(INSTALL_BUDGET, request.remote_addr)
            outcome = {404: "not_configured", 503: "unavailable"}.get(exc.status, "refused")
            return _page(outcome, exc.status, retry_after=exc.retry_after)
        # Off the URL with the code: a reload, a restored tab or a link preview of this page
        # must never send the code to Ecwid again.
        return _installed_redirect()

    @blueprint.post(WEBHOOK_PATH)
    def webhook() -> Any:
        svc = services()
        if not svc.settings.ecwid_enabled:
            raise NotFound("Ecwid is not configured on this server")
        svc.limits.refuse_if_blocked(WEBHOOK_BUDGET, request.remote_addr)
        try:
            body = _body(svc.settings.max_body_bytes)
            outcome = _take_delivery(svc, events, body, request.headers.get(SIGNATURE_HEADER))
        except BadSignature:
            svc.limits.count_failure(WEBHOOK_BUDGET, request.remote_addr)
            raise
        except InterfaceError:
            # The database connection is gone (the app's handler answers OperationalError the
            # same way): ask Ecwid to retry, nothing was stored.
            response = jsonify(error="unavailable", message="database unavailable, retry later")
            response.status_code = 503
            response.headers["Retry-After"] = "30"
            return response
        return jsonify(status=outcome)

    return blueprint


def _take_delivery(svc: Services, events: frozenset[str], body: bytes, given: str | None) -> str:
    """Verify one delivery and store it; returns "accepted", "duplicate" or "ignored".

    Only `"<eventCreated>.<eventId>"` is signed, so those two are checked before anything
    else is read: an unsigned request learns nothing about which stores we serve."""
    data = parse_object(body, max_depth=BODY_DEPTH, free_text=True)
    event_id, created = _event_id(data.get("eventId")), _event_created(data.get("eventCreated"))
    if not signature.verify_webhook(given, created, event_id, svc.settings.ecwid_client_secret):
        raise BadSignature(f"bad or missing {SIGNATURE_HEADER}")
    now = svc.clock()
    sent_at = datetime.fromtimestamp(created, UTC)
    if sent_at < now - MAX_EVENT_AGE:
        raise BadInput("stale event: older than Ecwid's retries", field="eventCreated")
    if sent_at > now + CLOCK_SKEW:
        raise BadInput("eventCreated is in the future", field="eventCreated")
    event_type = data.get("eventType")
    if not isinstance(event_type, str) or not 0 < len(event_type) <= 64:
        raise BadInput("missing or malformed eventType", field="eventType")
    store_id = store_id_text(data.get("storeId"))
    if event_type not in events:
        # Not an event we subscribed to (Ecwid adds events over time): taken, not kept. A
        # refusal would only have Ecwid retry it for a day.
        return "ignored"
    with svc.factory() as session:
        shop = session.execute(
            select(Shop.id, Shop.status).where(
                Shop.platform == PLATFORM, Shop.platform_shop_id == store_id
            )
        ).first()
    if shop is None:
        raise UnknownShop("unknown store: open the app in the Ecwid admin first")
    if shop.status != "active":
        # Uninstalled: we keep no new data about its customers; opening the app again
        # installs it again (app_page.py).
        return "ignored"
    stored = svc.inbox_writer.store(
        inbox.new_row(
            shop_id=shop.id,
            source=PLATFORM,
            event_name=event_type,
            # Ecwid signs the event's id and time, not its body: keyed by the id alone, a
            # copy with an altered body arriving first would shut the real one out as a
            # "duplicate". Each distinct body is kept (the worker reads the entity back, so a
            # bogus one changes nothing); a retry of the same bytes is still one delivery.
            dedupe_key=f"ecwid:{event_id}:{inbox.body_digest(body)[:32]}",
            body=body,
            headers={SIGNATURE_HEADER: given},
            now=now,
        )
    )
    return "accepted" if stored else "duplicate"


def _body(limit: int) -> bytes:
    """The raw body, refused over `limit` before it is read (Flask's MAX_CONTENT_LENGTH,
    the app's own limit, also stops a chunked body that runs past it)."""
    if (request.content_length or 0) > limit:
        raise PayloadTooLarge("request body is too large")
    return request.get_data(cache=False)


def _event_id(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not 0 < len(value) <= MAX_EVENT_ID or not value.isprintable():
        raise BadInput("missing or malformed eventId", field="eventId")
    return value


def _event_created(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < MAX_UNIX_SECONDS:
        raise BadInput("missing or malformed eventCreated", field="eventCreated")
    return value


# --- the install's answer to the merchant's browser --------------------------------------

PAGES: dict[str, dict[str, tuple[str, str]]] = {
    "installed": {
        "pl": (
            "Aplikacja Retention jest zainstalowana",
            "Otwórz ją w panelu administracyjnym Ecwid (Moje aplikacje), aby włączyć"
            " wiadomości i je dopasować.",
        ),
        "en": (
            "Retention is installed",
            "Open it from your Ecwid admin (My apps) to turn on and adjust your messages.",
        ),
    },
    "declined": {
        "pl": (
            "Instalacja została anulowana",
            "Aplikacja nie dostała dostępu do sklepu, więc nic nie zostało zapisane. Aby ją"
            " zainstalować, zacznij instalację od nowa.",
        ),
        "en": (
            "The installation was cancelled",
            "The app was not given access to your store, so nothing was saved. To install it,"
            " start the installation again.",
        ),
    },
    "refused": {
        "pl": (
            "Nie udało się zainstalować aplikacji",
            "Link instalacyjny jest nieprawidłowy albo został już użyty. Zacznij instalację"
            " od nowa.",
        ),
        "en": (
            "The app could not be installed",
            "This installation link is not valid or was already used. Start the installation"
            " again.",
        ),
    },
    "unavailable": {
        "pl": (
            "Ecwid chwilowo nie odpowiada",
            "Spróbuj ponownie za kilka minut, zaczynając instalację od nowa.",
        ),
        "en": (
            "Ecwid is not answering right now",
            "Try again in a few minutes by starting the installation again.",
        ),
    },
    "not_configured": {
        "pl": (
            "Ecwid nie jest tu obsługiwany",
            "Ten serwer nie jest skonfigurowany dla sklepów Ecwid.",
        ),
        "en": ("Ecwid is not supported here", "This server is not set up for Ecwid stores."),
    },
}


def _page(outcome: str, status: int, *, retry_after: int | None = None) -> Response:
    """A short page in Polish and English: the merchant's language is not known before the
    store's profile is read, and a page that fails to install has none."""
    texts = PAGES[outcome]
    body = render_template("ecwid/install.html", language="pl", texts=texts)
    response = _private(Response(body, status=status, mimetype="text/html"))
    if retry_after:
        response.headers["Retry-After"] = str(retry_after)
    return response


def _installed_redirect() -> BaseResponse:
    return _private(redirect(f"{CALLBACK_PATH}?{INSTALLED}=1", code=303))


def _private(response: R) -> R:
    """Callback answers are kept by no cache, and their URL (with the code) is sent on to no
    page the browser loads next."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response
