"""The `shoper-retention` console script (the public contract in architecture.md)."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import click
from sqlalchemy import select
from sqlalchemy.exc import OperationalError, ProgrammingError

from shoper_retention.settings import Settings, SettingsError


def _settings() -> Settings:
    try:
        return Settings.from_env()
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from exc


def _factory(settings: Settings):  # type: ignore[no-untyped-def]
    from shoper_retention.db import make_engine, make_session_factory

    return make_session_factory(make_engine(settings.database_url))


@contextmanager
def _database_errors() -> Iterator[None]:
    """An unreachable database or a missing schema is an operator's fix: say which, briefly."""
    try:
        yield
    except (OperationalError, ProgrammingError) as exc:
        raise click.ClickException(
            f"database error: {str(exc.orig).strip()} "
            "(is the database reachable, and has `shoper-retention db upgrade` run?)"
        ) from exc


@click.group()
@click.option("-v", "--verbose", is_flag=True, help="Log debug details.")
def main(verbose: bool) -> None:
    """Retention messages for Shoper and Ecwid shops."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not verbose:
        logging.getLogger("alembic").setLevel(logging.WARNING)  # a dozen set-up lines per run
        # Two lines per worker pass, every 5 s; the worker logs what its passes did itself.
        logging.getLogger("apscheduler").setLevel(logging.WARNING)


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply migrations (creates the SQLite file on first run)."""
    from shoper_retention.migrate import upgrade

    settings = _settings()
    with _database_errors():
        upgrade(settings)
    click.echo("database is up to date")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
def serve(host: str, port: int) -> None:
    """Web and worker in one process: the embedded default."""
    from waitress import serve as waitress_serve

    from shoper_retention.app import create_app
    from shoper_retention.migrate import upgrade
    from shoper_retention.worker import Worker

    settings = _settings()
    upgrade(settings)
    factory = _factory(settings)
    app = create_app(settings, factory=factory)
    scheduler = Worker(settings, factory).scheduler(background=True)
    scheduler.start()
    outbox_note = ""
    if settings.uses_dev_outbox:
        outbox_note = " (messages go to the dev outbox: /dev/outbox)"
    click.echo(f"serving on http://{host}:{port}{outbox_note}")
    try:
        waitress_serve(app, host=host, port=port, threads=8)
    finally:
        scheduler.shutdown(wait=False)


@main.command()
def worker() -> None:
    """The background jobs only (beside gunicorn `shoper_retention.wsgi:app`)."""
    from shoper_retention.worker import Worker

    settings = _settings()
    click.echo(f"worker started, a pass every {settings.worker_interval_seconds:g} s")
    Worker(settings, _factory(settings)).scheduler(background=False).start()


@main.command()
@click.option("--now", "now_text", default=None, help="ISO 8601 time the clock should read.")
def tick(now_text: str | None) -> None:
    """One pass of every job as if the clock read --now; prints what it did.

    Exits 1 when a job failed (listed under "errors"), so a cron job or a script notices."""
    from shoper_retention.clock import utcnow
    from shoper_retention.worker import Worker

    now = _parse_now(now_text) if now_text else utcnow()
    settings = _settings()
    with _database_errors():
        report = Worker(settings, _factory(settings)).tick(now)
    click.echo(json.dumps({"now": now.isoformat(), **report.summary()}, indent=2))
    if report.errors:
        sys.exit(1)


def _parse_now(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise click.BadParameter(
            "use ISO 8601, e.g. 2026-12-01T10:00:00Z", param_hint="--now"
        ) from exc
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@main.group()
def shops() -> None:
    """Installed shops."""


@shops.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def shops_list(as_json: bool) -> None:
    """Installed shops with platform, id, status, storefront key and history import."""
    from shoper_retention.commerce import history
    from shoper_retention.models import Shop

    settings = _settings()
    with _database_errors(), _factory(settings)() as session:
        rows = [
            {
                "id": s.id,
                "platform": s.platform,
                "platform_shop_id": s.platform_shop_id,
                "name": s.name,
                "shop_url": s.shop_url,
                "status": s.status,
                "public_key": s.public_key,
                "webhook_url": _webhook_url(settings.public_url, s),
                "installed_at": s.installed_at.isoformat(),
                "history_import": [p.as_dict() for p in history.progress(session, s)],
            }
            for s in session.scalars(select(Shop).order_by(Shop.id))
        ]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo("no shops installed")
    for r in rows:
        click.echo(
            f"{r['id']:>4}  {r['platform']:<7} {r['platform_shop_id']:<42} {r['status']:<11} "
            f"key={r['public_key']}  {r['name'] or r['shop_url']}  "
            f"history: {history.summary_of(r['history_import'])}"
        )


@main.command()
def demo() -> None:
    """A demo shop, a cart abandoned and recovered in simulated time, and its messages."""
    from shoper_retention.demo import run_demo

    settings = _settings()
    logging.getLogger().setLevel(logging.WARNING)  # the story is the output, not the log
    run_demo(settings, click.echo)


def _webhook_url(public_url: str, shop: Any) -> str:
    from shoper_retention.platforms.registry import PLATFORMS

    platform = PLATFORMS.get(shop.platform)
    return platform.webhook_url(public_url, shop) if platform is not None else ""


if __name__ == "__main__":
    sys.exit(main())
