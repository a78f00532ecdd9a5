"""settings_form.apply: what counts as a valid setting, and that a rejected form stores nothing.

Plain calls on a shop loaded in a session; the page tests (tests/browser) cover the HTTP side."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import time, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from shoper_retention import shop_config
from shoper_retention.credentials import CredentialBox
from shoper_retention.errors import BadInput
from shoper_retention.messaging.coupons import CouponPolicy
from shoper_retention.models import ChannelPause, Shop
from shoper_retention.scenarios import cart_recovery, registry
from shoper_retention.scenarios.settings_schema import SettingsSchema, Switch
from shoper_retention.web import page_texts, settings_form
from tests.support import make_shop, settings_form_fields


class Form:
    """One shop in an open transaction, and `apply` bound to it; `other_shop_id` is a second
    shop, made before the transaction opens (SQLite lets one writer at a time)."""

    def __init__(
        self, session: Session, shop: Shop, other_shop_id: int, box: CredentialBox, now: Any
    ) -> None:
        self.session, self.shop, self.other_shop_id = session, shop, other_shop_id
        self.box, self.now = box, now

    def apply(self, **changes: str | None) -> None:
        settings_form.apply(
            self.session, self.shop, settings_form_fields(**changes), self.box, self.now
        )

    def rejects(self, field: str, **changes: str | None) -> BadInput:
        before = dict(self.shop.settings), self.shop.smsapi_token_enc
        with pytest.raises(BadInput) as caught:
            self.apply(**changes)
        assert caught.value.field == field
        assert (dict(self.shop.settings), self.shop.smsapi_token_enc) == before  # nothing stored
        return caught.value


@pytest.fixture
def form(factory, settings, clock) -> Iterator[Form]:
    handle = make_shop(factory, settings, now=clock.now)
    other = make_shop(factory, settings, now=clock.now)
    with factory() as session, session.begin():
        shop = session.get(Shop, handle.id)
        assert shop is not None
        yield Form(session, shop, other.id, CredentialBox(settings.secret_key), clock.now)


def test_a_valid_form_becomes_the_shops_configuration(form: Form):
    form.apply(
        cart_recovery__step1_hours="2",
        cart_recovery__step2_hours="20,5",  # a Polish decimal comma is accepted
        cart_recovery__step3_hours="96",
        cart_recovery__step1_channel="email",
        cart_recovery__step2_channel="sms",
        cart_recovery__step3_channel="auto",
        cart_recovery__coupon_mode="static",
        cart_recovery__coupon_percent="15",
        cart_recovery__coupon_valid="24",
        cart_recovery__coupon_static_code=" WRACAJ15 ",
        sms_sender="Moj-Sklep.1",
        sms_transliterate=None,
        mail_from="sklep@example.pl",
        sms_from="10:00",
        sms_until="19:30",
        email_from="07:00",
        email_until="22:00",
    )
    config = cart_recovery.read_config(form.shop)
    assert config.enabled is True
    assert [(s.delay, s.channel) for s in config.steps] == [
        (timedelta(hours=2), "email"),
        (timedelta(hours=20, minutes=30), "sms"),
        (timedelta(hours=96), "auto"),
    ]
    assert config.coupon == CouponPolicy("static", 15, timedelta(hours=24), "WRACAJ15")
    assert shop_config.sms_sender(form.shop) == "Moj-Sklep.1"
    assert shop_config.sms_transliterate(form.shop) is False
    assert shop_config.mail_from(form.shop, "operator@example.com") == "sklep@example.pl"
    assert shop_config.quiet_window(form.shop, "sms") == (time(10), time(19, 30))
    assert shop_config.quiet_window(form.shop, "email") == (time(7), time(22))


def test_an_unticked_box_switches_cart_recovery_off(form: Form):
    form.apply(cart_recovery__enabled=None)
    assert cart_recovery.read_config(form.shop).enabled is False
    form.apply()
    assert cart_recovery.read_config(form.shop).enabled is True


def test_empty_sender_and_from_fall_back_to_the_defaults(form: Form):
    form.apply(sms_sender="  ", mail_from="")
    assert shop_config.sms_sender(form.shop) == ""
    assert shop_config.mail_from(form.shop, "operator@example.com") == "operator@example.com"


@pytest.mark.parametrize(
    ("hours", "field"),
    [
        (("1", "1", "72"), "cart_recovery__step2_hours"),
        (("24", "1", "72"), "cart_recovery__step2_hours"),
        (("1", "80", "72"), "cart_recovery__step3_hours"),
        (("1", "24", "24"), "cart_recovery__step3_hours"),
        (("1", "1.005", "72"), "cart_recovery__step2_hours"),  # the same whole minute as step 1
    ],
)
def test_each_step_must_come_after_the_one_before(form: Form, hours, field):
    one, two, three = hours
    error = form.rejects(
        field,
        cart_recovery__step1_hours=one,
        cart_recovery__step2_hours=two,
        cart_recovery__step3_hours=three,
    )
    assert error.message == "each step must come after the one before"


@pytest.mark.parametrize("value", ["0", "0.25", "-1", "721", "", "soon", "nan", "inf"])
def test_step_timing_must_be_a_number_of_hours_within_bounds(form: Form, value):
    form.rejects("cart_recovery__step1_hours", cart_recovery__step1_hours=value)


def test_step_timing_bounds_are_inclusive(form: Form):
    form.apply(
        cart_recovery__step1_hours="0.5",
        cart_recovery__step2_hours="1",
        cart_recovery__step3_hours="720",
    )
    assert [s.delay for s in cart_recovery.read_config(form.shop).steps] == [
        timedelta(minutes=30),
        timedelta(hours=1),
        timedelta(days=30),
    ]


def test_a_step_channel_must_be_one_the_dispatcher_knows(form: Form):
    form.rejects("cart_recovery__step3_channel", cart_recovery__step3_channel="fax")


@pytest.mark.parametrize("sender", ["MojSklep", "Sklep-24.pl", "A B", "12345678901"])
def test_sender_names_smsapi_accepts_are_stored(form: Form, sender):
    form.apply(sms_sender=sender)
    assert shop_config.sms_sender(form.shop) == sender


@pytest.mark.parametrize(
    "sender", ["this is far too long", "123456789012", "Sklep_1", "Sklep!", "Łódź", "a\nb"]
)
def test_a_sender_name_smsapi_would_refuse_is_rejected(form: Form, sender):
    form.rejects("sms_sender", sms_sender=sender)


@pytest.mark.parametrize(
    "address", ["sklep", "sklep@", "@example.pl", "a@b", "a b@example.pl", "a@b@example.pl"]
)
def test_the_from_address_must_be_an_email_address(form: Form, address):
    form.rejects("mail_from", mail_from=address)


@pytest.mark.parametrize(
    "address",
    [
        "Sklep <sklep@example.pl>",  # a display name is not an address
        "sklep@example.pl,kopia@example.org",
        '"sklep ania"@example.pl',
        "sklep@[192.0.2.1]",
        "sklep@localhost",
        "sklep@sklep.test",
    ],
)
def test_the_from_address_must_be_one_plain_address(form: Form, address):
    form.rejects("mail_from", mail_from=address)


def test_the_from_address_is_stored_in_its_canonical_form(form: Form):
    form.apply(mail_from=" Sklep@Example.PL ")

    assert shop_config.mail_from(form.shop, "operator@example.com") == "sklep@example.pl"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"sms_from": "20:00", "sms_until": "09:00"}, "sms_until"),
        ({"sms_from": "12:00", "sms_until": "12:00"}, "sms_until"),
        ({"email_from": "22:00", "email_until": "06:00"}, "email_until"),
        ({"sms_from": "25:00"}, "sms_from"),
        ({"email_until": "nine"}, "email_until"),
        ({"email_from": ""}, "email_from"),
    ],
)
def test_a_quiet_hours_window_must_be_valid_times_starting_before_it_ends(
    form: Form, changes, field
):
    form.rejects(field, **changes)


@pytest.mark.parametrize("mode", ["unique", "static", "none"])
def test_each_coupon_mode_is_accepted(form: Form, mode):
    form.apply(cart_recovery__coupon_mode=mode)
    assert cart_recovery.read_config(form.shop).coupon.mode == mode


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"cart_recovery__coupon_mode": "free"}, "cart_recovery__coupon_mode"),
        ({"cart_recovery__coupon_percent": "0"}, "cart_recovery__coupon_percent"),
        ({"cart_recovery__coupon_percent": "91"}, "cart_recovery__coupon_percent"),
        ({"cart_recovery__coupon_percent": "10.5"}, "cart_recovery__coupon_percent"),
        ({"cart_recovery__coupon_valid": "0"}, "cart_recovery__coupon_valid"),
        ({"cart_recovery__coupon_valid": "721"}, "cart_recovery__coupon_valid"),
        ({"cart_recovery__coupon_static_code": "X" * 65}, "cart_recovery__coupon_static_code"),
    ],
)
def test_coupon_settings_out_of_bounds_are_rejected(form: Form, changes, field):
    form.rejects(field, **changes)


def test_a_late_error_stores_none_of_the_valid_fields_before_it(form: Form):
    # Every field but the last one checked is valid and different from what is stored.
    form.rejects(
        "email_until",
        cart_recovery__enabled=None,
        cart_recovery__step2_hours="20",
        sms_sender="MojSklep",
        smsapi_token="new-token",
        email_from="22:00",
        email_until="06:00",
    )
    assert form.shop.settings == {"scenarios": {"cart_recovery": {"enabled": True}}}
    assert form.shop.smsapi_token_enc is None


def test_the_smsapi_token_is_sealed_kept_when_left_empty_and_cleared_with_the_box(form: Form):
    form.apply(smsapi_token="  token-one  ")
    sealed = form.shop.smsapi_token_enc
    assert sealed and "token-one" not in sealed
    assert form.box.open(sealed) == "token-one"

    form.apply(smsapi_token="")
    assert form.shop.smsapi_token_enc == sealed  # left empty: kept as it was

    form.apply(smsapi_token="token-two")
    assert form.box.open(form.shop.smsapi_token_enc) == "token-two"

    form.apply(smsapi_token_clear="on")
    assert form.shop.smsapi_token_enc is None


def test_a_save_clears_the_shops_channel_pauses_and_a_rejected_one_does_not(form: Form, clock):
    form.session.add_all(
        [
            ChannelPause(shop_id=form.shop.id, channel="sms", reason="bad token", since=clock.now),
            ChannelPause(
                shop_id=form.other_shop_id, channel="sms", reason="bad token", since=clock.now
            ),
        ]
    )
    form.session.flush()

    def paused() -> list[tuple[int, str]]:
        rows = form.session.scalars(select(ChannelPause).order_by(ChannelPause.shop_id))
        return [(p.shop_id, p.channel) for p in rows]

    form.rejects("sms_sender", sms_sender="this is far too long")
    assert paused() == [(form.shop.id, "sms"), (form.other_shop_id, "sms")]
    form.apply()
    assert paused() == [(form.other_shop_id, "sms")]  # another shop's pause is not ours to lift


def test_every_field_an_error_can_name_has_a_label_the_page_shows(form: Form):
    fields = set(settings_form_fields()) - {
        "cart_recovery__enabled",
        "smsapi_token",
        "sms_transliterate",
    }
    assert all(settings_form.field_label(f) != {"en": f} for f in fields)


@pytest.mark.parametrize(
    "changes",
    [
        {"cart_recovery__step1_hours": "soon"},
        {"cart_recovery__step1_hours": "0"},
        {"cart_recovery__step2_hours": "1"},
        {"cart_recovery__step3_channel": "fax"},
        {"cart_recovery__idle_minutes": "x"},
        {"cart_recovery__idle_minutes": "5"},
        {"cart_recovery__coupon_mode": "free"},
        {"cart_recovery__coupon_static_code": "X" * 65},
        {"sms_sender": "Sklep_1"},
        {"mail_from": "sklep@"},
        {"sms_countries": "XX"},
        {
            "sms_countries": ",".join(
                ["PL", "DE", "CZ", "SK", "LT", "LV", "EE", "FI", "SE", "NO"] * 4
            )
        },
        {"email_opt_in": "maybe"},
        {"sms_from": "25:00"},
        {"sms_from": "20:00", "sms_until": "09:00"},
    ],
)
def test_every_message_the_form_refuses_with_reads_in_polish(form: Form, changes):
    with pytest.raises(BadInput) as caught:
        form.apply(**changes)
    message = caught.value.message
    assert page_texts.error_message(message, "pl") != message


def test_a_scenario_field_is_named_with_its_section(form: Form):
    assert settings_form.field_label("cart_recovery__coupon_percent") == {
        "pl": "Porzucone koszyki › Rabat (%)",
        "en": "Abandoned carts › Discount (%)",
    }


def test_a_page_opened_before_a_scenario_existed_saves_and_leaves_that_scenario_alone(
    form: Form,
):
    """The form a merchant submits has no fields for a scenario added since it was opened."""
    stale = {k: v for k, v in settings_form_fields().items() if not k.startswith("cart_recovery")}
    stale["sms_sender"] = "MojSklep"
    form.shop.settings = {"scenarios": {"cart_recovery": {"enabled": True, "idle_minutes": 45}}}
    settings_form.apply(form.session, form.shop, stale, form.box, form.now)
    assert cart_recovery.read_config(form.shop).idle == timedelta(minutes=45)
    assert shop_config.sms_sender(form.shop) == "MojSklep"


class Reminders:
    """A scenario whose section is only checkboxes: all unticked, only its marker is sent."""

    name = "reminders_trial"
    switchable = True
    settings = SettingsSchema(
        title={"en": "Trial"},
        description={"en": ""},
        fields=(Switch("enabled", {"en": "On"}), Switch("sms", {"en": "By SMS"}, on=True)),
    )


def test_a_section_of_unticked_boxes_is_told_apart_from_a_missing_one(form: Form, monkeypatch):
    monkeypatch.setitem(registry.REGISTRY, Reminders.name, Reminders())
    form.shop.settings = {"scenarios": {Reminders.name: {"enabled": True, "sms": True}}}
    form.apply()  # a page without the section: left as stored
    assert form.shop.settings["scenarios"][Reminders.name] == {"enabled": True, "sms": True}
    form.apply(reminders_trial__section="1")
    assert form.shop.settings["scenarios"][Reminders.name] == {"enabled": False, "sms": False}
