"""Planning every scenario shares: timing steps from an anchor, skipping the steps a late
worker overtook, choosing channels by consent, and "a later step is due: send only that".

A scenario says what it wants (its steps, its subject, its addresses); this module turns that
into outbox plans, so the rules are written once."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from shoper_retention.contacts import consent
from shoper_retention.messaging import outbox
from shoper_retention.models import Message, Shop
from shoper_retention.models.outbox import PENDING_STATUSES


@dataclass(frozen=True)
class Step:
    number: int
    delay: timedelta  # from the anchor
    channel: str  # auto | email | sms | both


@dataclass(frozen=True)
class Subject:
    """What a run of a scenario is about, and where its messages may go."""

    scenario: str
    type: str  # cart, contact, subscription, ...
    id: int
    run: int
    contact_id: int
    email: str | None
    phone: str | None
    marketing: bool = True
    cart_id: int | None = None  # consent claimed on this cart counts for it (consent.py)


def plan_steps(
    session: Session,
    shop: Shop,
    subject: Subject,
    anchor: datetime,
    steps: Sequence[Step],
    now: datetime,
) -> int:
    """Plan each step at anchor + delay (never before `now`). A step whose successor is
    already due is skipped: after an outage the shopper gets the latest step, not all of
    them at once. Returns the number of messages planned."""
    planned = 0
    for index, step in enumerate(steps):
        later = steps[index + 1] if index + 1 < len(steps) else None
        if later is not None and anchor + later.delay <= now:
            continue
        planned += plan_message(
            session, shop, subject, step.number, step.channel, anchor + step.delay, now
        )
    return planned


def plan_message(
    session: Session,
    shop: Shop,
    subject: Subject,
    step: int,
    channel_choice: str,
    due: datetime,
    now: datetime,
) -> int:
    """One step on the channels consent allows; planning the same step twice is a no-op."""
    planned = 0
    for channel in channels(session, shop, subject, channel_choice):
        if outbox.schedule(session, _plan(shop, subject, step, channel, due, now), now) is not None:
            planned += 1
    return planned


@dataclass(frozen=True)
class Wish:
    """One step a scenario wants for a subject, for `plan_messages`."""

    subject: Subject
    step: int
    channel_choice: str
    due: datetime


def plan_messages(session: Session, shop: Shop, wishes: Sequence[Wish], now: datetime) -> int:
    """`plan_message` for many subjects at once, planning exactly what it would: consent read in
    one query per channel (`consent.states`) and the plans inserted in one statement
    (`outbox.schedule_many`) instead of a few queries per subject. For subjects with no cart:
    the yearly scans' contacts."""
    if any(wish.subject.cart_id is not None for wish in wishes):
        raise ValueError("plan_messages reads consent with no cart")
    sms = consent.states(session, shop, "sms", (w.subject.phone for w in wishes))
    email = consent.states(session, shop, "email", (w.subject.email for w in wishes))
    plans = [
        _plan(shop, wish.subject, wish.step, channel, wish.due, now)
        for wish in wishes
        for channel in choose_channels(
            wish.channel_choice,
            sms=sms.get(wish.subject.phone or "", "refused"),
            email=email.get(wish.subject.email or "", "refused"),
        )
    ]
    return outbox.schedule_many(session, plans, now)


def _plan(
    shop: Shop, subject: Subject, step: int, channel: str, due: datetime, now: datetime
) -> outbox.Plan:
    return outbox.Plan(
        shop_id=shop.id,
        contact_id=subject.contact_id,
        scenario=subject.scenario,
        subject_type=subject.type,
        subject_id=subject.id,
        step=step,
        channel=channel,
        due_at=max(due, now),
        marketing=subject.marketing,
        run=subject.run,
    )


def channels(session: Session, shop: Shop, subject: Subject, choice: str) -> list[str]:
    """The channels that may carry a step by its send time: consent granted, or claimed and
    still awaiting the owner's confirmation (the send re-checks)."""
    sms = consent.state(session, shop, "sms", subject.phone, cart_id=subject.cart_id)
    email = consent.state(session, shop, "email", subject.email, cart_id=subject.cart_id)
    return choose_channels(choice, sms=sms, email=email)


def choose_channels(choice: str, *, sms: consent.State, email: consent.State) -> list[str]:
    possible = {"sms": sms != "refused", "email": email != "refused"}
    if choice == "auto":
        # SMS where the number's owner already confirmed it, else e-mail; a number still
        # awaiting its confirmation only when there is no e-mail to write to.
        if sms == "granted":
            return ["sms"]
        if possible["email"]:
            return ["email"]
        return ["sms"] if possible["sms"] else []
    if choice == "both":
        return [c for c in ("email", "sms") if possible[c]]
    return [choice] if possible.get(choice) else []


def later_step_due(session: Session, message: Message, now: datetime) -> bool:
    """Another step of the same run, still waiting and due too: after an outage several steps
    are due at once; only the latest goes (and the SMS frequency cap is kept for it)."""
    later = session.scalars(
        select(Message.id)
        .where(
            Message.shop_id == message.shop_id,
            Message.scenario == message.scenario,
            Message.subject_type == message.subject_type,
            Message.subject_id == message.subject_id,
            Message.run == message.run,
            Message.step > message.step,
            Message.status.in_(PENDING_STATUSES),
            Message.due_at <= now,
        )
        .limit(1)
    ).first()
    return later is not None
