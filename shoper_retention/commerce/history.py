"""A shop's past customers and orders, imported page by page through the platform's REST API.

Birthdays and anniversaries need the years before the install. Each page is read with no
transaction open (on SQLite one would hold the write lock through the HTTP call), then its
records go through the same state path as webhooks (`ingest.state.apply`: orders upsert by
platform id, contacts by address), never through the scenarios: the past must not send a
welcome or a cart reminder. A page's rows and `next_page + 1` are committed together, so a
crash resumes at the first page not applied, and applying a page twice changes nothing."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from shoper_retention.ingest import state
from shoper_retention.ingest.events import DomainEvent
from shoper_retention.models import HistoryImport, Shop

log = logging.getLogger(__name__)

KINDS = ("customers", "orders")
DEFAULT_YEARS = 2
PAGES_PER_PASS = 20  # pages one worker pass reads, all shops together
PAGES_PER_SHOP = 5  # of which one shop gets at most this many: a big history waits its turn
# A claimed import is pushed this far ahead while its page is read: a worker dying mid-read
# only delays it, and no other worker reads the same page meanwhile.
READ_LEASE = timedelta(minutes=5)
RETRY_BASE = timedelta(minutes=1)  # a failed read waits 1, 2, 4 ... minutes
RETRY_MAX = timedelta(hours=6)
MAX_ATTEMPTS = 12  # failed reads in a row (about two days of back-off) before giving up
ERROR_LENGTH = 500

# Why an import stopped, for the merchant. `error` is stored as "<reason>: <details>".
REASONS: Mapping[str, Mapping[str, str]] = {
    "auth": {
        "pl": "brak dostępu do sklepu, zainstaluj aplikację ponownie",
        "en": "no access to the shop, reinstall the app",
    },
    "scope": {
        "pl": "aplikacja nie ma uprawnień do odczytu tych danych",
        "en": "the app has no permission to read this data",
    },
    "rejected": {
        "pl": "sklep odrzucił zapytanie",
        "en": "the shop refused the request",
    },
    "unavailable": {
        "pl": "sklep zbyt długo nie odpowiadał; spróbuj ponownie później",
        "en": "the shop has not responded for too long; try again later",
    },
}
LABELS: Mapping[str, Mapping[str, str]] = {
    "customers": {"pl": "Klienci", "en": "Customers"},
    "orders": {"pl": "Zamówienia", "en": "Orders"},
}


@dataclass(frozen=True)
class HistoryPage:
    """One page of a platform's list: its records as domain events, and how many pages the
    platform reports now (0 for an empty list)."""

    events: Sequence[DomainEvent]
    pages: int


class HistoryUnavailable(Exception):
    """The platform could not answer now (an outage, a timeout, a locked bucket): try later."""


class HistoryRefused(Exception):
    """The platform will not give this data (credentials, permissions): asking again will not
    help. The message starts with a key of REASONS."""


class HistoryReader(Protocol):
    """One platform's lists. `kind` is one of KINDS; orders are read from `since` on."""

    def __call__(
        self, shop: Shop, kind: str, since: datetime, page: int, now: datetime
    ) -> HistoryPage:
        """Page `page` (from 1); raises HistoryUnavailable or HistoryRefused."""


@dataclass(frozen=True)
class Claim:
    import_id: int
    shop: Shop  # detached, read-only: what the reader needs (URL, token, timezone)
    kind: str
    since: datetime
    page: int


@dataclass
class HistoryReport:
    pages: int = 0
    rows: int = 0
    failed: int = 0


# --- requests -----------------------------------------------------------------------------


def request_import(session: Session, shop: Shop, now: datetime, years: int = DEFAULT_YEARS) -> bool:
    """Start importing the shop's customers and its orders of the last `years` years; False
    when both are already running (a second click, a repeated install), which go on as they
    are. A finished or failed import starts again from its first page."""
    since = _years_before(now, years)
    started = False
    for kind in KINDS:
        row = session.scalars(
            select(HistoryImport)
            .where(HistoryImport.shop_id == shop.id, HistoryImport.kind == kind)
            .with_for_update()
        ).first()
        if row is not None and row.status == "pending":
            continue
        if row is None:
            try:
                # Two requests at once both find no row: the unique (shop, kind) keeps one.
                with session.begin_nested():
                    row = HistoryImport(shop_id=shop.id, kind=kind)
                    _restart(row, since, now)
                    session.add(row)
            except IntegrityError:
                continue
        else:
            _restart(row, since, now)
        started = True
    session.flush()
    return started


def _restart(row: HistoryImport, since: datetime, now: datetime) -> None:
    row.status = "pending"
    row.since = since
    row.next_page = 1
    row.pages = None
    row.rows = 0
    row.attempts = 0
    row.error = ""
    row.requested_at = now
    row.due_at = now
    row.finished_at = None


def _years_before(now: datetime, years: int) -> datetime:
    try:
        return now.replace(year=now.year - years)
    except ValueError:  # 29 February
        return now.replace(year=now.year - years, day=28)


# --- the worker job -----------------------------------------------------------------------


def run_due(
    factory: sessionmaker[Session],
    read: HistoryReader,
    now: datetime,
    *,
    budget: int = PAGES_PER_PASS,
    per_shop: int = PAGES_PER_SHOP,
) -> HistoryReport:
    """Read and apply up to `budget` due pages, one page per shop in turn, at most `per_shop`
    pages of one shop, so a shop with years of orders does not hold back the others (the rest
    comes in the next passes). Shoper's bucket is per shop, so taking turns also paces it."""
    report = HistoryReport()
    taken: dict[int, int] = {}
    steps = 0
    while steps < budget:
        full = {shop_id for shop_id, pages in taken.items() if pages >= per_shop}
        with factory() as session, session.begin():
            claims = _claim(session, now, budget - steps, full)
        if not claims:
            break
        for claim in claims:
            taken[claim.shop.id] = taken.get(claim.shop.id, 0) + 1
            steps += 1
            _step(factory, read, claim, now, report)
    return report


def _claim(session: Session, now: datetime, limit: int, skip: set[int]) -> list[Claim]:
    """Due imports of active shops, the longest-waiting first, one per shop, each pushed
    `READ_LEASE` ahead."""
    query = (
        select(HistoryImport)
        .join(Shop, Shop.id == HistoryImport.shop_id)
        .where(
            HistoryImport.status == "pending",
            HistoryImport.due_at <= now,
            Shop.status == "active",
        )
        .order_by(HistoryImport.due_at, HistoryImport.id)
        .limit(len(KINDS) * limit)
        .with_for_update(skip_locked=True, of=HistoryImport)
    )
    if skip:
        query = query.where(HistoryImport.shop_id.not_in(skip))
    claims: list[Claim] = []
    shops: set[int] = set()
    for row in session.scalars(query):
        if row.shop_id in shops or len(claims) >= limit:
            continue
        shop = session.get(Shop, row.shop_id)
        if shop is None:
            continue
        shops.add(row.shop_id)
        row.due_at = now + READ_LEASE
        claims.append(Claim(row.id, shop, row.kind, row.since, row.next_page))
    return claims


def _step(
    factory: sessionmaker[Session],
    read: HistoryReader,
    claim: Claim,
    now: datetime,
    report: HistoryReport,
) -> None:
    try:
        page = read(claim.shop, claim.kind, claim.since, claim.page, now)
    except HistoryRefused as exc:
        log.warning("shop %s: %s import stopped: %s", claim.shop.id, claim.kind, exc)
        _record_failure(factory, claim, now, str(exc), permanent=True)
        report.failed += 1
        return
    except HistoryUnavailable as exc:
        log.info("shop %s: %s page %s not read: %s", claim.shop.id, claim.kind, claim.page, exc)
        _record_failure(factory, claim, now, f"unavailable: {exc}", permanent=False)
        report.failed += 1
        return
    except Exception as exc:
        # A bug or an answer we cannot parse: back off like an outage, so it neither stops
        # the other shops nor spins; after MAX_ATTEMPTS the import shows as stopped.
        log.exception("shop %s: reading %s page %s failed", claim.shop.id, claim.kind, claim.page)
        _record_failure(factory, claim, now, f"unavailable: {exc}", permanent=False)
        report.failed += 1
        return
    with factory() as session, session.begin():
        row = session.get(HistoryImport, claim.import_id, with_for_update=True)
        if row is None or row.status != "pending" or row.next_page != claim.page:
            return  # finished, or restarted by a new request, while the page was read
        shop = session.get(Shop, row.shop_id)
        if shop is None:
            return
        for event in page.events:
            state.apply(session, shop, event, now)
        row.rows += len(page.events)
        row.pages = page.pages
        row.next_page += 1
        row.attempts = 0
        row.error = ""
        row.due_at = now
        if row.next_page > page.pages:
            row.status = "done"
            row.finished_at = now
    report.pages += 1
    report.rows += len(page.events)


def _record_failure(
    factory: sessionmaker[Session], claim: Claim, now: datetime, error: str, *, permanent: bool
) -> None:
    with factory() as session, session.begin():
        row = session.get(HistoryImport, claim.import_id, with_for_update=True)
        if row is None or row.status != "pending" or row.next_page != claim.page:
            return
        row.attempts += 1
        row.error = error[:ERROR_LENGTH]
        if permanent or row.attempts >= MAX_ATTEMPTS:
            row.status = "failed"
            row.finished_at = now
        else:
            row.due_at = now + min(RETRY_BASE * 2 ** (row.attempts - 1), RETRY_MAX)


# --- progress -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Progress:
    """Where one import stands, for the settings page and `shops list`."""

    kind: str
    status: str  # pending | done | failed
    pages_read: int
    pages: int | None  # None until the first page is read
    rows: int
    error: str  # "<reason>: <details>" while retrying or after a failure, else ""
    requested_at: datetime
    finished_at: datetime | None

    @property
    def running(self) -> bool:
        return self.status == "pending"

    @property
    def reason(self) -> str:
        key = self.error.split(":", 1)[0]
        return key if key in REASONS else "unavailable"

    def text(self, language: str) -> str:
        """One line for the merchant, in Polish or English."""
        pl = language == "pl"
        label = _say(LABELS[self.kind], language)
        if self.status == "done":
            return (
                f"{label}: gotowe, zaimportowano {self.rows}"
                if pl
                else (f"{label}: done, {self.rows} imported")
            )
        if self.status == "failed":
            why = _say(REASONS[self.reason], language)
            return f"{label}: przerwano, {why}" if pl else f"{label}: stopped, {why}"
        if self.pages is None:
            line = f"{label}: czeka na rozpoczęcie" if pl else f"{label}: waiting to start"
        elif pl:
            noun = "strony" if self.pages == 1 else "stron"
            line = f"{label}: odczytano {self.pages_read} z {self.pages} {noun}"
        else:
            noun = "page" if self.pages == 1 else "pages"
            line = f"{label}: {self.pages_read} of {self.pages} {noun} read"
        if self.error:
            line += " (ponowna próba wkrótce)" if pl else " (trying again soon)"
        return line

    def as_dict(self) -> dict[str, Any]:
        """For operators (`shops list --json`)."""
        return {
            "kind": self.kind,
            "status": self.status,
            "pages_read": self.pages_read,
            "pages": self.pages,
            "rows": self.rows,
            "error": self.error,
        }


def orders_known_since(session: Session, shop: Shop) -> date | None:
    """The shop-local date from which this shop's orders are all known (the orders import's
    start), or None when history was never imported (nothing to say either way). An order
    before it may exist that we never read, so a first order on record before that date, or
    of a customer whose account is older, may not be the first."""
    since = session.scalar(
        select(HistoryImport.since).where(
            HistoryImport.shop_id == shop.id, HistoryImport.kind == "orders"
        )
    )
    return since.astimezone(ZoneInfo(shop.timezone)).date() if since is not None else None


def progress(session: Session, shop: Shop) -> list[Progress]:
    """The shop's imports in KINDS order; empty when none was ever requested."""
    rows = {
        row.kind: row
        for row in session.scalars(select(HistoryImport).where(HistoryImport.shop_id == shop.id))
    }
    return [
        Progress(
            kind=kind,
            status=row.status,
            pages_read=row.next_page - 1,
            pages=row.pages,
            rows=row.rows,
            error=row.error,
            requested_at=row.requested_at,
            finished_at=row.finished_at,
        )
        for kind in KINDS
        if (row := rows.get(kind)) is not None
    ]


def summary_of(items: Sequence[Mapping[str, Any]]) -> str:
    """One operator's line for a shop's imports (`Progress.as_dict()` each), as `shops list`
    prints it: "customers 3/10 pages, orders done (1234)"."""
    return ", ".join(_short(item) for item in items) or "not requested"


def _short(item: Mapping[str, Any]) -> str:
    kind, status = item["kind"], item["status"]
    if status == "done":
        return f"{kind} done ({item['rows']})"
    if status == "failed":
        return f"{kind} failed ({item['error']})"
    pages = "?" if item["pages"] is None else item["pages"]
    retrying = ", retrying" if item["error"] else ""
    return f"{kind} {item['pages_read']}/{pages} pages{retrying}"


def _say(text: Mapping[str, str], language: str) -> str:
    return text.get(language) or text["en"]
