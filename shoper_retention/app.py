"""The application factory: settings, database, blueprints and the one error handler."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

import requests
from flask import Flask, jsonify, request
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge
from werkzeug.middleware.proxy_fix import ProxyFix

from shoper_retention.clock import utcnow
from shoper_retention.credentials import CredentialBox
from shoper_retention.db import make_engine, make_session_factory
from shoper_retention.errors import DomainError
from shoper_retention.ingest.writer import InboxWriter
from shoper_retention.links import Links
from shoper_retention.platforms.registry import Platforms
from shoper_retention.settings import Settings
from shoper_retention.web.rate_limits import RateLimits
from shoper_retention.web.services import Services

log = logging.getLogger(__name__)


def create_app(
    settings: Settings | None = None,
    *,
    clock: Callable[[], datetime] = utcnow,
    http: requests.Session | None = None,
    factory: sessionmaker[Session] | None = None,
) -> Flask:
    settings = settings or Settings.from_env()
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.json.sort_keys = False  # type: ignore[attr-defined]
    factory = factory or make_session_factory(make_engine(settings.database_url))
    engine = factory.kw["bind"]
    svc = app.extensions["shoper_retention"] = Services(
        settings=settings,
        factory=factory,
        inbox_writer=InboxWriter(engine.url.render_as_string(hide_password=False)),
        links=Links(settings.secret_key, settings.public_url),
        box=CredentialBox(settings.secret_key),
        clock=clock,
        platforms=Platforms(settings, http),
        limits=RateLimits(settings),
    )

    from shoper_retention.web import (
        birthday_import,
        history_import,
        ops,
        settings_page,
        shopper_links,
        smsapi_reports,
        storefront,
        widget,
    )

    for blueprint in (
        ops.blueprint,
        smsapi_reports.blueprint,
        storefront.blueprint,
        shopper_links.blueprint,
        settings_page.blueprint,
        birthday_import.blueprint,
        history_import.blueprint,
        widget.blueprint,
    ):
        app.register_blueprint(blueprint)
    for platform in svc.platforms:
        # Each platform brings its own routes, and its endpoints served ahead of Flask.
        app.register_blueprint(platform.blueprint())
        app.wsgi_app = platform.wrap_wsgi(app.wsgi_app, svc)  # type: ignore[method-assign,assignment]
    if settings.trusted_proxies:
        # Outermost, so the webhook endpoint in front of Flask sees the client's address too.
        # Each trusted proxy appends one X-Forwarded-For entry; more entries are the client's
        # own claims and are not believed.
        n = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n)  # type: ignore[method-assign]

    @app.errorhandler(DomainError)
    def domain_error(exc: DomainError) -> Any:
        log.info("%s %s -> %s %s", request.method, request.path, exc.status, exc.code)
        body: dict[str, Any] = {"error": exc.code, "message": exc.message}
        if exc.field:
            body["field"] = exc.field
        response = jsonify(body)
        response.status_code = exc.status
        if exc.retry_after is not None:
            response.headers["Retry-After"] = str(exc.retry_after)
        return response

    @app.errorhandler(RequestEntityTooLarge)
    def too_large(exc: RequestEntityTooLarge) -> Any:
        return jsonify(error="too_large", message="request body is too large"), 400

    @app.errorhandler(OperationalError)
    def database_unavailable(exc: OperationalError) -> Any:
        # The database is down or locked: ask the caller to retry, nothing was stored.
        log.error("database unavailable: %s", exc.orig)
        response = jsonify(error="unavailable", message="database unavailable, retry later")
        response.status_code = 503
        response.headers["Retry-After"] = "30"
        return response

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Any:
        response = jsonify(error=exc.name.lower().replace(" ", "_"), message=exc.description)
        response.status_code = exc.code or 500
        return response

    return app
