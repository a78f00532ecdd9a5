"""Turn stored deliveries into state and plans: one delivery, one transaction.

A delivery whose payload we cannot understand is marked failed with the reason (retrying would
not help); anything unexpected is retried a few times under the lease, then marked failed, and
stays in the inbox for an operator to look at. Nothing is dropped silently."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, update
from sqlalchemy.orm import Session, sessionmaker

from shoper_retention.errors import DomainError, UpstreamFailed
from shoper_retention.ingest import inbox, state, storefront_forms
from shoper_retention.ingest.events import (
    DomainEvent,
    ShopUninstalled,
)
from shoper_retention.models import InboxDelivery, Shop
from shoper_retention.platforms.base import PlatformSet
from shoper_retention.scenarios import registry

log = logging.getLogger(__name__)
LEASE = timedelta(minutes=5)  # the worker passes settings.claim_lease_seconds
# A delivery whose platform does not answer waits a quarter of its age (2 minutes to an hour)
# between tries, and is given up after two days: Ecwid retries its own for one.
UPSTREAM_BACKOFF_MIN = timedelta(minutes=2)
UPSTREAM_BACKOFF_MAX = timedelta(hours=1)
UPSTREAM_GIVE_UP = timedelta(days=2)
# Upstream failures in one pass after which a shop's other deliveries wait for the next pass
# without asking (an outage costs each delivery its timeouts); one entity failing alone
# does not hold the rest back.
UPSTREAM_STRIKES = 3


@dataclass
class IngestReport:
    processed: int = 0
    failed: int = 0  # marked failed: not understood, or out of retries
    retried: int = 0  # an unexpected error; the row comes back after a backoff


def to_events(platforms: PlatformSet, shop: Shop, delivery: InboxDelivery) -> Sequence[DomainEvent]:
    """A raw delivery into domain events: the storefront's through our own parsers, a
    platform's webhooks through that platform's adapter (platforms/registry.py)."""
    if delivery.source == "storefront":
        return storefront_forms.to_events(
            shop, delivery.event_name, delivery.body, delivery.received_at
        )
    platform = platforms.by_name.get(delivery.source)
    if platform is None:
        raise DomainError(f"unknown platform {delivery.source!r}")
    return platform.to_events(shop, delivery)


def apply_events(
    session: Session, shop: Shop, events: Sequence[DomainEvent], now: datetime
) -> None:
    """State first (ingest/state.py), then every scenario that reacts to the event."""
    for event in events:
        state.apply(session, shop, event, now)
        if isinstance(event, ShopUninstalled):
            continue
        for scenario in registry.REGISTRY.values():
            if isinstance(event, scenario.reacts_to):
                scenario.on_event(session, shop, event, now)


def process_pending(
    factory: sessionmaker[Session],
    now: datetime,
    *,
    platforms: PlatformSet,
    limit: int = 200,
    lease: timedelta = LEASE,
) -> IngestReport:
    """Claim pending deliveries in batches and process each in its own transaction, until none
    is left. A worker that dies mid-batch leaves its claims to run out after `lease`."""
    report = IngestReport()
    # Upstream failures per shop in this pass (UPSTREAM_STRIKES).
    unanswered: dict[int, int] = {}
    while True:
        with factory() as session, session.begin():
            batch = inbox.claim(session, now, limit, lease)
            ids = [(d.id, d.claim_token) for d in batch]
        if not ids:
            return report
        for delivery_id, token in ids:
            _process_one(factory, platforms, delivery_id, token, now, report, unanswered)
        if len(ids) < limit:
            return report


def _process_one(
    factory: sessionmaker[Session],
    platforms: PlatformSet,
    delivery_id: int,
    token: str | None,
    now: datetime,
    report: IngestReport,
    unanswered: dict[int, int],
) -> None:
    """Read the delivery into events first, with no transaction open: a platform whose bodies
    are not signed is asked over HTTP, and on SQLite an open transaction holds the write lock
    every web request needs. Then apply the events in one transaction, if the claim is still
    ours."""
    try:
        with factory() as session:
            delivery = session.get(InboxDelivery, delivery_id)
            if delivery is None or delivery.claim_token != token or delivery.status != "pending":
                return  # someone else took it after our lease ran out
            shop = session.get(Shop, delivery.shop_id)
            assert shop is not None
        events: Sequence[DomainEvent] = ()
        problem: DomainError | None = None
        if not shop.active:
            # Uninstalled: we keep no new data about its customers (a delivery can still
            # arrive in the seconds a web worker's secret cache lags behind).
            problem = DomainError("shop not active: delivery ignored")
        elif unanswered.get(shop.id, 0) >= UPSTREAM_STRIKES and delivery.source != "storefront":
            problem = UpstreamFailed("waiting: the platform did not answer")
        else:
            try:
                events = to_events(platforms, shop, delivery)
            except DomainError as exc:
                problem = exc
        with factory() as session, session.begin():
            delivery = session.get(InboxDelivery, delivery_id, with_for_update=True)
            if delivery is None or delivery.claim_token != token or delivery.status != "pending":
                return
            shop = session.get(Shop, delivery.shop_id)
            assert shop is not None
            if problem is None and not shop.active:  # uninstalled while we read
                problem = DomainError("shop not active: delivery ignored")
            if problem is None:
                try:
                    with session.begin_nested():
                        apply_events(session, shop, events, now)
                except DomainError as exc:
                    problem = exc
            age = now - delivery.received_at
            if isinstance(problem, UpstreamFailed) and age < UPSTREAM_GIVE_UP:
                # The platform could not answer (its bodies are read back before use): the
                # delivery waits, without using up its attempts, and dispatch holds the
                # shop's messages meanwhile (worker.INGEST_LAG).
                wait = min(max(age / 4, UPSTREAM_BACKOFF_MIN), UPSTREAM_BACKOFF_MAX)
                _retry_later(delivery, now + wait, problem.message)
                unanswered[shop.id] = unanswered.get(shop.id, 0) + 1
                report.retried += 1
                log.warning("inbox %s waits for its platform: %s", delivery_id, problem.message)
                return
            if isinstance(problem, UpstreamFailed):
                problem = DomainError(f"the platform did not answer for {age}: {problem.message}")
            if problem is not None:
                delivery.status = "failed"
                delivery.error = problem.message[:500]
                report.failed += 1
                log.warning("inbox %s failed: %s", delivery_id, problem.message)
            else:
                delivery.status = "processed"
                report.processed += 1
                note_widget_seen(session, shop, delivery)
            delivery.processed_at = now
            delivery.claim_token = None
            delivery.lease_until = None
    except Exception as exc:
        log.exception("inbox %s: unexpected error, will retry", delivery_id)
        with factory() as session, session.begin():
            delivery = session.get(InboxDelivery, delivery_id, with_for_update=True)
            if delivery is None or delivery.claim_token != token:
                return
            delivery.attempts += 1
            _retry_later(
                delivery,
                now + timedelta(seconds=30 * 2**delivery.attempts),
                f"unexpected error ({type(exc).__name__}); see the worker log",
            )
            if delivery.attempts >= inbox.MAX_ATTEMPTS:
                delivery.status = "failed"
                delivery.processed_at = now
                report.failed += 1
            else:
                report.retried += 1


def _retry_later(delivery: InboxDelivery, at: datetime, reason: str) -> None:
    """Give the claim back; its lease doubles as the backoff (claimable again after `at`)."""
    delivery.claim_token = None
    delivery.lease_until = at
    delivery.error = reason[:500]


# The settings page's "latest event from the shop's pages" moves at most this often: one
# UPDATE of the shop row an hour, not one per snapshot.
WIDGET_SEEN_STEP = timedelta(hours=1)


def note_widget_seen(session: Session, shop: Shop, delivery: InboxDelivery) -> None:
    """A storefront delivery processed for an active shop (never a failed one: junk anyone can
    post proves nothing) tells the settings page when the shop's pages first and last sent us
    something. Mostly free (the shop row is loaded); the guarded UPDATEs let two workers race
    without moving a time back."""
    if delivery.source != "storefront" or not shop.active:
        return
    at = delivery.received_at
    if shop.widget_seen_at is None:
        session.execute(
            update(Shop)
            .where(Shop.id == shop.id, Shop.widget_seen_at.is_(None))
            .values(widget_seen_at=at)
        )
    last = shop.widget_last_seen_at
    if last is None or at - last >= WIDGET_SEEN_STEP:
        session.execute(
            update(Shop)
            .where(
                Shop.id == shop.id,
                or_(
                    Shop.widget_last_seen_at.is_(None),
                    Shop.widget_last_seen_at <= at - WIDGET_SEEN_STEP,
                ),
            )
            .values(widget_last_seen_at=at)
        )
