"""The queue of planned messages: plan, cancel, claim due ones, and the named transitions.

Claims are leases: `claim_due` marks a batch with a fresh claim token and a lease; a worker that
dies mid-batch simply lets the lease run out and the messages are claimed again. On PostgreSQL
the candidate rows are locked with SKIP LOCKED, so concurrent workers take disjoint batches; on
SQLite the single writer lock gives the same guarantee."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, exists, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.sql.dml import ReturningInsert

from shoper_retention.models import ChannelPause, Message

_PLAN_KEY = ("shop_id", "plan_key")


@dataclass(frozen=True)
class Plan:
    """What a scenario wants sent; `plan_key` names the step so planning it twice is a no-op."""

    shop_id: int
    contact_id: int
    scenario: str
    subject_type: str
    subject_id: int
    step: int
    channel: str
    due_at: datetime
    marketing: bool = True
    run: int = 1  # a subject may go through a scenario again (a refilled cart)

    @property
    def plan_key(self) -> str:
        return (
            f"{self.scenario}:{self.subject_type}:{self.subject_id}:"
            f"{self.run}:{self.step}:{self.channel}"
        )


def schedule(session: Session, plan: Plan, now: datetime) -> Message | None:
    """Create the message unless this exact step was planned before (then None)."""
    existing = session.scalars(
        select(Message.id).where(Message.shop_id == plan.shop_id, Message.plan_key == plan.plan_key)
    ).first()
    if existing is not None:
        return None
    message = Message(
        shop_id=plan.shop_id,
        contact_id=plan.contact_id,
        scenario=plan.scenario,
        subject_type=plan.subject_type,
        subject_id=plan.subject_id,
        step=plan.step,
        run=plan.run,
        channel=plan.channel,
        marketing=plan.marketing,
        plan_key=plan.plan_key,
        status="scheduled",
        due_at=plan.due_at,
        planned_at=now,
        updated_at=now,
    )
    try:
        with session.begin_nested():  # a concurrent planner may win the unique key
            session.add(message)
    except IntegrityError:
        return None
    return message


def schedule_many(session: Session, plans: Sequence[Plan], now: datetime) -> int:
    """`schedule()` for many plans, a few multi-row INSERTs instead of a look-up and a savepoint
    each: a plan whose key exists (planned before, or by a concurrent planner this moment) is
    dropped by the unique (shop, plan key) constraint with ON CONFLICT DO NOTHING, which
    neither fails nor aborts the transaction. Returns how many messages were created."""
    rows = {
        (plan.shop_id, plan.plan_key): {
            "shop_id": plan.shop_id,
            "contact_id": plan.contact_id,
            "scenario": plan.scenario,
            "subject_type": plan.subject_type,
            "subject_id": plan.subject_id,
            "step": plan.step,
            "run": plan.run,
            "channel": plan.channel,
            "marketing": plan.marketing,
            "plan_key": plan.plan_key,
            "status": "scheduled",
            "due_at": plan.due_at,
            "planned_at": now,
            "updated_at": now,
        }
        for plan in plans
    }
    if not rows:
        return 0
    if session.get_bind().dialect.name == "postgresql":
        statement = _unnest_insert(list(rows.values()))
        return len(session.execute(statement).all())
    # SQLite: one compiled statement run with many parameter sets, which SQLAlchemy sends as
    # multi-row INSERTs ("insertmanyvalues"); RETURNING lists the rows that were new.
    insert = sqlite.insert(Message).on_conflict_do_nothing(index_elements=_PLAN_KEY)
    created = len(session.execute(insert.returning(Message.id), list(rows.values())).all())
    return created


def _unnest_insert(rows: list[dict[str, Any]]) -> ReturningInsert[tuple[int]]:
    """PostgreSQL: the rows as one array per column, unnested into an INSERT ... SELECT. One
    short statement whatever the row count (psycopg parses a long multi-row VALUES list on the
    client, which took longer than the INSERT itself)."""
    columns = Message.__table__.columns
    names = list(rows[0])
    source = select(
        *(
            func.unnest(
                bindparam(
                    name, [row[name] for row in rows], type_=postgresql.ARRAY(columns[name].type)
                )
            )
            for name in names
        )
    )
    return (
        postgresql.insert(Message)
        .from_select(names, source)
        .on_conflict_do_nothing(index_elements=_PLAN_KEY)
        .returning(Message.id)
    )


def cancel_pending(
    session: Session,
    shop_id: int,
    reason: str,
    now: datetime,
    *,
    subject: tuple[str, int] | None = None,
    contact_id: int | None = None,
    channel: str | None = None,
    marketing_only: bool = False,
    scenario: str | None = None,
) -> int:
    """Cancel scheduled messages matching the filters; claimed ones are re-checked at send."""
    conditions = [Message.shop_id == shop_id, Message.status == "scheduled"]
    if subject is not None:
        conditions += [Message.subject_type == subject[0], Message.subject_id == subject[1]]
    if contact_id is not None:
        conditions.append(Message.contact_id == contact_id)
    if channel is not None:
        conditions.append(Message.channel == channel)
    if marketing_only:
        conditions.append(Message.marketing.is_(True))
    if scenario is not None:
        conditions.append(Message.scenario == scenario)
    result = session.execute(
        update(Message)
        .where(*conditions)
        .values(status="cancelled", reason=reason, updated_at=now, claim_token=None)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def claim_due(
    session: Session,
    now: datetime,
    limit: int,
    lease: timedelta,
    *,
    lease_now: datetime | None = None,
) -> list[Message]:
    """Take up to `limit` messages due at `now` for this worker; the caller commits the claim.

    `lease_now` (default `now`) is the time leases are measured in: a long pass claims with
    fresh leases, but what is due stays what the pass's guards consider due."""
    lease_now = lease_now or now
    token = secrets.token_hex(8)
    paused = exists().where(
        ChannelPause.shop_id == Message.shop_id, ChannelPause.channel == Message.channel
    )
    due = or_(
        and_(Message.status == "scheduled", Message.due_at <= now),
        and_(Message.status == "claimed", Message.lease_until < lease_now),  # a dead worker's
    )
    candidates = (
        select(Message.id)
        .where(due, ~paused)
        .order_by(Message.due_at)
        .limit(limit)
        .with_for_update(skip_locked=True, of=Message)
    )
    ids = list(session.scalars(candidates))
    if not ids:
        return []
    session.execute(
        update(Message)
        .where(Message.id.in_(ids), due)  # re-checked: on SQLite nothing was locked above
        .values(status="claimed", claim_token=token, lease_until=lease_now + lease, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return list(
        session.scalars(select(Message).where(Message.claim_token == token).order_by(Message.id))
    )


# Named transitions: the only places a message's status changes after planning.

# Statuses only a delivery report sets; the first final report wins, so a replayed or
# out-of-order report changes nothing.
DELIVERY_FINAL = ("delivered", "undelivered")
# A report may name a message we still think is pending: the provider took it though we never
# saw its answer (timeout, crash), or we gave up retrying. The report is the proof it went out,
# so it must not be sent again and it counts as sent (frequency cap, attribution).
_REPORTABLE = ("sent", "claimed", "scheduled", "failed")


def mark_sent(message: Message, now: datetime, connector: str, provider_id: str) -> None:
    # A delivery report can land before the send's own outcome is recorded (a resend after a
    # timeout or a crash): a final delivery state is never turned back into "sent".
    if message.status not in DELIVERY_FINAL:
        message.status = "sent"
    message.sent_at = message.sent_at or now
    message.connector = connector
    message.provider_id = provider_id or message.provider_id
    _release(message, now)


def mark_delivered(message: Message, at: datetime, provider_status: str) -> None:
    if message.status not in _REPORTABLE:
        return
    message.status = "delivered"
    message.sent_at = message.sent_at or at
    message.delivered_at = at
    message.provider_status = provider_status
    message.updated_at = at


def mark_undelivered(message: Message, at: datetime, provider_status: str) -> None:
    if message.status not in _REPORTABLE:
        return
    message.status = "undelivered"
    message.reason = f"delivery report: {provider_status}"
    message.sent_at = message.sent_at or at
    message.provider_status = provider_status
    message.updated_at = at


def note_provider_status(message: Message, at: datetime, provider_status: str) -> None:
    """An intermediate report (queued, sent to the network): recorded until a final one."""
    if message.status in DELIVERY_FINAL or message.provider_status == provider_status:
        return
    message.provider_status = provider_status
    message.updated_at = at


def mark_retry(message: Message, now: datetime, reason: str, due_at: datetime) -> None:
    message.status = "scheduled"
    message.attempts += 1
    message.reason = reason
    message.due_at = due_at
    _release(message, now)


def reschedule(message: Message, now: datetime, reason: str, due_at: datetime) -> None:
    """Moved (quiet hours, paused channel); not an attempt."""
    message.status = "scheduled"
    message.reason = reason
    message.due_at = due_at
    _release(message, now)


def mark_failed(message: Message, now: datetime, reason: str) -> None:
    message.status = "failed"
    message.reason = reason
    _release(message, now)


def mark_skipped(message: Message, now: datetime, reason: str) -> None:
    message.status = "skipped"
    message.reason = reason
    _release(message, now)


def mark_cancelled(message: Message, now: datetime, reason: str) -> None:
    message.status = "cancelled"
    message.reason = reason
    _release(message, now)


def _release(message: Message, now: datetime) -> None:
    message.claim_token = None
    message.lease_until = None
    message.in_flight_since = None
    message.updated_at = now


def still_claimed_by(message: Message, token: str | None) -> bool:
    return message.status == "claimed" and message.claim_token == token
