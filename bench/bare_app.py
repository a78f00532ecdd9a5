"""The baseline for bench/webhook_ingest.py: a bare Flask app on the same route as the Shoper
webhook endpoint that reads the body and answers 204, served by the same gunicorn settings.

Whatever this costs (gunicorn, WSGI, Flask routing, reading the body) the real endpoint pays too,
so ingest/bare isolates what the webhook handler itself adds."""

from __future__ import annotations

from flask import Flask, request


def create_app() -> Flask:
    app = Flask(__name__)

    @app.post("/shoper/webhooks/<shop_ref>")
    def webhook(shop_ref: str) -> tuple[str, int]:
        request.get_data(cache=False)
        return "", 204

    @app.get("/healthz")
    def healthz() -> tuple[str, int]:
        return "", 204

    return app


app = create_app()
