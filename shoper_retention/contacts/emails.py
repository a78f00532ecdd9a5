"""E-mail addresses in one canonical form, decided once at the edge and trusted inside.

The same string is stored on the contact, matched against suppressions and unsubscribes, given
to SMTP as the envelope recipient and written in `To:`; so a forged address can never reach a
second mailbox (`"v<victim@example.com>"@x`, `a@x,b@y`) and a suppressed shopper stays
suppressed however she types her address. email-validator parses it (no DNS: a reminder must
not wait on a lookup, and delivery failures come back as bounces anyway); display names,
comments, lists, quoted local parts, IP literals and local-only or special-use domains
(`.test`, `.localhost`) are refused.

The canonical form is the validator's normalised address (NFC, domain lower-cased), with the
domain in its ASCII (IDNA) form whenever the local part is ASCII, so that no mail server needs
SMTPUTF8 for it, lower-cased as a whole. RFC 5321 lets a server treat `Anna@` and `anna@` as two
mailboxes, but no mail service a shopper uses does, while a suppression that misses
`Anna@Example.com` because she once typed `anna@example.com` would mail someone who said no.
"""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email

MAX_LENGTH = 254  # RFC 5321's limit on a forward path, and within every e-mail column


def canonical_email(raw: str) -> str:
    """The canonical form of `raw` (surrounding whitespace ignored); ValueError with a short
    reason for anything that is not a single plain address."""
    if not isinstance(raw, str):
        raise ValueError("not a string")
    value = raw.strip()
    if not value:
        raise ValueError("empty")
    if len(value) > MAX_LENGTH:
        raise ValueError(f"longer than {MAX_LENGTH} characters")
    canonical = _validated(value).lower()
    # Lower-casing some letters changes them (the dotted capital I becomes i + a combining
    # mark): the result must itself be canonical, or storage and sending would disagree.
    if _validated(canonical).lower() != canonical:
        raise ValueError("has no stable lower-case form")
    return canonical


def canonical_email_or_none(raw: str | None) -> str | None:
    """For data we keep even with an unusable address (a signed order): None instead."""
    if not raw:
        return None
    try:
        return canonical_email(raw)
    except ValueError:
        return None


def masked(address: str) -> str:
    """`j***@example.com` for logs: never the whole local part, however short it is."""
    local, at, domain = address.rpartition("@")
    if not at:
        return "***"
    shown = local[:1] if len(local) >= 3 else ""
    return f"{shown}***@{domain}"


def _validated(value: str) -> str:
    try:
        checked = validate_email(
            value,
            check_deliverability=False,
            allow_display_name=False,
            allow_quoted_local=False,
            allow_domain_literal=False,
            allow_empty_local=False,
            globally_deliverable=True,
            strict=True,  # also the 64-character limit on the part before the @
        )
    except EmailNotValidError as exc:
        raise ValueError(str(exc)) from None
    return checked.ascii_email or checked.normalized
