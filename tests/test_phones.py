"""phones: numbers normalised to E.164 at the edge, and which of them may get an SMS.

The refused numbers are the ones an attack typed into a Polish shop's page: premium rate,
far-away mobiles whose operators share the fee (SMS pumping), and satellite ranges."""

from __future__ import annotations

import pytest

from shoper_retention.contacts.phones import masked, sms_refusal, to_e164


@pytest.mark.parametrize(
    ("raw", "region", "e164"),
    [
        ("600 100 200", "PL", "+48600100200"),
        ("+48 600-100-200", "PL", "+48600100200"),
        ("0048600100200", "PL", "+48600100200"),
        ("030 1234567", "DE", "+49301234567"),  # a German shop reads its own numbers
        ("030 1234567", "de", "+49301234567"),
        ("+48 600 100 200", "DE", "+48600100200"),  # a + keeps its own country
        ("+7 912 345 6789", "PL", "+79123456789"),  # valid (sms_refusal decides on SMS)
        ("600100200", "", "+48600100200"),
    ],
)
def test_a_real_number_becomes_e164(raw: str, region: str, e164: str) -> None:
    assert to_e164(raw, region) == e164


@pytest.mark.parametrize(
    "raw",
    [
        "+48 100 000 000",  # possible (the right length) but in no assigned range
        "12",
        "600 100 20",
        "+882 12345678",
        "not a number",
        "",
        "   ",
        None,
    ],
)
def test_anything_but_a_possible_and_valid_number_is_none(raw: str | None) -> None:
    assert to_e164(raw, "PL") is None


POLAND = {"PL"}


@pytest.mark.parametrize(
    ("typed", "reason"),
    [
        ("+1 900 555 0100", "number outside the shop's SMS countries (US)"),
        ("+7 912 345 6789", "number outside the shop's SMS countries (RU)"),
        ("+1 268 464 1234", "number outside the shop's SMS countries (AG)"),
        ("+48 700 000 000", "not a mobile number (premium rate)"),
        ("+881 6 1234 5678", "not a country's number (satellite or global service)"),
        ("+48 800 123 456", "not a mobile number (toll-free)"),
        ("+48 39 1234567", "not a mobile number (VoIP)"),
        ("+48 22 123 45 67", "not a mobile number (landline)"),
        ("+48 64 1234567", "not a mobile number (pager)"),
    ],
)
def test_a_polish_shop_sends_no_sms_to_the_attack_numbers(typed: str, reason: str) -> None:
    e164 = to_e164(typed, "PL")
    assert e164 is not None  # every one of them is a real number: only the SMS is refused

    assert sms_refusal(e164, POLAND) == reason


def test_a_polish_mobile_in_a_polish_shop_may_get_an_sms() -> None:
    assert sms_refusal("+48600100200", POLAND) is None
    assert sms_refusal("+48600100200", frozenset({"DE", "PL"})) is None


def test_a_fixed_line_or_mobile_range_may_get_an_sms_where_its_country_is_allowed() -> None:
    """North American numbers do not say whether they are mobile."""
    assert sms_refusal("+12015550123", {"US"}) is None
    assert sms_refusal("+12015550123", POLAND) == "number outside the shop's SMS countries (US)"


def test_a_premium_number_stays_refused_even_in_its_own_country() -> None:
    assert sms_refusal("+19005550100", {"US"}) == "not a mobile number (premium rate)"


@pytest.mark.parametrize("value", ["600100200", "+48100000000", "", "+", "abc"])
def test_what_is_not_a_valid_e164_number_is_refused(value: str) -> None:
    assert sms_refusal(value, POLAND) in ("not a phone number", "not a valid phone number")


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("+48600100200", "+486***00"),
        ("+4860010", "***"),
        ("+48", "***"),
        ("anna@example.com", "a***@example.com"),
        ("an@example.com", "***@example.com"),
        (None, "-"),
        ("", "-"),
    ],
)
def test_masked_never_shows_a_whole_number_or_address(value: str | None, shown: str) -> None:
    assert masked(value) == shown
