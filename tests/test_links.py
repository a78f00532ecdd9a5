"""Signed shopper links: short enough for an SMS, bound to one purpose, not editable."""

from __future__ import annotations

import pytest

from shoper_retention.links import InvalidLink, Links

KEY = "links-test-secret-0123456789abcdef"


def token(url: str) -> str:
    return url.rsplit("/", 1)[1]


def test_links_round_trip_and_stay_short():
    links = Links(KEY, "https://r.example")
    click = token(links.click_url(123456, "cart"))
    unsubscribe = token(links.unsubscribe_url(123456))
    assert links.read_click(click) == (123456, "cart")
    assert links.read_unsubscribe(unsubscribe) == 123456
    assert len(click) <= 24 and len(unsubscribe) <= 24


def test_a_token_is_valid_for_its_own_purpose_only():
    links = Links(KEY, "https://r.example")
    with pytest.raises(InvalidLink):
        links.read_click(token(links.unsubscribe_url(7)))
    with pytest.raises(InvalidLink):
        links.read_unsubscribe(token(links.click_url(7, "cart")))


@pytest.mark.parametrize(
    "edit",
    [
        lambda t: "8" + t[1:],  # another message
        lambda t: t.replace("c.", "s.", 1),  # another target
        lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"),  # another signature
        lambda t: t.split(".")[0],  # no signature
    ],
)
def test_an_edited_click_token_is_refused(edit):
    links = Links(KEY, "https://r.example")
    with pytest.raises(InvalidLink):
        links.read_click(edit(token(links.click_url(7, "cart"))))


def test_a_token_signed_with_another_key_is_refused():
    theirs = Links("another-key-0123456789abcdefghij", "https://r.example")
    with pytest.raises(InvalidLink):
        Links(KEY, "https://r.example").read_unsubscribe(token(theirs.unsubscribe_url(7)))
