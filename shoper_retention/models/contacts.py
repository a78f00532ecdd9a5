"""Shoppers we may message, their consent per channel (with proof) and the suppression list."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Index, SmallInteger, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from shoper_retention.db import Base, UTCDateTime


class Contact(Base):
    __tablename__ = "contacts"
    __table_args__ = (
        UniqueConstraint("shop_id", "email"),
        UniqueConstraint("shop_id", "phone"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    email: Mapped[str | None] = mapped_column(String(255), default=None)  # lower-cased
    phone: Mapped[str | None] = mapped_column(String(20), default=None)  # E.164
    first_name: Mapped[str] = mapped_column(String(100), default="")
    language: Mapped[str] = mapped_column(String(8), default="")
    platform_customer_id: Mapped[str | None] = mapped_column(String(64), default=None)
    # Dates the celebrations read, in the shop's own calendar. Month and day are kept as one
    # number (MMDD, e.g. 229) so a day's scan is one index range for any number of contacts.
    birthday_md: Mapped[int | None] = mapped_column(SmallInteger, default=None)
    birthday_source: Mapped[str] = mapped_column(String(16), default="")
    first_order_on: Mapped[date | None] = mapped_column(Date, default=None)
    first_order_md: Mapped[int | None] = mapped_column(SmallInteger, default=None)
    # Joined the loyalty club: the shop account's creation or the newsletter sign-up, earliest.
    joined_on: Mapped[date | None] = mapped_column(Date, default=None)
    joined_md: Mapped[int | None] = mapped_column(SmallInteger, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Consent(Base):
    """One row per consent change, kept as the proof the law asks for (time, source, text
    version, assurance). Which rows count, and how much, is `consent.py`'s policy.

    `cart_id` is set on what a storefront cart claimed: such a claim (or withdrawal) speaks
    only for that cart, because anyone can post any address with any cart."""

    __tablename__ = "consents"

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(8))
    granted: Mapped[bool]
    source: Mapped[str] = mapped_column(String(32))  # storefront, shoper, confirmation, ...
    # How sure we are the address's owner said it: claimed (storefront, unproven), confirmed
    # (the owner followed a confirmation link), platform (the shop's own records), owner (an
    # unsubscribe link only the recipient had), provider (SMSAPI's opt-out list).
    assurance: Mapped[str] = mapped_column(String(16), default="claimed")
    text_version: Mapped[str] = mapped_column(String(64), default="")
    # The address the consent was given for: consent to text one number does not cover
    # another number the contact later has.
    address: Mapped[str] = mapped_column(String(255), default="")
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)
    cart_id: Mapped[int | None] = mapped_column(
        ForeignKey("carts.id", ondelete="CASCADE"), default=None
    )


class Suppression(Base):
    """Addresses never to message on a channel (unsubscribed, invalid, opted out at SMSAPI).

    Keyed by address, not contact, so it survives contact merges and re-created contacts."""

    __tablename__ = "suppressions"
    __table_args__ = (UniqueConstraint("shop_id", "channel", "address"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(8))
    address: Mapped[str] = mapped_column(String(255))
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


Index("ix_consents_contact_id_channel_id", Consent.contact_id, Consent.channel, Consent.id)
Index("ix_consents_cart_id", Consent.cart_id)
Index(
    "ix_consents_shop_id_channel_address_id",
    Consent.shop_id,
    Consent.channel,
    Consent.address,
    Consent.id,
)
Index("ix_contacts_shop_id_birthday_md", Contact.shop_id, Contact.birthday_md)
Index("ix_contacts_shop_id_first_order_md", Contact.shop_id, Contact.first_order_md)
Index("ix_contacts_shop_id_joined_md", Contact.shop_id, Contact.joined_md)
