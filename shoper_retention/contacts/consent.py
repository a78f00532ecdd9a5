"""Consent: who may get marketing on which channel, and how sure we are that they said so.

The policy (explained to merchants in the README, "Consent"):

- What the storefront sends is a *claim*: the page can be posted to by anyone who reads it, with
  any address. A storefront grant or withdrawal is therefore recorded for its cart only
  (`Consent.cart_id`) and speaks only for that cart's reminders: a stranger's post can neither
  stop another shopper's messages nor make their own claim count for anything else.
- E-mail: each shop chooses `confirmed` opt-in (the default) or `single` opt-in. Under confirmed
  opt-in a storefront claim is followed by one confirmation e-mail, and nothing else goes to the
  address until its owner follows the link. Under single opt-in the claim alone allows that
  cart's reminders.
- SMS always needs a confirmation the storefront cannot forge: the number's owner follows the
  link in one confirmation SMS. SMS (the confirmation included) only ever goes to mobile numbers
  in the shop's SMS countries, never to premium-rate or other non-mobile ranges.
- At most one confirmation per address and channel in 30 days, whoever asks; it carries no word
  the storefront sent (the shop's name comes from the platform).
- The shop's own records (a Shoper customer with the newsletter ticked, a newsletter subscriber)
  are platform grants for the address; confirmations too. Address-level grants count for every
  cart and scenario; an address-level withdrawal (an unsubscribe link only the recipient had,
  the shop's newsletter sign-off) beats every claim made before it, and after it only the
  owner's confirmation grants again (an unsubscribed address is never even asked).

Every change is a row (source, time, text version, assurance, address, cart): the proof."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Literal, NamedTuple

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from shoper_retention import shop_config
from shoper_retention.contacts import records as contacts
from shoper_retention.contacts.phones import sms_refusal
from shoper_retention.db import lock_for_transaction
from shoper_retention.messaging import outbox
from shoper_retention.models import Consent, Contact, Message, Shop
from shoper_retention.models.outbox import PENDING_STATUSES

CONFIRMATION = "consent_confirmation"  # the scenario that sends the confirmation request
CONFIRMATION_INTERVAL = timedelta(days=30)

# Assurance levels (Consent.assurance).
CLAIMED = "claimed"  # the storefront said so: unproven
# A storefront sign-up asked for one notice (back in stock), with no cart: unproven, and never
# a grant at the address level; the owner's confirmation turns it into one.
REQUESTED = "requested"
# The owner confirmed such a request: it lets the notices they asked for go, and nothing else.
NOTICE_CONFIRMED = "notice confirmed"
# Rows that speak only for requested notices, never for the address as a whole.
REQUEST_SCOPE = (REQUESTED, NOTICE_CONFIRMED)
# The source a back-in-stock sign-up records its request under: its confirmation is for the
# notice, not for marketing (the request never asked for that).
NOTICE_REQUEST = "restock"
CONFIRMED = "confirmed"  # the address's owner followed our confirmation link
PLATFORM = "platform"  # the shop's own customer or newsletter records
OWNER = "owner"  # a link only the recipient of our message had (unsubscribe)
PROVIDER = "provider"  # the provider's opt-out list (SMSAPI 13/57/59)

State = Literal["granted", "pending", "refused"]
_STATES_BATCH = 500  # addresses per query of `states()`: well under any bound-parameter limit


def record(
    session: Session,
    contact: Contact,
    channel: str,
    address: str,
    granted: bool,
    now: datetime,
    *,
    source: str,
    assurance: str,
    text_version: str = "",
    cart_id: int | None = None,
) -> Consent | None:
    """Append a row when the state in its scope (the address, or the address within one cart)
    changes, or when a grant gains assurance; None when it said nothing new."""
    requested = cart_id is None and assurance in REQUEST_SCOPE
    # A request is compared with the earlier requests of its own kind only: a sign-up for
    # back-in-stock notices says nothing about a birthday form's consent, and the other way.
    kind = _request_kind(source, assurance) if requested else None
    latest = _latest(session, contact.shop_id, channel, address, cart_id, requests=kind)
    if latest is not None and latest.granted == granted and latest.assurance == assurance:
        return None
    if requested and granted and latest is not None and latest.granted:
        if latest.assurance == NOTICE_CONFIRMED:
            return None  # asked again for notices the owner already confirmed
    row = Consent(
        shop_id=contact.shop_id,
        contact_id=contact.id,
        channel=channel,
        granted=granted,
        source=source[:32],
        assurance=assurance,
        text_version=text_version[:64],
        address=address,
        recorded_at=now,
        cart_id=cart_id,
    )
    session.add(row)
    session.flush()
    return row


def _latest(
    session: Session,
    shop_id: int,
    channel: str,
    address: str,
    cart_id: int | None,
    *,
    requests: str | None = None,
) -> Consent | None:
    """The newest row in a scope: a cart's claims, the address level, or (`requests`) the
    storefront sign-ups with no cart, which never count at the address level (anyone can post
    any address): "notice" (back in stock and its confirmation), "marketing" (other forms) or
    "any"."""
    if cart_id is not None:
        scope = Consent.cart_id == cart_id
    elif requests is not None:
        scope = Consent.cart_id.is_(None) & Consent.assurance.in_(REQUEST_SCOPE)
        notice = (Consent.assurance == NOTICE_CONFIRMED) | (Consent.source == NOTICE_REQUEST)
        if requests == "notice":
            scope &= notice
        elif requests == "marketing":
            scope &= ~notice
    else:
        scope = Consent.cart_id.is_(None) & Consent.assurance.not_in(REQUEST_SCOPE)
    return session.scalars(
        select(Consent)
        .where(
            Consent.shop_id == shop_id,
            Consent.channel == channel,
            Consent.address == address,
            scope,
        )
        .order_by(Consent.id.desc())
        .limit(1)
    ).first()


def state(
    session: Session, shop: Shop, channel: str, address: str | None, *, cart_id: int | None = None
) -> State:
    """`granted`: a marketing message may go to `address` (for `cart_id`'s messages, if given);
    `pending`: the cart (or, with no cart, a back-in-stock sign-up) claimed consent and a
    confirmation may still grant it; `refused`."""
    if not address:
        return "refused"
    if channel == "sms" and sms_refusal(address, shop_config.sms_countries(shop)):
        return "refused"
    claim = _latest(
        session, shop.id, channel, address, cart_id, requests=None if cart_id else "any"
    )
    known = _latest(session, shop.id, channel, address, None)
    single = (
        cart_id is not None and channel == "email" and shop_config.email_opt_in(shop) == "single"
    )
    return _verdict(_mark(claim), _mark(known), single_opt_in_cart=single)


class _Mark(NamedTuple):
    """The newest row of a scope, as far as the verdict needs it."""

    id: int
    granted: bool


def _mark(row: Consent | None) -> _Mark | None:
    return None if row is None else _Mark(row.id, row.granted)


def _verdict(claim: _Mark | None, known: _Mark | None, *, single_opt_in_cart: bool) -> State:
    """The policy, from the newest claim in the scope asked about (a cart's, or with no cart a
    back-in-stock sign-up's) and the newest address-level row."""
    if claim is not None and not claim.granted:
        return "refused"  # this cart's own browser said no
    if known is not None and known.granted:
        return "granted"
    if claim is None or (known is not None and claim.id < known.id):
        return "refused"
    if known is not None:
        # A tick after a withdrawal (signed off the shop's newsletter, then ticked the box in
        # a cart): only the owner's confirmation grants again, whatever the opt-in choice.
        return "pending"
    if single_opt_in_cart:
        return "granted"  # for this cart's reminders only (`allows_requested` for a notice)
    return "pending"


def states(
    session: Session, shop: Shop, channel: str, addresses: Iterable[str | None]
) -> dict[str, State]:
    """`state()` with no cart for many addresses at once, from one read of their rows per
    batch over the (shop, channel, address, id) index instead of two queries per address: a
    yearly scan plans thousands of messages in one pass. An empty address is not in the
    result: it is refused, as in `state()`."""
    result: dict[str, State] = {}
    wanted = sorted({a for a in addresses if a})
    if channel == "sms":
        countries = shop_config.sms_countries(shop)
        refused = {a for a in wanted if sms_refusal(a, countries)}
        result.update(dict.fromkeys(refused, "refused"))
        wanted = [a for a in wanted if a not in refused]
    claims: dict[str, _Mark] = {}
    known: dict[str, _Mark] = {}
    for start in range(0, len(wanted), _STATES_BATCH):
        rows = session.execute(
            select(Consent.id, Consent.address, Consent.assurance, Consent.granted).where(
                Consent.shop_id == shop.id,
                Consent.channel == channel,
                Consent.address.in_(wanted[start : start + _STATES_BATCH]),
                Consent.cart_id.is_(None),
            )
        )
        for row_id, address, assurance, granted in rows:
            newest = claims if assurance in REQUEST_SCOPE else known
            if address not in newest or newest[address].id < row_id:
                newest[address] = _Mark(row_id, granted)
    for address in wanted:
        result[address] = _verdict(
            claims.get(address), known.get(address), single_opt_in_cart=False
        )
    return result


def allows_requested(session: Session, shop: Shop, channel: str, address: str | None) -> bool:
    """A notice the shopper asked for on the storefront (back in stock) may go: the address is
    granted at the address level; or its owner confirmed a request for notices since any
    withdrawal; or, under single opt-in e-mail, the request alone does, unless the address
    withdrew at the address level."""
    current = state(session, shop, channel, address)
    if current == "granted":
        return True
    if not address or current != "pending":
        return False
    request = _latest(session, shop.id, channel, address, None, requests="notice")
    if request is not None and request.assurance == NOTICE_CONFIRMED and request.granted:
        return True
    return bool(
        channel == "email"
        and shop_config.email_opt_in(shop) == "single"
        and _latest(session, shop.id, channel, address, None) is None
    )


def _request_kind(source: str, assurance: str) -> str:
    return "notice" if assurance == NOTICE_CONFIRMED or source == NOTICE_REQUEST else "marketing"


def purpose(claim: Consent) -> str:
    """What a confirmation request asks the owner: "notice" for a back-in-stock sign-up (its
    confirmation lets those notices go and nothing else), "marketing" for any other claim."""
    return (
        "notice" if claim.assurance == REQUESTED and claim.source == NOTICE_REQUEST else "marketing"
    )


def allows(
    session: Session, shop: Shop, channel: str, address: str | None, *, cart_id: int | None = None
) -> bool:
    return state(session, shop, channel, address, cart_id=cart_id) == "granted"


def apply_storefront_claims(
    session: Session,
    shop: Shop,
    contact: Contact,
    cart_id: int,
    claims: dict[str, tuple[bool, str]],
    addresses: dict[str, str | None],
    now: datetime,
) -> None:
    """Record what a cart's snapshot said about consent (channel -> (granted, text version)),
    for the cart's own address on each channel, and ask the owner to confirm a new grant."""
    for channel, (granted, text_version) in claims.items():
        address = addresses.get(channel)
        if not address:
            continue
        row = record(
            session,
            contact,
            channel,
            address,
            granted,
            now,
            source="storefront",
            assurance=CLAIMED,
            text_version=text_version,
            cart_id=cart_id,
        )
        if row is not None and granted:
            request_confirmation(session, shop, contact, row, now)


def request_confirmation(
    session: Session, shop: Shop, contact: Contact, claim: Consent, now: datetime
) -> Message | None:
    """Plan the one confirmation request for a claimed grant, unless the address needs none
    (already granted or refused at the address level, single opt-in e-mail), cannot get one
    (SMS outside the shop's countries or to a non-mobile range), or got one in the last 30
    days. The contact row is locked so two claims ingested at once plan one request."""
    if state(session, shop, claim.channel, claim.address, cart_id=claim.cart_id) != "pending":
        return None
    if contacts.is_suppressed(session, shop.id, claim.channel, claim.address):
        return None  # the owner said no (an unsubscribe, "it wasn't me"): never ask again
    # Two claims for one address ingested at once (maybe of two contacts) plan one request.
    lock_for_transaction(session, f"address:{shop.id}:{claim.channel}:{claim.address}")
    if recent_confirmation(session, shop.id, claim.channel, claim.address, now):
        return None
    plan = outbox.Plan(
        shop_id=shop.id,
        contact_id=contact.id,
        scenario=CONFIRMATION,
        subject_type="consent",
        subject_id=claim.id,
        step=1,
        channel=claim.channel,
        due_at=now,
        marketing=False,
    )
    return outbox.schedule(session, plan, now)


def recent_confirmation(
    session: Session, shop_id: int, channel: str, address: str, now: datetime
) -> bool:
    """Whether a confirmation request to `address` still waits (however old: a paused channel
    holds it), went out in the last 30 days, or was planned in them and not called off
    unsent. The limit protects the address's owner from whoever keeps asking; one cancelled
    unsent (its claim withdrawn at once) must not block the owner's own request."""
    return (
        session.scalars(
            select(Message.id)
            .join(
                Consent,
                and_(Consent.id == Message.subject_id, Message.subject_type == "consent"),
            )
            .where(
                Message.shop_id == shop_id,
                Message.scenario == CONFIRMATION,
                Message.channel == channel,
                Consent.address == address,
                or_(
                    Message.status.in_(PENDING_STATUSES),
                    Message.sent_at > now - CONFIRMATION_INTERVAL,
                    and_(
                        Message.planned_at > now - CONFIRMATION_INTERVAL,
                        Message.status.not_in(("cancelled", "skipped")),
                    ),
                ),
            )
            .limit(1)
        ).first()
        is not None
    )


def confirmation_sent_since(
    session: Session, message: Message, address: str, since: datetime
) -> bool:
    """Whether another confirmation request reached `address` after `since` (or is being
    handed to the provider right now)."""
    return (
        session.scalars(
            select(Message.id)
            .where(
                Message.shop_id == message.shop_id,
                Message.scenario == CONFIRMATION,
                Message.channel == message.channel,
                Message.to_address == address,
                Message.id != message.id,
                or_(Message.sent_at > since, Message.in_flight_since.is_not(None)),
            )
            .limit(1)
        ).first()
        is not None
    )


def confirm(session: Session, message: Message, now: datetime) -> bool:
    """The owner of the address followed the link in a confirmation request: an address-level
    grant (or, for a request for notices, a grant of those notices only), with the text
    version the claim was made under. False if nothing changed."""
    claim = claim_of(session, message)
    contact = session.get(Contact, message.contact_id)
    if claim is None or contact is None or not message.to_address:
        return False
    row = record(
        session,
        contact,
        message.channel,
        message.to_address,
        True,
        now,
        source="confirmation link",
        # A request for notices is confirmed as that, never as consent to marketing.
        assurance=NOTICE_CONFIRMED if purpose(claim) == "notice" else CONFIRMED,
        text_version=claim.text_version,
    )
    return row is not None


def claim_of(session: Session, message: Message) -> Consent | None:
    """The storefront claim a confirmation request asks about (None for any other message)."""
    if message.scenario != CONFIRMATION or message.subject_type != "consent":
        return None
    claim = session.get(Consent, message.subject_id)
    return claim if claim is not None and claim.shop_id == message.shop_id else None


def apply_platform(
    session: Session,
    contact: Contact,
    channel: str,
    address: str,
    granted: bool,
    now: datetime,
    *,
    source: str,
    withdraws_only_own_grant: bool,
) -> None:
    """What the shop's own records say of an address. `withdraws_only_own_grant`: a "no" that
    may only mean "never signed up there" (a customer record with the newsletter unticked)
    withdraws only a grant that came from the platform itself, not one the owner confirmed
    with us."""
    if not granted and withdraws_only_own_grant:
        latest = _latest(session, contact.shop_id, channel, address, None)
        if latest is None or not latest.granted or latest.source != source:
            return
    record(session, contact, channel, address, granted, now, source=source, assurance=PLATFORM)
