"""emails.canonical_email: one plain address in one canonical form, or a ValueError.

The refused forms are the ones an attack on the storefront used to reach a second mailbox or
to carry markup; the accepted ones are what a shopper really types."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shoper_retention.contacts.emails import canonical_email, canonical_email_or_none, masked


@pytest.mark.parametrize(
    ("typed", "canonical"),
    [
        ("anna@example.com", "anna@example.com"),
        (" Anna.Nowak@Example.COM\t", "anna.nowak@example.com"),
        ("ANNA+koszyk@EXAMPLE.ORG", "anna+koszyk@example.org"),
        ("anna@sklep.example.pl", "anna@sklep.example.pl"),
        # The domain's Unicode and IDNA spellings are one address.
        ("anna@Żółw.example.com", "anna@xn--w-uga1v8h.example.com"),  # no SMTPUTF8 needed
        ("anna@xn--w-uga1v8h.example.com", "anna@xn--w-uga1v8h.example.com"),
        ("Zażółć@example.com", "zażółć@example.com"),  # SMTPUTF8, as the validator allows
    ],
)
def test_an_address_is_stored_in_one_lower_case_form(typed: str, canonical: str) -> None:
    assert canonical_email(typed) == canonical


@pytest.mark.parametrize(
    "typed",
    [
        "v<victim@example.com>@example.org",  # parseaddr used to find victim@ in it
        "v <victim@example.com>",
        "Anna Nowak <anna@example.com>",
        "<anna@example.com>",
        "<script>alert(7)</script>@example.com",
        "a@example.com,b@example.org",
        "a@example.com, b@example.org",
        "a@example.com;b@example.org",
        "anna(comment)@example.com",
        "anna@example.com (Anna)",
        '"anna nowak"@example.com',
        '"a@b"@example.com',
        "anna@[192.0.2.1]",
        "anna@[IPv6:2001:db8::1]",
        "anna@localhost",
        "anna@sklep",
        "anna@x.test",
        "anna@shop.localhost",
        "anna@example.com\r\nBcc: victim@example.com",
        "anna\u200b@example.com",
        "anna@",
        "@example.com",
        "anna",
        "",
        "   ",
        "a" * 65 + "@example.com",
        "anna@" + "a" * 250 + ".com",
    ],
)
def test_anything_but_one_plain_address_is_refused(typed: str) -> None:
    with pytest.raises(ValueError):
        canonical_email(typed)
    assert canonical_email_or_none(typed) is None


def test_refusal_reasons_are_short_sentences() -> None:
    with pytest.raises(ValueError, match="display name"):
        canonical_email("v <victim@example.com>")


def test_none_and_empty_are_no_address() -> None:
    assert canonical_email_or_none(None) is None
    assert canonical_email_or_none("") is None
    assert canonical_email_or_none("Anna@Example.com") == "anna@example.com"


def test_a_letter_that_lower_cases_to_two_characters_is_still_stable() -> None:
    """The dotted capital I lower-cases to i plus a combining dot: whatever we store must
    come back unchanged from canonical_email, or the SMTP connector would refuse it."""
    once = canonical_email("İ@example.com")

    assert once == "i\u0307@example.com"
    assert canonical_email(once) == once


def test_an_address_whose_lower_case_is_not_canonical_is_refused() -> None:
    """Lower-casing İ before a combining mark leaves the marks out of canonical order: the
    lower-cased text would normalise to something else, so storage and sending could
    disagree. Refused rather than stored in a form the connector would refuse."""
    with pytest.raises(ValueError, match="stable lower-case"):
        canonical_email("aİ\u0316@example.com")


_LOCAL = st.text(
    alphabet=st.sampled_from("aAzZ09.+-_!#$%&'*/=?^`{|}~İıßΣσǅ<>@\",; ()[]\\\t"),
    min_size=1,
    max_size=20,
)
_DOMAIN = st.sampled_from(
    ["example.com", "EXAMPLE.org", "żółw.example.com", "xn--w-uga1v8h.example.com", "x.test"]
)


@given(local=_LOCAL, domain=_DOMAIN)
def test_the_canonical_form_is_its_own_canonical_form_and_a_single_address(
    local: str, domain: str
) -> None:
    try:
        canonical = canonical_email(f"{local}@{domain}")
    except ValueError:
        return
    assert canonical_email(canonical) == canonical
    assert canonical == canonical.lower()
    assert canonical.count("@") == 1
    assert not any(ch in canonical for ch in '<>,; ()"[]\\\t')


@pytest.mark.parametrize(
    ("address", "shown"),
    [
        ("jan@example.com", "j***@example.com"),
        ("jo@example.com", "***@example.com"),
        ("j@example.com", "***@example.com"),
        ("no-at-sign", "***"),
    ],
)
def test_masked_never_shows_a_whole_local_part(address: str, shown: str) -> None:
    assert masked(address) == shown
