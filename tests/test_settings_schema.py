"""The settings schema's page layout (groups, step rows, labels) and the Line field; the page's
Polish for the validation messages the schema and the form raise. Pure functions, no database."""

from __future__ import annotations

import pytest

from shoper_retention.errors import BadInput
from shoper_retention.scenarios import cart_recovery
from shoper_retention.scenarios.settings_schema import (
    CHANNEL_CHOICES,
    Line,
    SettingsSchema,
    Switch,
)
from shoper_retention.web import page_texts

SCHEMA = cart_recovery.SETTINGS


def test_cart_recovery_is_laid_out_as_switch_field_steps_table_and_coupon_box():
    groups = SCHEMA.groups("cart_recovery", {"steps": [{"delay_minutes": 90, "channel": "sms"}]})
    assert [g.kind for g in groups] == ["switch", "field", "steps", "coupon"]
    steps = groups[2]
    # A stored list shorter than the schema's steps (a step added since) shows the defaults.
    assert [r.hours.value for r in steps.rows] == ["1.5", "24", "72"]
    assert [r.label["pl"] for r in steps.rows] == [
        "Pierwsze przypomnienie",
        "Drugie przypomnienie",
        "Ostatnie przypomnienie",
    ]
    first = steps.rows[0]
    assert (first.hours.name, first.hours.value) == ("cart_recovery__step1_hours", "1.5")
    assert (first.channel.name, first.channel.value) == ("cart_recovery__step1_channel", "sms")
    assert first.hours.label == {
        "pl": "Pierwsze przypomnienie: po ilu godzinach",
        "en": "First reminder: after (hours)",
    }
    assert first.channel.choices == CHANNEL_CHOICES
    assert [c["en"] for c in steps.columns] == ["Message", "After (hours)", "Channel"]
    assert [i.name for i in groups[3].inputs] == [
        "cart_recovery__coupon_mode",
        "cart_recovery__coupon_percent",
        "cart_recovery__coupon_valid",
        "cart_recovery__coupon_static_code",
    ]


def test_the_groups_hold_exactly_the_inputs_and_labels_the_flat_api_gives():
    stored = {"enabled": False}
    from_groups = [i for g in SCHEMA.groups("cart_recovery", stored) for i in g.inputs]
    assert from_groups == SCHEMA.inputs("cart_recovery", stored)
    assert set(SCHEMA.labels("cart_recovery")) == {i.name for i in from_groups}


SIGNED = SettingsSchema(
    title={"pl": "Próba", "en": "Trial"},
    description={"pl": "", "en": ""},
    fields=(Switch("enabled", {"en": "On"}), Line("signature", {"en": "Signature"}, "Ania", 10)),
)


def test_a_line_is_trimmed_stored_and_shown_with_its_length_limit():
    assert SIGNED.defaults() == {"enabled": False, "signature": "Ania"}
    assert SIGNED.parse("x", {"x__signature": "  Zespół  "}) == {
        "enabled": False,
        "signature": "Zespół",
    }
    (shown,) = [i for i in SIGNED.inputs("x", {"signature": "Ola"}) if i.kind == "text"]
    assert (shown.name, shown.value, shown.max_length) == ("x__signature", "Ola", 10)


@pytest.mark.parametrize("value", ["X" * 11, "dwa\nwiersze", "a\rb", "a\x00b"])
def test_a_line_refuses_more_than_one_short_line(value):
    with pytest.raises(BadInput) as caught:
        SIGNED.parse("x", {"x__signature": value})
    assert caught.value.field == "x__signature"


@pytest.mark.parametrize(
    ("message", "polish"),
    [
        ("unknown choice", "wybierz jedną z podanych możliwości"),
        (
            "each step must come after the one before",
            "każda wiadomość musi wyjść później niż poprzednia",
        ),
        ("must be between 1 and 90", "podaj liczbę od 1 do 90"),
        ("must be between 0.5 and 720 hours", "podaj od 0,5 do 720 godzin"),
        ("must be a number of hours", "podaj liczbę godzin, np. 24 lub 1,5"),
        ("at most 1 characters", "najwyżej 1 znak"),
        ("at most 64 characters", "najwyżej 64 znaki"),
        ("at most 12 characters", "najwyżej 12 znaków"),
        ("one line of at most 40 characters", "jeden wiersz, najwyżej 40 znaków"),
        ("at most 22 countries", "najwyżej 22 kraje"),
        ("at most 30 countries", "najwyżej 30 krajów"),
        ("unknown country code 'XX'", "nieznany kod kraju 'XX'"),
        (
            "must be one plain e-mail address: empty",
            "podaj jeden adres e-mail, np. sklep@example.pl",
        ),
        ("must be a time like 09:00", "podaj godzinę w postaci 09:00"),
    ],
)
def test_known_validation_messages_read_in_polish_on_a_polish_shop(message, polish):
    assert page_texts.error_message(message, "pl") == polish
    assert page_texts.error_message(message, "en") == message


def test_an_unknown_message_is_shown_as_it_is():
    assert page_texts.error_message("something new went wrong", "pl") == "something new went wrong"


def test_every_page_text_has_polish_and_english():
    for texts in (page_texts.TEXTS, page_texts.STATUSES, page_texts.FIELD_LABELS):
        for key, text in texts.items():
            assert set(text) == {"pl", "en"}, key
            assert text["pl"].strip() and text["en"].strip(), key


def test_the_translator_fills_placeholders_and_fails_on_a_missing_text():
    t = page_texts.translator("pl")
    assert t("saved") == "Zapisano ustawienia."
    assert t("heading", shop="Sklep {x}") == "Ustawienia Retention: Sklep {x}"
    assert t({"pl": "Tak", "en": "Yes"}) == "Tak"
    assert page_texts.translator("en")({"pl": "Tylko po polsku"}) == ""
    with pytest.raises(KeyError):
        t("no_such_text")
