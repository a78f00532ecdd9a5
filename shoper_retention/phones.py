"""Phone numbers normalised to E.164 once, at the edge; inside the add-on they are trusted."""

from __future__ import annotations

import phonenumbers


def to_e164(raw: str | None, default_region: str = "PL") -> str | None:
    """None for anything that is not a possible, valid number (we would only waste an SMS)."""
    if not raw or not raw.strip():
        return None
    try:
        number = phonenumbers.parse(raw.strip(), default_region or "PL")
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def masked(value: str | None) -> str:
    """For logs at info level: never a full phone number or e-mail address."""
    if not value:
        return "-"
    if "@" in value:
        local, _, domain = value.partition("@")
        return f"{local[:1]}***@{domain}"
    return f"{value[:4]}***{value[-2:]}"
