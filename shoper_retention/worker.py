"""The background jobs: ingest the inbox, run the clock-driven scans, keep platform tokens
fresh, read cart products from the shops' catalogues, dispatch due messages. `tick(now)` is
one pass of all of them (the CLI's `tick --now` and the tests move the clock); `run` repeats
it on APScheduler's interval."""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import requests
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from shoper_retention import connectors, shop_config
from shoper_retention.clock import utcnow
from shoper_retention.commerce import catalogue, history, restock_check, stock
from shoper_retention.connectors.base import Connector
from shoper_retention.credentials import CredentialBox
from shoper_retention.ingest import inbox
from shoper_retention.ingest import pipeline as ingest
from shoper_retention.messaging.coupons import CreateAtPlatform
from shoper_retention.messaging.dispatch import Dispatcher, DispatchReport
from shoper_retention.models import Shop, WorkerHeartbeat
from shoper_retention.platforms.registry import PLATFORMS, Platforms
from shoper_retention.scenarios import registry
from shoper_retention.settings import Settings

log = logging.getLogger(__name__)
SHOP_PAGE = 200
PURGE_BATCH = 1000  # inbox rows whose raw body one transaction drops
PURGE_BATCHES = 20  # per pass: a backlog is worked off over a few passes, never in one long one
# A shop's messages wait while a delivery from its platform has been pending this long (its
# platform does not answer the read-back, or it keeps failing): it may be the order that
# makes a reminder wrong.
INGEST_LAG = timedelta(minutes=10)
BEHIND = "waiting for the shop's pending webhooks to be processed"


@dataclass
class TickReport:
    ingested: int = 0
    ingest_failed: int = 0
    ingest_retried: int = 0
    planned: int = 0
    shops_maintained: int = 0
    products: catalogue.RefreshReport = field(default_factory=catalogue.RefreshReport)
    history: history.HistoryReport = field(default_factory=history.HistoryReport)
    dispatch: DispatchReport = field(default_factory=DispatchReport)
    inbox_purged: int = 0
    # Jobs (or one shop's scan) that raised: logged with their traceback, and listed here so
    # `tick` shows them; the rest of the pass ran anyway.
    errors: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        d = self.dispatch
        return {
            "ingested": self.ingested,
            "ingest_failed": self.ingest_failed,
            "ingest_retried": self.ingest_retried,
            "planned": self.planned,
            "shops_maintained": self.shops_maintained,
            "products_read": self.products.found + self.products.missing,
            "history_pages": self.history.pages,
            "sent": d.sent,
            "cancelled": d.cancelled,
            "skipped": d.skipped,
            "moved": d.moved,
            "retried": d.retried,
            "failed": d.failed,
            "paused": d.paused,
            "inbox_purged": self.inbox_purged,
            "reasons": d.reasons,
            "errors": self.errors,
        }


def connector_factory(
    settings: Settings, factory: sessionmaker[Session]
) -> Callable[[Shop, str], Connector]:
    box = CredentialBox(settings.secret_key)

    def build(shop: Shop, channel: str) -> Connector:
        if channel == "sms":
            return connectors.sms_connector(
                settings, box.open(shop.smsapi_token_enc), shop_config.sms_sender(shop), factory
            )
        return connectors.email_connector(settings, factory)

    return build


class Worker:
    def __init__(
        self,
        settings: Settings,
        factory: sessionmaker[Session],
        *,
        http: requests.Session | None = None,
        connectors_for: Callable[[Shop, str], Connector] | None = None,
        coupons_for: Callable[[Session, datetime], CreateAtPlatform] | None = None,
        catalogue_reader: catalogue.CatalogueReader | None = None,
        history_reader: history.HistoryReader | None = None,
        stock_reader: stock.StockReader | None = None,
        name: str | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.settings = settings
        self.factory = factory
        self.name = name or f"{socket.gethostname()}:{os.getpid()}"
        # Only the heartbeat reads it: liveness is about real time, whatever `now` a pass
        # simulates (a `tick --now` in 2030 must not make /healthz report a live worker).
        self.clock = clock
        self.platforms = Platforms(settings, http)
        self.connectors_for = connectors_for or connector_factory(settings, factory)
        self.coupons_for = coupons_for or self.platforms.coupon_creator
        # Reads cart products from each shop's own platform.
        self.catalogue_reader = catalogue_reader or self.platforms.catalogue
        # Past customers and orders for the history import, from each shop's platform.
        self.history_reader = history_reader or self.platforms.history
        # Re-reads the stock of products shoppers wait for, from each shop's platform.
        self.stock_reader = stock_reader or self.platforms.stock

    def tick(self, now: datetime) -> TickReport:
        """One pass of every job. A job that raises is logged and reported, and the next job
        runs: a shop whose token refresh hits a bug must not stop every shop's messages. A
        database that is unreachable fails the whole pass instead (every job would fail)."""
        report = TickReport()
        lease = timedelta(seconds=self.settings.claim_lease_seconds)

        def ingest_job() -> None:
            done = ingest.process_pending(self.factory, now, platforms=self.platforms, lease=lease)
            report.ingested, report.ingest_failed = done.processed, done.failed
            report.ingest_retried = done.retried

        def scan_job() -> None:
            report.planned = self.scan(now, report)

        def maintain_job() -> None:
            report.shops_maintained = self.platforms.maintain(self.factory, now)

        def history_job() -> None:
            # After maintain, which keeps the tokens the reader uses fresh.
            report.history = history.run_due(self.factory, self.history_reader, now)

        def catalogue_job() -> None:
            # After maintain (tokens fresh) and before dispatch (messages see the products).
            report.products = catalogue.refresh_due(self.factory, self.catalogue_reader, now)

        def restock_job() -> None:
            # After maintain (tokens fresh) and before dispatch (a restock found is sent).
            restock_check.recheck_due(self.factory, self.stock_reader, now)

        def dispatch_job() -> None:
            report.dispatch = self.dispatcher(now).dispatch_due(now)

        def purge_job() -> None:
            report.inbox_purged = self.purge(now)

        for job, run in (
            ("ingest", ingest_job),
            ("scan", scan_job),
            ("maintain", maintain_job),
            ("history", history_job),
            ("catalogue", catalogue_job),
            ("restock check", restock_job),
            ("dispatch", dispatch_job),
            ("purge", purge_job),
        ):
            self._isolated(report, job, run)
        self._beat()
        return report

    @staticmethod
    def _isolated(report: TickReport, job: str, run: Callable[[], None]) -> None:
        try:
            run()
        except OperationalError:
            raise  # the database is down or locked: the next pass retries everything
        except Exception as exc:
            log.exception("worker job %s failed; the next pass will retry", job)
            report.errors.append(f"{job}: {type(exc).__name__}: {exc}"[:500])

    def dispatcher(self, now: datetime) -> Dispatcher:
        with self.factory() as session:
            behind = inbox.shops_behind(session, now - INGEST_LAG)

        def waiting_reason(shop: Shop) -> str | None:
            if shop.id in behind:
                return BEHIND
            return _waiting_reason(shop)

        return Dispatcher(
            self.settings,
            self.factory,
            self.connectors_for,
            coupons_for=self.coupons_for,
            waiting_reason=waiting_reason,
        )

    def scan(self, now: datetime, report: TickReport | None = None) -> int:
        """Every scenario's clock-driven planning, one shop per transaction, paged by id.

        A shop whose scan raises (say, settings it cannot read) is rolled back and skipped;
        the other shops are scanned as usual."""
        report = report or TickReport()
        planned, last_id = 0, 0
        while True:
            with self.factory() as session:
                shop_ids = list(
                    session.scalars(
                        select(Shop.id)
                        .where(Shop.status == "active", Shop.id > last_id)
                        .order_by(Shop.id)
                        .limit(SHOP_PAGE)
                    )
                )
            for shop_id in shop_ids:

                def scan_shop(shop_id: int = shop_id) -> None:
                    nonlocal planned
                    planned += self._scan_shop(shop_id, now)

                self._isolated(report, f"scan of shop {shop_id}", scan_shop)
            if len(shop_ids) < SHOP_PAGE:
                return planned
            last_id = shop_ids[-1]

    def purge(self, now: datetime) -> int:
        """Drop the raw bodies of inbox rows past the retention period, a batch per
        transaction (short write locks), at most PURGE_BATCHES batches a pass."""
        older_than = timedelta(days=self.settings.inbox_retention_days)
        purged = 0
        for _ in range(PURGE_BATCHES):
            with self.factory() as session, session.begin():
                done = inbox.purge_bodies(session, now, older_than, PURGE_BATCH)
            purged += done
            if done < PURGE_BATCH:
                break
        return purged

    def _scan_shop(self, shop_id: int, now: datetime) -> int:
        planned = 0
        with self.factory() as session, session.begin():
            shop = session.get(Shop, shop_id)
            if shop is None:
                return 0  # uninstalled and deleted since the page was read
            for scenario in registry.REGISTRY.values():
                planned += scenario.scan(session, shop, now)
        return planned

    def _beat(self) -> None:
        at = self.clock()
        with self.factory() as session, session.begin():
            beat = session.get(WorkerHeartbeat, self.name)
            if beat is None:
                session.add(WorkerHeartbeat(name=self.name, beat_at=at))
            else:
                beat.beat_at = at

    def safe_tick(self) -> None:
        """The scheduled job: a failing pass is logged and the next one runs as usual."""
        try:
            report = self.tick(self.clock())
            summary = report.summary()
            counts = {k: v for k, v in summary.items() if k not in ("reasons", "errors")}
            if any(counts.values()):
                log.info("worker pass: %s", counts)
        except Exception:
            log.exception("worker pass failed; the next one will retry")

    def scheduler(self, background: bool) -> Any:
        from apscheduler.schedulers.background import BackgroundScheduler
        from apscheduler.schedulers.blocking import BlockingScheduler

        scheduler = BackgroundScheduler() if background else BlockingScheduler()
        scheduler.add_job(
            self.safe_tick,
            "interval",
            seconds=self.settings.worker_interval_seconds,
            max_instances=1,  # a slow pass is never overlapped by the next one
            coalesce=True,
            next_run_time=utcnow(),
            id="worker-pass",
        )
        return scheduler


def _waiting_reason(shop: Shop) -> str | None:
    platform = PLATFORMS.get(shop.platform)
    return platform.waiting_reason(shop) if platform is not None else None
