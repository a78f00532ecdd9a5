"""Send what is due: claim -> re-check guards -> render -> connector.send -> record the outcome.

Each claimed message is prepared in its own transaction (guards and rendering see the latest
state, e.g. an order ingested a second ago), sent outside any transaction, and its outcome
recorded in another. A worker that dies between send and record leaves the claim to expire; the
retry carries the same idempotency key (SMSAPI answers 53, "already sent")."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from jinja2 import TemplateError
from sqlalchemy.orm import Session, sessionmaker

from shoper_retention import shop_config
from shoper_retention.clock import utcnow
from shoper_retention.connectors.base import (
    Connector,
    Failed,
    Outcome,
    OutgoingMessage,
    Paused,
    Retry,
    Sent,
)
from shoper_retention.contacts import consent
from shoper_retention.contacts import records as contacts
from shoper_retention.contacts.phones import masked
from shoper_retention.credentials import CredentialBox
from shoper_retention.db import lock_for_transaction
from shoper_retention.links import Links
from shoper_retention.messaging import coupons, guards, outbox
from shoper_retention.messaging.coupons import CouponInfo, CouponPolicy
from shoper_retention.messaging.rendering import Renderer
from shoper_retention.messaging.sms_text import prepare_sms
from shoper_retention.models import ChannelPause, Contact, Message, Shop
from shoper_retention.scenarios import registry
from shoper_retention.settings import Settings

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 8
UNKNOWN_OUTCOME = "outcome unknown: a worker stopped while sending; not sent again (no duplicate)"
SETUP_WAIT = timedelta(minutes=15)
RETRY_BASE = timedelta(minutes=1)
RETRY_MAX = timedelta(hours=6)

# (shop, channel) -> connector; built once per batch and per shop (SMSAPI tokens are per shop).
ConnectorFactory = Callable[[Shop, str], Connector]


@dataclass
class DispatchReport:
    sent: int = 0
    cancelled: int = 0
    skipped: int = 0
    moved: int = 0
    retried: int = 0
    failed: int = 0
    paused: int = 0
    reasons: list[str] = field(default_factory=list)

    def count(self, kind: str, reason: str = "") -> None:
        setattr(self, kind, getattr(self, kind) + 1)
        if reason:
            self.reasons.append(f"{kind}: {reason}")


class _Services:
    """What scenarios may ask for while a message is prepared."""

    def __init__(
        self, session: Session, create_coupon: coupons.CreateAtPlatform | None, links: Links
    ) -> None:
        self.session = session
        self.create_coupon = create_coupon
        self.links = links

    def coupon(
        self, shop: Shop, plan_key: str, policy: CouponPolicy, now: datetime
    ) -> CouponInfo | None:
        return coupons.coupon_for(self.session, shop, plan_key, policy, now, self.create_coupon)

    def link_url(self, message_id: int, link: str) -> str:
        return self.links.click_url(message_id, link)

    def confirmation_url(self, message_id: int) -> str:
        return self.links.confirmation_url(message_id)


class Dispatcher:
    def __init__(
        self,
        settings: Settings,
        factory: sessionmaker[Session],
        connectors: ConnectorFactory,
        *,
        renderer: Renderer | None = None,
        coupons_for: Callable[[Session, datetime], coupons.CreateAtPlatform] | None = None,
        waiting_reason: Callable[[Shop], str | None] = lambda shop: None,
    ) -> None:
        self.settings = settings
        self.factory = factory
        self.connectors = connectors
        self.renderer = renderer or Renderer()
        self.links = Links(settings.secret_key, settings.public_url)
        self.box = CredentialBox(settings.secret_key)
        self.coupons_for = coupons_for  # the platform's coupon API, bound to a session
        # Why the shop's platform says its messages must wait (e.g. set-up unfinished).
        self.waiting_reason = waiting_reason
        self.lease = timedelta(seconds=settings.claim_lease_seconds)
        self._lease_clock: Callable[[], datetime] = lambda: utcnow()

    def dispatch_due(self, now: datetime) -> DispatchReport:
        """Send everything due at `now`. Rules (guards, records) read `now`; leases read `now`
        plus the time this pass has taken, so a long pass never works on an expired claim."""
        report = DispatchReport()
        started = time.monotonic()
        self._lease_clock = lambda: now + timedelta(seconds=time.monotonic() - started)
        lease = self.lease
        seen: set[int] = set()
        while True:
            with self.factory() as session, session.begin():
                claimed = outbox.claim_due(
                    session,
                    now,
                    self.settings.dispatch_batch_size,
                    lease,
                    lease_now=self._lease_clock(),
                )
                batch = [(m.id, m.claim_token) for m in claimed]
            if not batch or seen.issuperset(i for i, _ in batch):
                # Nothing left, or only what this pass already handled and left due (a
                # message moved to a time not after `now`): never spin on the same rows.
                if batch:
                    self._release(batch, now)
                return report
            seen.update(i for i, _ in batch)
            with ExitStack() as stack:
                open_connectors: dict[tuple[int, str], Connector] = {}
                for message_id, token in batch:
                    try:
                        self._one(message_id, token, now, report, stack, open_connectors)
                    except Exception:
                        # A bug or an outage in one message must not stop the batch.
                        log.exception("message %s: unexpected error, will retry", message_id)
                        self._release_for_retry(message_id, token, now, report)
            if len(batch) < self.settings.dispatch_batch_size:
                return report

    def _one(
        self,
        message_id: int,
        token: str | None,
        now: datetime,
        report: DispatchReport,
        stack: ExitStack,
        open_connectors: dict[tuple[int, str], Connector],
    ) -> None:
        with self.factory() as session, session.begin():
            message = session.get(Message, message_id, with_for_update=True)
            if message is None or not outbox.still_claimed_by(message, token):
                return
            shop = session.get(Shop, message.shop_id)
            assert shop is not None
            if message.in_flight_since is not None and not self._resend_is_safe(shop, message):
                # A worker died between handing this message to the provider and recording
                # the answer, and the provider cannot tell a resend from a new message.
                outbox.mark_failed(message, now, UNKNOWN_OUTCOME)
                report.count("failed", UNKNOWN_OUTCOME)
                return
            # Locked: two workers sending to one contact at once must see each other's
            # in-flight message in the frequency cap.
            contact = session.get(Contact, message.contact_id, with_for_update=True)
            assert contact is not None
            scenario = registry.REGISTRY.get(message.scenario)
            address = scenario.recipient(session, shop, message) if scenario else None
            verdict = self._check(session, shop, message, address, now)
            if verdict.action != "send":
                self._apply(message, verdict, now, report)
                return
            assert address is not None
            try:
                outgoing = self._prepare(session, shop, contact, message, address, now)
            except TemplateError as exc:
                # A broken text must not stop the batch; the merchant sees the reason.
                log.error("message %s: template error: %s", message.id, exc)
                outbox.mark_failed(message, now, f"template error: {exc}"[:500])
                report.count("failed", "template error")
                return
            message.in_flight_since = now
            message.lease_until = self._lease_clock() + self.lease  # the send gets a full lease
        # Outside the transaction: opening an SMTP connection may take seconds, and on SQLite
        # the transaction holds the database's write lock. SMS goes through each shop's own
        # SMSAPI account; e-mail through one SMTP connection for the whole batch.
        key = (shop.id if outgoing.channel == "sms" else 0, outgoing.channel)
        connector = open_connectors.get(key)
        if connector is None:
            connector = stack.enter_context(self.connectors(shop, outgoing.channel))  # type: ignore[arg-type]
            open_connectors[key] = connector
        outcome = connector.send(outgoing)
        with self.factory() as session, session.begin():
            message = session.get(Message, message_id, with_for_update=True)
            assert message is not None
            self._record(session, message, outcome, connector.name, now, report)

    def _resend_is_safe(self, shop: Shop | None, message: Message) -> bool:
        if shop is None:
            return False
        try:
            return bool(self.connectors(shop, message.channel).idempotent)
        except Exception:  # cannot even build the connector: assume the worst
            log.exception("message %s: connector for %s", message.id, message.channel)
            return False

    def _release(self, batch: list[tuple[int, str | None]], now: datetime) -> None:
        """Hand claimed messages back untouched, for the next pass."""
        with self.factory() as session, session.begin():
            for message_id, token in batch:
                message = session.get(Message, message_id)
                if message is not None and outbox.still_claimed_by(message, token):
                    outbox.reschedule(message, now, message.reason, message.due_at)

    def _release_for_retry(
        self, message_id: int, token: str | None, now: datetime, report: DispatchReport
    ) -> None:
        with self.factory() as session, session.begin():
            message = session.get(Message, message_id)
            if message is None or not outbox.still_claimed_by(message, token):
                return
            shop = session.get(Shop, message.shop_id)
            if message.in_flight_since is not None and not self._resend_is_safe(shop, message):
                # The error came after the hand-over (recording the outcome failed): the
                # message may have been delivered, and the provider would not spot a resend.
                outbox.mark_failed(message, now, UNKNOWN_OUTCOME)
                report.count("failed", UNKNOWN_OUTCOME)
                return
            self._record(session, message, Retry("unexpected error"), "", now, report)

    def _check(
        self,
        session: Session,
        shop: Shop,
        message: Message,
        address: str | None,
        now: datetime,
    ) -> guards.Verdict:
        if not shop.active:
            return guards.Verdict("cancel", "shop inactive")
        waiting = self.waiting_reason(shop)
        if waiting is not None:
            return guards.Verdict("move", waiting, now + SETUP_WAIT)
        scenario = registry.REGISTRY.get(message.scenario)
        if scenario is None or (
            scenario.switchable and not shop_config.scenario_enabled(shop, message.scenario)
        ):
            return guards.Verdict("cancel", "scenario switched off")
        reason = scenario.exit_reason(session, shop, message, now)
        if reason:
            return guards.Verdict("cancel", reason)
        # A scenario may hold a message a while (e.g. its products not read yet).
        hold = scenario.wait_until(session, shop, message, now)
        if hold is not None:
            return guards.Verdict("move", hold[1], hold[0])
        verdict = guards.consent_and_suppression(session, shop, message, address)
        if verdict.action != "send":
            return verdict
        if session.get(ChannelPause, (shop.id, message.channel)) is not None:
            return guards.Verdict("move", f"{message.channel} paused for this shop", message.due_at)
        verdict = guards.quiet_hours(shop, message, now)
        if verdict.action != "send":
            return verdict
        assert address is not None  # consent_and_suppression skips a message without one
        # Two workers sending to one address at once must see each other's in-flight message
        # in the cap (the contact row is locked too, but an address may have two contacts).
        lock_for_transaction(session, f"address:{shop.id}:{message.channel}:{address}")
        return guards.frequency_cap(session, shop, message, address, now)

    def _apply(
        self, message: Message, verdict: guards.Verdict, now: datetime, report: DispatchReport
    ) -> None:
        if verdict.action == "cancel":
            outbox.mark_cancelled(message, now, verdict.reason)
            report.count("cancelled", verdict.reason)
        elif verdict.action == "skip":
            outbox.mark_skipped(message, now, verdict.reason)
            report.count("skipped", verdict.reason)
        else:
            assert verdict.until is not None
            outbox.reschedule(message, now, verdict.reason, verdict.until)
            report.count("moved", verdict.reason)

    def _prepare(
        self,
        session: Session,
        shop: Shop,
        contact: Contact,
        message: Message,
        address: str,
        now: datetime,
    ) -> OutgoingMessage:
        scenario = registry.REGISTRY[message.scenario]
        create = self.coupons_for(session, now) if self.coupons_for else None
        services = _Services(session, create, self.links)
        context = scenario.context(session, shop, message, now, services)
        # The shop's own record of the name, unless the scenario knows better (a cart's).
        context.setdefault("contact", {"first_name": contact.first_name})
        context.update(
            shop={"name": shop.name or shop.shop_url, "url": shop.shop_url},
            shop_url=self.links.click_url(message.id, "shop"),
        )
        coupon = context.get("coupon")
        message.coupon_id = coupon.id if coupon is not None else None
        unsubscribe_url = self.links.unsubscribe_url(message.id)
        rendered = self.renderer.render(
            scenario=message.scenario,
            step=message.step,
            channel=message.channel,
            language=shop.language,
            timezone=shop.timezone,
            context=context,
            unsubscribe_url=unsubscribe_url,
            opt_out=scenario.opt_out,
        )
        message.to_address = address
        message.subject = rendered.subject
        headers: dict[str, str] = {}
        notify_url = ""
        if message.channel == "sms":
            text, segments = prepare_sms(rendered.text, shop_config.sms_transliterate(shop))
            message.segments = segments
            sender = shop_config.sms_sender(shop)
            notify_url = self._notify_url(shop)
        else:
            text = rendered.text
            sender = shop_config.mail_from(shop, self.settings.mail_from)
            headers = {
                "List-Unsubscribe": f"<{unsubscribe_url}>",
                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            }
        message.body_text = text
        message.updated_at = now
        log.info(
            "message %s (%s step %s) -> %s %s",
            message.id,
            message.scenario,
            message.step,
            message.channel,
            masked(address),
        )
        return OutgoingMessage(
            channel=message.channel,
            to=address,
            text=text,
            idempotency_key=message.idempotency_key,
            subject=rendered.subject,
            html=rendered.html,
            sender=sender,
            headers=headers,
            notify_url=notify_url,
            shop_id=shop.id,
            message_id=message.id,
            date=now,
        )

    def _notify_url(self, shop: Shop) -> str:
        """SMSAPI rejects a notify_url it cannot reach (error 70): none for a loopback base."""
        host = urlsplit(self.settings.public_url).hostname or ""
        if host in ("localhost", "::1") or host.startswith("127."):
            return ""
        return f"{self.settings.public_url}/smsapi/reports/{shop.report_token}"

    def _record(
        self,
        session: Session,
        message: Message,
        outcome: Outcome,
        connector: str,
        now: datetime,
        report: DispatchReport,
    ) -> None:
        if isinstance(outcome, Sent):
            outbox.mark_sent(message, now, connector, outcome.provider_id or message.provider_id)
            if outcome.segments is not None:
                message.segments = outcome.segments
            report.count("sent")
        elif isinstance(outcome, Retry):
            if message.attempts + 1 >= MAX_ATTEMPTS:
                reason = f"gave up after {MAX_ATTEMPTS} tries: {outcome.reason}"
                outbox.mark_failed(message, now, reason)
                report.count("failed", outcome.reason)
                return
            delay = outcome.after or min(RETRY_BASE * 2**message.attempts, RETRY_MAX)
            outbox.mark_retry(message, now, outcome.reason, now + delay)
            report.count("retried", outcome.reason)
        elif isinstance(outcome, Failed):
            outbox.mark_failed(message, now, outcome.reason)
            if outcome.suppress and message.to_address:
                contacts.suppress(
                    session,
                    message.shop_id,
                    message.channel,
                    message.to_address,
                    outcome.reason,
                    now,
                )
                contact = session.get(Contact, message.contact_id)
                if contact is not None:  # the proof says why: the provider's own list
                    consent.record(
                        session,
                        contact,
                        message.channel,
                        message.to_address,
                        False,
                        now,
                        source=connector or "provider",
                        assurance=consent.PROVIDER,
                    )
            report.count("failed", outcome.reason)
        elif isinstance(outcome, Paused):
            if session.get(ChannelPause, (message.shop_id, message.channel)) is None:
                session.add(
                    ChannelPause(
                        shop_id=message.shop_id,
                        channel=message.channel,
                        reason=outcome.reason,
                        since=now,
                    )
                )
            outbox.reschedule(message, now, outcome.reason, message.due_at)
            report.count("paused", outcome.reason)
