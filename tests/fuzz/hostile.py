"""What the fuzz tests throw at the endpoints (Hypothesis strategies of hostile input) and the
checks every endpoint shares: no 5xx, a well-formed answer, nothing stored when refused."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

# Characters that broke parsers somewhere: controls (C0, DEL, C1), lone surrogates, NUL,
# zero-width and direction marks, a BOM, non-characters, astral ones, full-width digits and @.
NASTY_CHARS = (
    "\x00\x01\x07\x08\t\n\x0b\x0c\r\x1b\x1f\x7f\x80\x85\x9f\xa0\xad"
    "\u200b\u200d\u2028\u2029\u202e\ufeff\ufffd\uffff\U0001f600\U0010ffff"
    "\ud800\udc00\udfff"
    "０１２３＠．<>\"'&;%\\/{}[]@:.-+ 0123456789eE"
)
any_char = st.characters(codec=None, exclude_categories=())  # surrogates included
nasty_text = st.text(st.sampled_from(NASTY_CHARS) | any_char, max_size=40)
any_text = st.one_of(
    st.text(max_size=40),
    nasty_text,
    st.integers(0, 10**30).map(str),
    st.floats(allow_nan=True).map(repr),
    st.sampled_from(["", " ", "null", "true", "0", "-1", "1e999", "NaN", "a" * 300]),
)
# What an HTTP header can carry through WSGI: latin-1 without CR/LF.
header_text = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\r\n\x7f"),
    max_size=60,
)
numbers = st.one_of(
    st.integers(),
    st.integers(-(10**400), 10**400),
    st.floats(allow_nan=True, allow_infinity=True),
    st.decimals(allow_nan=False, allow_infinity=False).map(str),
)
json_scalars = st.one_of(st.none(), st.booleans(), numbers, any_text)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(any_text, inner, max_size=4),
    max_leaves=12,
)


def to_json(value: Any, *, ascii_only: bool) -> bytes:
    """json.dumps writes NaN/Infinity and, with ensure_ascii, `\\ud800` escapes for lone
    surrogates; without it a lone surrogate needs `surrogatepass` (CESU-8 bytes)."""
    return json.dumps(value, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")


def is_standard_json(body: bytes) -> bool:
    """Whether `body` is JSON as RFC 8259 has it: json.dumps also writes NaN and Infinity,
    which no standard parser (ours included) reads as numbers."""

    def refuse(constant: str) -> None:
        raise ValueError(constant)

    try:
        json.loads(body, parse_constant=refuse)
    except ValueError:
        return False
    return True


@st.composite
def json_bodies(draw: st.DrawFn, values: st.SearchStrategy[Any] = json_values) -> bytes:
    return to_json(draw(values), ascii_only=draw(st.booleans()))


def nested(depth: int, kind: str) -> bytes:
    if kind == "list":
        return b"[" * depth + b"]" * depth
    if kind == "object":
        return b'{"a":' * depth + b"1" + b"}" * depth
    return b"[" * depth  # never closed


deep_bodies = st.builds(nested, st.integers(1, 50_000), st.sampled_from(["list", "object", "open"]))


@st.composite
def mutated(draw: st.DrawFn, body: bytes) -> bytes:
    """`body` with a few bytes inserted, replaced, deleted or cut off (JSON made invalid, or
    valid JSON made odd: an escape, a NaN, a BOM, a CESU-8 surrogate in a string)."""
    pieces = [
        b"\\ud800",
        b"\\udc00",
        b"\\u0000",
        b"\\u001b",
        b"\\u0085",
        b"\xed\xa0\x80",
        b"\xef\xbb\xbf",
        b"\xc0\xaf",
        b"\xff",
        b"\x00",
        b"NaN",
        b"1e999",
        b"-0",
        b"[",
        b"{",
        b'"',
        b"\\",
        b",",
    ]
    data = bytearray(body)
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(data)))
        action = draw(st.sampled_from(["insert", "replace", "delete", "truncate"]))
        piece = draw(st.sampled_from(pieces) | st.binary(min_size=1, max_size=4))
        if action == "insert":
            data[at:at] = piece
        elif action == "replace":
            data[at : at + len(piece)] = piece
        elif action == "delete":
            del data[at : at + draw(st.integers(1, 8))]
        else:
            del data[at:]
    return bytes(data)


def row_counts(factory: sessionmaker[Session], *models: Any) -> dict[str, int]:
    with factory() as session:
        return {
            model.__name__: int(session.scalar(select(func.count()).select_from(model)) or 0)
            for model in models
        }


def assert_json_answer(answer: Any, *, outage_allowed: bool = False) -> Any:
    """Never a 5xx (but a 503 with Retry-After where the caller faked an outage); a JSON body,
    `{"error", "message", "field"?}` for a refusal."""
    limit = 504 if outage_allowed else 500
    assert answer.status_code < limit and answer.status_code not in (500, 501, 502), (
        answer.status_code,
        answer.get_data()[:500],
    )
    assert answer.mimetype == "application/json", (answer.status_code, answer.headers)
    data = json.loads(answer.get_data())
    assert isinstance(data, dict)
    if answer.status_code >= 400:
        assert isinstance(data.get("error"), str) and isinstance(data.get("message"), str), data
        assert isinstance(data.get("field", ""), str), data
        if answer.status_code == 429:
            assert answer.headers.get("Retry-After", "").isdigit()
    return data
