"""For operators and app markets: /healthz, /manifest.json, and /dev/outbox (embedded mode)."""

from __future__ import annotations

import functools
import ipaddress
import logging
import os
import socket
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any, TypeVar

from flask import Blueprint, abort, current_app, jsonify, render_template, request
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from shoper_retention.manifest import load_manifest
from shoper_retention.models import DevOutboxEntry, HealthProbe, WorkerHeartbeat
from shoper_retention.scenarios import registry
from shoper_retention.web.services import services

log = logging.getLogger(__name__)
blueprint = Blueprint("ops", __name__)
WORKER_STALE_AFTER = timedelta(minutes=5)
# Headers a reverse proxy adds: with no trusted proxy configured, a request carrying any of
# them came through a proxy we know nothing about, so its loopback address proves nothing.
FORWARDING_HEADERS = (
    "HTTP_X_FORWARDED_FOR",
    "HTTP_FORWARDED",
    "HTTP_X_REAL_IP",
    "HTTP_X_FORWARDED_HOST",
)
View = TypeVar("View", bound=Callable[..., Any])


def _write_probe(session: Session, name: str, at: datetime) -> None:
    """Upsert this process's probe row: every delivery we take is a write, and a read alone
    cannot tell that writes fail (a full disk, a read-only file or database)."""
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    session.execute(
        insert(HealthProbe)
        .values(name=name, probed_at=at)
        .on_conflict_do_update(index_elements=["name"], set_={"probed_at": at})
    )


PROBE_INTERVAL = 1.0  # seconds: /healthz is public, and each probe takes the write lock


def _probe_writes(svc: Any) -> None:
    """Write the probe, at most once a second per process: a caller polling /healthz in a
    loop must not queue writes in front of the webhooks (the last outcome is reused)."""
    last = current_app.extensions.setdefault("shoper_retention.probe", {"at": -1e9, "error": None})
    if time.monotonic() - last["at"] >= PROBE_INTERVAL:
        last["at"], last["error"] = time.monotonic(), None
        try:
            with svc.factory() as session, session.begin():
                _write_probe(session, f"{socket.gethostname()}:{os.getpid()}"[:128], svc.clock())
        except Exception as exc:
            last["error"] = exc
    if last["error"] is not None:
        raise last["error"]


@blueprint.get("/healthz")
def healthz() -> Any:
    svc = services()
    try:
        _probe_writes(svc)
        with svc.factory() as session:
            beat = session.scalars(
                select(WorkerHeartbeat.beat_at).order_by(WorkerHeartbeat.beat_at.desc()).limit(1)
            ).first()
    except Exception as exc:  # any database failure is "not healthy", never a 500
        log.warning("health check: database failed: %r", exc)
        response = jsonify(status="unavailable", database=f"error: {type(exc).__name__}")
        response.status_code = 503
        response.headers["Retry-After"] = "30"
        return response
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
    """The file, with the scenarios the registry holds: a new scenario is one registry entry,
    never a second list to keep in step."""
    return jsonify({**load_manifest(), "scenarios": list(registry.REGISTRY)})


def from_this_machine(environ: Mapping[str, Any], trusted_proxies: int) -> bool:
    """True for a request made on this machine. Behind N trusted proxies REMOTE_ADDR is the
    client's address already (ProxyFix, app.py); with none, a request bearing a proxy's
    headers came through some proxy on this host and is treated as remote."""
    if not trusted_proxies and any(header in environ for header in FORWARDING_HEADERS):
        return False
    try:
        return ipaddress.ip_address(environ.get("REMOTE_ADDR") or "").is_loopback
    except ValueError:
        return False


def local_only(view: View) -> View:
    """A page only the machine's own user may see: 404 for anyone else."""

    @functools.wraps(view)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        if not from_this_machine(request.environ, services().settings.trusted_proxies):
            abort(404)
        return view(*args, **kwargs)

    return guarded  # type: ignore[return-value]


@blueprint.get("/dev/outbox")
@local_only  # every shop's messages, with working links: only for the local developer
def dev_outbox() -> Any:
    svc = services()
    if not svc.settings.uses_dev_outbox:
        abort(404)  # real providers are configured: nothing is (or should be) here
    with svc.factory() as session:
        entries = session.scalars(
            select(DevOutboxEntry).order_by(DevOutboxEntry.id.desc()).limit(200)
        ).all()
    return render_template("admin/dev_outbox.html", entries=entries)
