"""JSON from outside (a browser, a platform's webhook) into Python values, or a 400.

`json.loads` alone is not enough at the edge: it recurses once per `[` or `{` (a body nested
30,000 deep raises RecursionError, a 500), accepts `NaN`, `Infinity` and `1e999`, and turns
the escape `\\ud800` (or, from bytes, CESU-8) into a lone surrogate that no database driver or
mail library will encode later. Rejecting all of it here keeps a bad body out of the inbox,
where it would only fail again in the worker.

Shoper's webhooks come through here too, on the one path whose cost per request matters
(docs/PERFORMANCE.md): the checks run as regular expressions over the whole text, and the
decoded strings are walked only when the text holds something that may decode to a refused
character."""

from __future__ import annotations

import json
import math
import re
from itertools import accumulate
from typing import Any

from shoper_retention.errors import BadInput

# A JSON string with its escapes; one never closed runs to the end of the text, as it does for
# json.loads. Linear: every quote starts a match that succeeds, so nothing is tried twice.
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*(?:"|\\?\Z)', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}

# Characters no string may hold, by `free_text`. Lone surrogates always; every control
# character (C0, DEL, C1) in what a browser typed into one-line fields. Free text from a
# platform (an order's comment, product names imported years ago) keeps tabs and line breaks,
# and DEL and C1, which mis-decoded legacy text carries: refusing a signed order over them
# would lose the purchase. The rest of C0 is refused there too: NUL cannot be stored in
# PostgreSQL text, and the others are terminal escapes waiting for a log.
_REFUSED = {
    False: re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]"),
    True: re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff]"),
}
# What in the text may decode to a refused character. json.loads refuses a raw C0 character
# inside a string, and strict UTF-8 has no surrogates, so only the escapes of C0 (\b \f \n
# \r \t \u0000-\u001f), DEL, C1 and surrogates can, and raw DEL and C1 where they are
# refused. An escaped backslash followed by "u0000" matches too: that costs a walk, never a
# miss.
_ESCAPES = re.compile(r"\\(?:[bfnrt]|u(?:00[0189]|007[fF]|[dD][89a-fA-F]))")
_RAW_C1 = re.compile("[\x80-\x9f]")
_NAME = re.compile(r"[A-Za-z0-9_]{1,64}")  # keys safe to echo in an error's field path


def parse_object(body: bytes, *, max_depth: int, free_text: bool = False) -> dict[str, Any]:
    """The JSON object in `body`: strict UTF-8, at most `max_depth` levels of arrays and
    objects (the top object is level 1), finite numbers only, and no lone surrogate or
    refused control character in any key or value (see `_REFUSED`)."""
    try:
        text = body.decode("utf-8")  # strict: also refuses encoded surrogates (CESU-8)
    except UnicodeDecodeError:
        raise BadInput("body is not valid UTF-8") from None
    if text.count("[") + text.count("{") > max_depth:  # else no nesting can go deeper
        _check_depth(text, max_depth)
    try:
        data = json.loads(text, parse_constant=_no_constant, parse_float=_finite_float)
    except ValueError:  # also an integer of over 4,300 digits
        raise BadInput("body is not valid JSON") from None
    if not isinstance(data, dict):
        raise BadInput("body must be a JSON object")
    if _ESCAPES.search(text) or (not free_text and _raw_del_or_c1(text)):
        _check_strings(data, _REFUSED[free_text])
    return data


def _raw_del_or_c1(text: str) -> bool:
    return "\x7f" in text or (not text.isascii() and _RAW_C1.search(text) is not None)


def _check_depth(text: str, max_depth: int) -> None:
    """The deepest nesting, counted before anything recurses; brackets inside strings do not
    count. Closing brackets with nothing open only lower the count, and json.loads stops at
    the first of them."""
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    if max(accumulate(map(_STEP.__getitem__, brackets)), default=0) > max_depth:
        raise BadInput(f"body is nested deeper than {max_depth} levels")


def _check_strings(data: dict[str, Any], refused: re.Pattern[str]) -> None:
    """Every key and string value, walked with a stack (the depth is checked, but a walk that
    cannot recurse needs no such argument)."""
    stack: list[tuple[Any, str]] = [(data, "")]
    while stack:
        value, path = stack.pop()
        if isinstance(value, str):
            _check_text(value, refused, path)
        elif isinstance(value, dict):
            for key, item in value.items():
                _check_text(key, refused, path)
                child = key if _NAME.fullmatch(key) else "?"
                stack.append((item, f"{path}.{child}" if path else child))
        elif isinstance(value, list):
            stack.extend((item, f"{path}[{i}]") for i, item in enumerate(value))


def _check_text(value: str, refused: re.Pattern[str], path: str) -> None:
    found = refused.search(value)
    if found is None:
        return
    field = path or None
    if "\ud800" <= found.group() <= "\udfff":
        raise BadInput("text holds a lone surrogate (not valid Unicode)", field=field)
    raise BadInput("text holds a control character", field=field)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"{text[:20]} is out of range")
    return number
