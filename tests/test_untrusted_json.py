"""untrusted_json.parse_object: a JSON object from outside, or BadInput (a 400), never another
exception. The endpoint tests (test_storefront.py, webhooks/test_shoper_webhooks.py) show the
same attacks answered over HTTP; here are the edges of each rule."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shoper_retention.errors import BadInput
from shoper_retention.ingest.untrusted_json import parse_object


def refused(body: bytes, **rules: Any) -> BadInput:
    rules.setdefault("max_depth", 6)
    with pytest.raises(BadInput) as caught:
        parse_object(body, **rules)
    return caught.value


# --- depth -------------------------------------------------------------------------------------


@pytest.mark.parametrize("opener", ["[", '{"a":'])
def test_a_body_nested_30000_deep_is_bad_input_not_a_recursion_error(opener: str) -> None:
    body = ('{"cart_id": "d", "items": ' + opener * 30_000).encode()

    error = refused(body, max_depth=32)

    assert "deeper than 32" in error.message


def test_the_depth_limit_counts_the_top_object_as_level_one() -> None:
    three = b'{"items": [{"price": "1.00"}]}'

    assert parse_object(three, max_depth=3) == {"items": [{"price": "1.00"}]}
    assert "deeper than 2" in refused(three, max_depth=2).message


def test_brackets_and_escaped_quotes_inside_strings_do_not_count() -> None:
    body = json.dumps({"note": '[[[[{{{{ \\" ]]]] "[[[', "deep": [[1]]}).encode()

    assert parse_object(body, max_depth=3)["deep"] == [[1]]


def test_an_unterminated_string_full_of_escaped_quotes_is_refused_quickly() -> None:
    """Every escaped quote could start another attempt at a string: the scan stops at the
    first quote that opens no string instead of trying again from each one."""
    body = b'{"a": "' + b'\\"' * 100_000

    started = time.perf_counter()
    refused(body)
    assert time.perf_counter() - started < 2


# --- encoding and Unicode ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b'{"name": "\xed\xa0\x80"}',  # a surrogate encoded as UTF-8 (CESU-8)
        b'{"name": "\xff"}',
        b'{"name": "\xc5"}',  # a truncated sequence
        b'\xef\xbb\xbf{"name": "Anna"}',  # a byte-order mark
        '{"name": "Anna"}'.encode("utf-16"),
    ],
)
def test_a_body_that_is_not_plain_utf8_is_refused(body: bytes) -> None:
    refused(body)


@pytest.mark.parametrize(
    "body",
    [
        rb'{"contact": {"first_name": "\ud800"}}',
        rb'{"contact": {"first_name": "Anna\udfff"}}',
        rb'{"items": [{"name": "x\udc00y"}]}',
        rb'{"\ud800": 1}',
        rb'{"contact": {"\ud83d": "Anna"}}',
    ],
    ids=["high", "low-at-end", "in-a-list", "top-key", "nested-key"],
)
def test_a_lone_surrogate_escape_in_any_key_or_value_is_refused(body: bytes) -> None:
    error = refused(body)

    assert "surrogate" in error.message


def test_the_error_names_the_field_holding_the_bad_text() -> None:
    assert refused(rb'{"items": [{"name": "\ud800"}]}').field == "items[0].name"
    assert refused(rb'{"contact": {"\ud800": 1}}').field == "contact"


def test_a_surrogate_pair_escape_is_one_real_character_and_allowed() -> None:
    assert parse_object(rb'{"name": "Ania \ud83d\ude00"}', max_depth=2) == {"name": "Ania 😀"}


# --- control characters ------------------------------------------------------------------------


@pytest.mark.parametrize("char", ["\x00", "\x07", "\t", "\n", "\r", "\x1b", "\x7f", "\x85", "\x9f"])
def test_browser_text_holds_no_control_character(char: str) -> None:
    body = json.dumps({"contact": {"first_name": f"An{char}na"}}).encode()

    error = refused(body)

    assert "control character" in error.message
    assert error.field == "contact.first_name"


@pytest.mark.parametrize("char", ["\t", "\n", "\r", "\x7f", "\x85"])
def test_free_text_keeps_tabs_line_breaks_and_legacy_c1(char: str) -> None:
    body = json.dumps({"comment": f"Prosz\u0119 o{char}fakture"}).encode()

    assert parse_object(body, max_depth=2, free_text=True)["comment"].count(char) == 1


@pytest.mark.parametrize("char", ["\x00", "\x07", "\x0b", "\x1b"])
def test_free_text_still_refuses_the_other_c0_controls(char: str) -> None:
    body = json.dumps({"comment": f"a{char}b"}).encode()

    assert "control character" in refused(body, free_text=True).message


def test_bidirectional_marks_are_text_not_controls() -> None:
    body = json.dumps({"name": "Kubek \u202egnp.exe"}).encode()

    assert parse_object(body, max_depth=2)["name"] == "Kubek \u202egnp.exe"


# --- numbers and shape -------------------------------------------------------------------------


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e999", "-1e999", "9" * 5000])
def test_numbers_json_cannot_carry_are_refused(literal: str) -> None:
    refused(f'{{"price": {literal}}}'.encode())


@pytest.mark.parametrize("body", [b"[1, 2]", b'"text"', b"1", b"null", b"", b"{", b'{"a": 1} x'])
def test_anything_but_one_json_object_is_refused(body: bytes) -> None:
    refused(body)


def test_a_plain_object_comes_back_as_json_loads_reads_it() -> None:
    data = {"cart_id": "c-1", "items": [{"price": 49.9, "quantity": 2, "ok": True, "x": None}]}

    assert parse_object(json.dumps(data).encode(), max_depth=3) == data


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_any_bytes_give_an_object_or_bad_input_and_nothing_else(body: bytes) -> None:
    try:
        assert isinstance(parse_object(body, max_depth=4), dict)
    except BadInput:
        pass


_JSON_TEXT = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(_JSON_TEXT, st.sampled_from(["[", "{", '["x', '"[']))
def test_json_with_any_strings_and_nesting_never_raises_anything_but_bad_input(
    value: Any, junk: str
) -> None:
    for body in (json.dumps({"v": value}), json.dumps({"v": value}, ensure_ascii=False) + junk):
        try:
            parse_object(body.encode("utf-8", "surrogatepass"), max_depth=3)
        except BadInput:
            pass


_TRICKY_TEXT = st.text(
    alphabet=st.sampled_from(
        ["a", "ł", "\\", '"', "/", "[", "]", "{", "}", "\t", "\n", "\x00", "\x07", "\x1b"]
        + ["\x7f", "\x85", "\x9f", "\xa0", "\u202e", "\ud800", "\udfff", "😀", "u", "0"]
    ),
    max_size=6,
)
_TRICKY = st.recursive(
    st.none() | st.integers() | _TRICKY_TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_TRICKY_TEXT, inner, max_size=3),
    max_leaves=12,
)
_CONTROLS = {
    False: {chr(c) for c in [*range(0x20), *range(0x7F, 0xA0)]},
    True: {chr(c) for c in range(0x20)} - {"\t", "\n", "\r"},
}


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in [k, *_strings(v)]]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


@settings(max_examples=500, deadline=None)
@given(_TRICKY, st.booleans(), st.booleans())
def test_no_refused_character_gets_through_whatever_the_json_spelling(
    value: Any, ascii_only: bool, free_text: bool
) -> None:
    """The walk is skipped when the text holds nothing that could decode to a refused
    character: whatever the spelling, an accepted object holds none."""
    body = json.dumps({"v": value}, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")
    try:
        data = parse_object(body, max_depth=10, free_text=free_text)
    except BadInput:
        return
    for text in _strings(data):
        assert not any("\ud800" <= ch <= "\udfff" for ch in text)
        assert not set(text) & _CONTROLS[free_text]
