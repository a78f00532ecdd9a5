"""A scenario's settings, declared once: defaults, validation of the merchant's form, and what
the settings page shows (labels and hints in Polish and English).

A scenario lists its fields; the settings form, the page section and the stored JSON all come
from that list, so a new scenario brings its settings without touching the page or the form.
Stored values live under `settings["scenarios"][<scenario>]` in the shape each field gives."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from shoper_retention.errors import BadInput
from shoper_retention.messaging.coupons import CouponPolicy

# {"pl": ..., "en": ...}: the page speaks the shop's language, English where it is neither.
Text = Mapping[str, str]

CHANNEL_CHOICES: tuple[tuple[str, Text], ...] = (
    ("auto", {"pl": "SMS, gdy wolno; inaczej e-mail", "en": "SMS where allowed, else e-mail"}),
    ("email", {"pl": "E-mail", "en": "E-mail"}),
    ("sms", {"pl": "SMS", "en": "SMS"}),
    ("both", {"pl": "E-mail i SMS", "en": "E-mail and SMS"}),
)
COUPON_MODES: tuple[tuple[str, Text], ...] = (
    (
        "unique",
        {
            "pl": "Jednorazowy kod (tworzony w sklepie)",
            "en": "A unique code (created in your shop)",
        },
    ),
    ("static", {"pl": "Mój własny kod", "en": "My own code"}),
    ("none", {"pl": "Bez kuponu", "en": "No coupon"}),
)


LANGUAGES = ("pl", "en")


def say(text: Text, language: str) -> str:
    return text.get(language) or text.get("en", "")


def _of_row(row: Text, column: Text) -> Text:
    """ "Second reminder: channel": a step's input named by its row and its column."""
    return {lang: f"{say(row, lang)}: {_lower_first(say(column, lang))}" for lang in LANGUAGES}


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


@dataclass(frozen=True)
class Input:
    """One control on the page: what the template draws for a field."""

    name: str  # the form field's name (unique on the page)
    kind: str  # checkbox | number | select | text
    label: Text
    value: Any
    hint: Text = field(default_factory=dict)
    choices: tuple[tuple[str, Text], ...] = ()
    low: float | None = None
    high: float | None = None
    step: float | None = None
    max_length: int | None = None


@dataclass(frozen=True)
class StepRow:
    """One message of a Steps field as a row on the page: name | hours | channel."""

    label: Text
    hint: Text
    hours: Input
    channel: Input


@dataclass(frozen=True)
class Group:
    """How the page lays out one field: a switch, a plain field, a table of steps or a coupon
    box. Column headings (`columns`) are for a table of steps."""

    kind: str  # switch | field | steps | coupon
    label: Text
    inputs: tuple[Input, ...]
    hint: Text = field(default_factory=dict)
    rows: tuple[StepRow, ...] = ()
    columns: tuple[Text, ...] = ()


class Field:
    """A stored value, its form inputs and their validation."""

    key: str
    label: Text
    hint: Text

    def default(self) -> Any:
        raise NotImplementedError

    def inputs(self, prefix: str, stored: Any) -> list[Input]:
        raise NotImplementedError

    def group(self, prefix: str, stored: Any) -> Group:
        return Group("field", self.label, tuple(self.inputs(prefix, stored)), self.hint)

    def parse(self, prefix: str, form: Mapping[str, str]) -> Any:
        """The value to store; raises BadInput naming the form field."""
        raise NotImplementedError

    def labels(self, prefix: str) -> dict[str, Text]:
        return {i.name: i.label for i in self.inputs(prefix, self.default())}


def _name(prefix: str, key: str) -> str:
    return f"{prefix}__{key}"  # a Python name too: tests pass fields as keywords


@dataclass(frozen=True)
class Switch(Field):
    key: str
    label: Text
    on: bool = False
    hint: Text = field(default_factory=dict)

    def default(self) -> bool:
        return self.on

    def inputs(self, prefix: str, stored: Any) -> list[Input]:
        return [Input(_name(prefix, self.key), "checkbox", self.label, bool(stored), self.hint)]

    def group(self, prefix: str, stored: Any) -> Group:
        return Group("switch", self.label, tuple(self.inputs(prefix, stored)), self.hint)

    def parse(self, prefix: str, form: Mapping[str, str]) -> bool:
        return form.get(_name(prefix, self.key)) == "on"


@dataclass(frozen=True)
class Number(Field):
    """A whole number (days, hours, a count, a per cent)."""

    key: str
    label: Text
    value: int
    low: int
    high: int
    hint: Text = field(default_factory=dict)

    def default(self) -> int:
        return self.value

    def inputs(self, prefix: str, stored: Any) -> list[Input]:
        return [
            Input(
                _name(prefix, self.key),
                "number",
                self.label,
                stored,
                self.hint,
                low=self.low,
                high=self.high,
                step=1,
            )
        ]

    def parse(self, prefix: str, form: Mapping[str, str]) -> int:
        name = _name(prefix, self.key)
        return whole_number(form.get(name, ""), name, self.low, self.high)


@dataclass(frozen=True)
class Choice(Field):
    key: str
    label: Text
    value: str
    choices: tuple[tuple[str, Text], ...]
    hint: Text = field(default_factory=dict)

    def default(self) -> str:
        return self.value

    def inputs(self, prefix: str, stored: Any) -> list[Input]:
        return [
            Input(_name(prefix, self.key), "select", self.label, stored, self.hint, self.choices)
        ]

    def parse(self, prefix: str, form: Mapping[str, str]) -> str:
        name = _name(prefix, self.key)
        value = form.get(name, self.value)
        if value not in {v for v, _ in self.choices}:
            raise BadInput("unknown choice", field=name)
        return value


@dataclass(frozen=True)
class Line(Field):
    """One line of plain text (a code, a short name), trimmed, at most `max_length` long."""

    key: str
    label: Text
    value: str = ""
    max_length: int = 64
    hint: Text = field(default_factory=dict)

    def default(self) -> str:
        return self.value

    def inputs(self, prefix: str, stored: Any) -> list[Input]:
        return [
            Input(
                _name(prefix, self.key),
                "text",
                self.label,
                stored,
                self.hint,
                max_length=self.max_length,
            )
        ]

    def parse(self, prefix: str, form: Mapping[str, str]) -> str:
        name = _name(prefix, self.key)
        return _line(form.get(name, ""), name, self.max_length)


def _line(raw: str, name: str, max_length: int) -> str:
    value = raw.strip()
    if len(value) > max_length or any(c in value for c in "\r\n\x00"):
        raise BadInput(f"one line of at most {max_length} characters", field=name)
    return value


@dataclass(frozen=True)
class StepDefault:
    delay_minutes: int
    channel: str
    label: Text
    hint: Text = field(default_factory=dict)


STEP_COLUMNS: tuple[Text, ...] = (
    {"pl": "Wiadomość", "en": "Message"},
    {"pl": "Po ilu godzinach", "en": "After (hours)"},
    {"pl": "Kanał", "en": "Channel"},
)


@dataclass(frozen=True)
class Steps(Field):
    """Messages timed in hours from the scenario's anchor, each later than the one before.
    Stored as [{"delay_minutes", "channel"}, ...] in step order."""

    key: str
    label: Text
    steps: tuple[StepDefault, ...]
    max_hours: int = 24 * 30
    hint: Text = field(default_factory=dict)

    def default(self) -> list[dict[str, Any]]:
        return [{"delay_minutes": s.delay_minutes, "channel": s.channel} for s in self.steps]

    def inputs(self, prefix: str, stored: Any) -> list[Input]:
        return [i for row in self._rows(prefix, stored) for i in (row.hours, row.channel)]

    def group(self, prefix: str, stored: Any) -> Group:
        rows = self._rows(prefix, stored)
        inputs = tuple(i for row in rows for i in (row.hours, row.channel))
        return Group("steps", self.label, inputs, self.hint, tuple(rows), STEP_COLUMNS)

    def _rows(self, prefix: str, stored: Any) -> list[StepRow]:
        # Each input's label names its row and column: the page reads it out (aria-label) and
        # an error names the field with it.
        _, hours_column, channel_column = STEP_COLUMNS
        # Stored before the schema gained a step: the new one shows its default, as the
        # form will ask for it.
        values = [*stored, *self.default()[len(stored) :]]
        rows = []
        for n, (spec, value) in enumerate(zip(self.steps, values, strict=False), start=1):
            hours = Input(
                _name(prefix, f"step{n}_hours"),
                "number",
                _of_row(spec.label, hours_column),
                f"{value['delay_minutes'] / 60:g}",
                low=0.5,
                high=self.max_hours,
                step=0.5,
            )
            channel = Input(
                _name(prefix, f"step{n}_channel"),
                "select",
                _of_row(spec.label, channel_column),
                value["channel"],
                choices=CHANNEL_CHOICES,
            )
            rows.append(StepRow(spec.label, spec.hint, hours, channel))
        return rows

    def parse(self, prefix: str, form: Mapping[str, str]) -> list[dict[str, Any]]:
        values = []
        previous = None
        for n, spec in enumerate(self.steps, start=1):
            hours_name = _name(prefix, f"step{n}_hours")
            # Compared in whole minutes, the unit stored: 1 and 1.005 hours are both 60.
            minutes = round(_hours(form.get(hours_name, ""), hours_name, self.max_hours) * 60)
            if previous is not None and not previous < minutes:
                raise BadInput("each step must come after the one before", field=hours_name)
            previous = minutes
            channel_name = _name(prefix, f"step{n}_channel")
            channel = form.get(channel_name, spec.channel)
            if channel not in {v for v, _ in CHANNEL_CHOICES}:
                raise BadInput("unknown channel", field=channel_name)
            values.append({"delay_minutes": minutes, "channel": channel})
        return values


@dataclass(frozen=True)
class Coupon(Field):
    """A unique code created at the platform, the merchant's own code, or none."""

    key: str
    label: Text
    mode: str = "unique"
    percent: int = 10
    valid: int = 48
    valid_unit: str = "hours"  # hours | days
    hint: Text = field(default_factory=dict)

    def default(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "discount_percent": self.percent,
            f"valid_{self.valid_unit}": self.valid,
            "static_code": "",
        }

    def inputs(self, prefix: str, stored: Any) -> list[Input]:
        return [
            Input(
                _name(prefix, "coupon_mode"),
                "select",
                {"pl": "Rodzaj kuponu", "en": "Kind of coupon"},
                stored["mode"],
                choices=COUPON_MODES,
            ),
            Input(
                _name(prefix, "coupon_percent"),
                "number",
                {"pl": "Rabat (%)", "en": "Discount (%)"},
                stored["discount_percent"],
                {"pl": "dla kodu jednorazowego", "en": "for a unique code"},
                low=1,
                high=90,
                step=1,
            ),
            Input(
                _name(prefix, "coupon_valid"),
                "number",
                VALID_FOR[self.valid_unit],
                stored[f"valid_{self.valid_unit}"],
                {"pl": "dla kodu jednorazowego", "en": "for a unique code"},
                low=1,
                high=VALID_LIMIT[self.valid_unit],
                step=1,
            ),
            Input(
                _name(prefix, "coupon_static_code"),
                "text",
                {"pl": "Mój własny kod", "en": "My own code"},
                stored["static_code"],
                {
                    "pl": "używany też, gdy nie da się utworzyć jednorazowego",
                    "en": "also used if a unique code cannot be created",
                },
                max_length=STATIC_CODE_LENGTH,
            ),
        ]

    def group(self, prefix: str, stored: Any) -> Group:
        return Group("coupon", self.label, tuple(self.inputs(prefix, stored)), self.hint)

    def parse(self, prefix: str, form: Mapping[str, str]) -> dict[str, Any]:
        mode_name = _name(prefix, "coupon_mode")
        mode = form.get(mode_name, self.mode)
        if mode not in {v for v, _ in COUPON_MODES}:
            raise BadInput("unknown coupon mode", field=mode_name)
        percent_name = _name(prefix, "coupon_percent")
        valid_name = _name(prefix, "coupon_valid")
        code_name = _name(prefix, "coupon_static_code")
        code = form.get(code_name, "").strip()
        if len(code) > STATIC_CODE_LENGTH:
            raise BadInput(f"at most {STATIC_CODE_LENGTH} characters", field=code_name)
        return {
            "mode": mode,
            "discount_percent": whole_number(form.get(percent_name, ""), percent_name, 1, 90),
            f"valid_{self.valid_unit}": whole_number(
                form.get(valid_name, ""), valid_name, 1, VALID_LIMIT[self.valid_unit]
            ),
            "static_code": code,
        }


VALID_FOR: dict[str, Text] = {
    "hours": {"pl": "Ważny przez (godziny)", "en": "Valid for (hours)"},
    "days": {"pl": "Ważny przez (dni)", "en": "Valid for (days)"},
}
VALID_LIMIT = {"hours": 24 * 30, "days": 365}
STATIC_CODE_LENGTH = 64


def coupon_policy(stored: Mapping[str, Any]) -> CouponPolicy:
    if "valid_days" in stored:
        valid_for = timedelta(days=int(stored["valid_days"]))
    else:
        valid_for = timedelta(hours=int(stored["valid_hours"]))
    return CouponPolicy(
        mode=str(stored["mode"]),
        discount_percent=int(stored["discount_percent"]),
        valid_for=valid_for,
        static_code=str(stored["static_code"]).strip(),
    )


@dataclass(frozen=True)
class SettingsSchema:
    """A scenario's settings: its page section's title and what it says, and its fields
    (a Switch keyed "enabled" first, unless the merchant cannot switch the scenario)."""

    title: Text
    description: Text
    fields: tuple[Field, ...] = ()

    def defaults(self) -> dict[str, Any]:
        return {f.key: f.default() for f in self.fields}

    def read(self, stored: Mapping[str, Any] | None) -> dict[str, Any]:
        """The stored values laid over the defaults, field by field."""
        result = self.defaults()
        for f in self.fields:
            value = (stored or {}).get(f.key)
            if value is None:
                continue
            if isinstance(value, dict) and isinstance(result[f.key], dict):
                result[f.key] = {**result[f.key], **copy.deepcopy(value)}
            else:
                result[f.key] = copy.deepcopy(value)
        return result

    def inputs(self, prefix: str, stored: Mapping[str, Any] | None) -> list[Input]:
        values = self.read(stored)
        return [i for f in self.fields for i in f.inputs(prefix, values[f.key])]

    def parse(self, prefix: str, form: Mapping[str, str]) -> dict[str, Any]:
        return {f.key: f.parse(prefix, form) for f in self.fields}

    def groups(self, prefix: str, stored: Mapping[str, Any] | None) -> list[Group]:
        """The page section's layout, field by field, with the stored values."""
        values = self.read(stored)
        return [f.group(prefix, values[f.key]) for f in self.fields]

    def labels(self, prefix: str) -> dict[str, Text]:
        return {name: label for f in self.fields for name, label in f.labels(prefix).items()}


def whole_number(raw: str, name: str, low: int, high: int) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise BadInput("must be a whole number", field=name) from None
    if not low <= value <= high:
        raise BadInput(f"must be between {low} and {high}", field=name)
    return value


def _hours(raw: str, name: str, high: int) -> float:
    try:
        value = float(raw.replace(",", "."))
    except ValueError:
        raise BadInput("must be a number of hours", field=name) from None
    if not 0.5 <= value <= high:  # NaN fails this too
        raise BadInput(f"must be between 0.5 and {high} hours", field=name)
    return value


def step_delays(stored: Sequence[Mapping[str, Any]]) -> list[tuple[int, timedelta, str]]:
    """(number, delay, channel) per stored step, numbered from 1."""
    return [
        (n, timedelta(minutes=int(s["delay_minutes"])), str(s["channel"]))
        for n, s in enumerate(stored, start=1)
    ]
