"""For operators and app markets: /healthz, /manifest.json, and /dev/outbox (embedded mode)."""

from __future__ import annotations

import ipaddress
from datetime import timedelta
from typing import Any

from flask import Blueprint, abort, jsonify, render_template, request
from sqlalchemy import select, text

from shoper_retention.app import services
from shoper_retention.manifest import load_manifest
from shoper_retention.models import DevOutboxEntry, WorkerHeartbeat

blueprint = Blueprint("ops", __name__)
WORKER_STALE_AFTER = timedelta(minutes=5)


@blueprint.get("/healthz")
def healthz() -> Any:
    svc = services()
    try:
        with svc.factory() as session:
            session.execute(text("SELECT 1"))
            beat = session.scalars(
                select(WorkerHeartbeat.beat_at).order_by(WorkerHeartbeat.beat_at.desc()).limit(1)
            ).first()
    except Exception as exc:  # any database failure is "not healthy", never a 500
        return jsonify(status="unavailable", database=f"error: {type(exc).__name__}"), 503
    worker = "never ran"
    if beat is not None:
        age = svc.clock() - beat
        # A beat from the future (a skewed clock, a `tick --now` ahead) proves nothing.
        worker = "ok" if -WORKER_STALE_AFTER < age < WORKER_STALE_AFTER else "stale"
    return jsonify(
        status="ok",
        database="ok",
        worker=worker,
        last_worker_pass=beat.isoformat() if beat else None,
    )


@blueprint.get("/manifest.json")
def manifest() -> Any:
    return jsonify(load_manifest())


def _from_this_machine() -> bool:
    try:
        return ipaddress.ip_address(request.remote_addr or "").is_loopback
    except ValueError:
        return False


@blueprint.get("/dev/outbox")
def dev_outbox() -> Any:
    svc = services()
    if not svc.settings.uses_dev_outbox:
        abort(404)  # real providers are configured: nothing is (or should be) here
    if not _from_this_machine():
        abort(404)  # every shop's messages, with working links: only for the local developer
    with svc.factory() as session:
        entries = session.scalars(
            select(DevOutboxEntry).order_by(DevOutboxEntry.id.desc()).limit(200)
        ).all()
    return render_template("admin/dev_outbox.html", entries=entries)
