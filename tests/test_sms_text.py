"""GSM 03.38 transliteration and segment counting."""

from __future__ import annotations

import pytest

from shoper_retention.messaging.sms_text import is_gsm7, prepare_sms, segment_count, to_gsm7

POLISH = "Zażółć gęślą jaźń! Twój koszyk w Sklepie Łódź czeka: dokończ zamówienie dziś."


def test_polish_letters_are_transliterated():
    assert to_gsm7("ąćęłńóśźż ĄĆĘŁŃÓŚŹŻ") == "acelnoszz ACELNOSZZ"


def test_transliterated_polish_costs_one_segment_instead_of_two():
    sent, segments = prepare_sms(POLISH, transliterate=True)

    assert sent == "Zazolc gesla jazn! Twoj koszyk w Sklepie Lodz czeka: dokoncz zamowienie dzis."
    assert is_gsm7(sent)
    assert segments == 1
    assert len(POLISH) > 70
    assert prepare_sms(POLISH, transliterate=False) == (POLISH, 2)


def test_characters_already_in_gsm7_are_kept():
    text = "Café über più £5 €10 Ñandú Ça Øre {x} [y] ~^|\\"

    assert to_gsm7(text) == "Café über più £5 €10 Ñandu Ça Øre {x} [y] ~^|\\"
    assert is_gsm7("é ü ò £ € Ç")


def test_other_characters_go_through_unidecode():
    assert to_gsm7("„Cudzysłów” – ok… `x`\tß ç") == "\"Cudzyslow\" - ok... 'x' ß c"


def test_what_cannot_be_mapped_is_dropped():
    assert to_gsm7("Hej 😀!") == "Hej !"


def test_decomposed_accents_are_composed_first():
    assert to_gsm7("zo\u0301łw") == "zolw"
    assert prepare_sms("o\u0301", transliterate=False) == ("ó", 1)


def test_ó_is_not_gsm7_but_ò_is():
    assert not is_gsm7("ó")
    assert is_gsm7("ò")


@pytest.mark.parametrize(("length", "segments"), [(1, 1), (160, 1), (161, 2), (306, 2), (307, 3)])
def test_gsm7_boundaries(length: int, segments: int):
    assert segment_count("a" * length) == segments


def test_extension_characters_cost_two_septets():
    assert segment_count("€" * 80) == 1
    assert segment_count("€" * 80 + "a") == 2
    assert segment_count("a" * 159 + "{") == 2


def test_extension_pair_is_not_split_across_parts():
    # 152 septets then an ESC pair: the pair moves to part two, and 153 more fill part three.
    assert segment_count("a" * 152 + "[" + "a" * 152) == 3
    assert segment_count("a" * 151 + "[" + "a" * 153) == 2


@pytest.mark.parametrize(("length", "segments"), [(70, 1), (71, 2), (134, 2), (135, 3)])
def test_ucs2_boundaries(length: int, segments: int):
    assert segment_count("ł" * length) == segments


def test_emoji_outside_the_bmp_costs_two_units():
    assert segment_count("😀" * 35) == 1
    assert segment_count("😀" * 35 + "a") == 2
    assert not is_gsm7("😀")


def test_emoji_is_not_split_across_parts():
    assert segment_count("a" * 66 + "😀" + "a" * 66) == 3


def test_empty_text_is_zero_segments():
    assert segment_count("") == 0
    assert prepare_sms("", transliterate=True) == ("", 0)


def test_transliterate_off_keeps_the_text():
    assert prepare_sms("Łódź", transliterate=False) == ("Łódź", 1)
