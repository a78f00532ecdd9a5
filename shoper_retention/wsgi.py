"""`gunicorn shoper_retention.wsgi:app` — the web process only; run `shoper-retention worker`
beside it."""

from shoper_retention.app import create_app

app = create_app()
