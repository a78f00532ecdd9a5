"""Phone numbers normalised to E.164 once, at the edge; inside the add-on they are trusted.

Normalising says only that a number exists. Whether an SMS may go to it is `sms_refusal`'s
question, asked wherever a send or a consent is decided: anyone can type a number into a
shop's page, and an SMS to a premium-rate or a far-away number costs the merchant money or
earns its sender money (SMS pumping)."""

from __future__ import annotations

from collections.abc import Collection

import phonenumbers
from phonenumbers import PhoneNumberType

from shoper_retention.contacts import emails

SMS_TYPES = frozenset({PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE})
# Merchants read these in skip reasons; phonenumbers' own names are shouting constants.
TYPE_NAMES = {
    PhoneNumberType.FIXED_LINE: "landline",
    PhoneNumberType.TOLL_FREE: "toll-free",
    PhoneNumberType.PREMIUM_RATE: "premium rate",
    PhoneNumberType.SHARED_COST: "shared cost",
    PhoneNumberType.VOIP: "VoIP",
    PhoneNumberType.PERSONAL_NUMBER: "personal number",
    PhoneNumberType.PAGER: "pager",
    PhoneNumberType.UAN: "company number",
    PhoneNumberType.VOICEMAIL: "voicemail",
    PhoneNumberType.UNKNOWN: "unknown type",
}
# region_code_for_number's answer for numbers of no country (+800, +808, +870, +881, +882...).
NON_GEOGRAPHIC = "001"


def to_e164(raw: str | None, default_region: str = "PL") -> str | None:
    """`raw` in E.164, read in `default_region` unless it starts with + (a German shop's
    `030 1234567` is `+49301234567`); None for anything that is not a possible and valid
    number (we would only waste an SMS)."""
    if not raw or not raw.strip():
        return None
    try:
        number = phonenumbers.parse(raw.strip(), (default_region or "PL").upper())
    except phonenumbers.NumberParseException:
        return None
    if not (phonenumbers.is_possible_number(number) and phonenumbers.is_valid_number(number)):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def sms_refusal(e164: str, countries: Collection[str]) -> str | None:
    """Why no SMS may go to `e164`, in a few words a merchant reads; None when it may. The
    number must be valid, belong to one of `countries` (ISO 3166 alpha-2, upper-case) and be
    in a mobile range; premium-rate, shared-cost, toll-free, VoIP, pager and satellite or
    other non-geographic numbers never are."""
    try:
        number = phonenumbers.parse(e164, None)  # E.164 only: no region to guess with
    except phonenumbers.NumberParseException:
        return "not a phone number"
    if not phonenumbers.is_valid_number(number):
        return "not a valid phone number"
    region = phonenumbers.region_code_for_number(number)
    if region == NON_GEOGRAPHIC:
        return "not a country's number (satellite or global service)"
    if region not in countries:
        return f"number outside the shop's SMS countries ({region})"
    kind = phonenumbers.number_type(number)
    if kind not in SMS_TYPES:
        return f"not a mobile number ({TYPE_NAMES.get(kind, 'unknown type')})"
    return None


def masked(value: str | None) -> str:
    """For logs at info level: never a full phone number or e-mail address, however short."""
    if not value:
        return "-"
    if "@" in value:
        return emails.masked(value)
    if len(value) < 10:  # too short to show both ends and still hide four digits
        return "***"
    return f"{value[:4]}***{value[-2:]}"
