"""What an SMS text costs and how to make it cheaper (GSM 03.38).

One character outside the GSM-7 alphabet (every Polish letter, an emoji) switches the whole
message to UCS-2 and cuts a segment from 160 to 70 characters. Shops can opt into
transliteration, and every count is made on the text that is actually sent, so the cost we
show and record matches what SMSAPI bills.
"""

from __future__ import annotations

import unicodedata

from unidecode import unidecode

# GSM 03.38 default alphabet (one septet each). ESC (0x1B) is not a character of its own.
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞÆæßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# Extension table: sent as ESC + character, so each costs two septets. Form feed is in the
# table too, though no template should ever contain it.
GSM7_EXTENSION = frozenset("^{}\\[~]|€\f")

GSM7_SINGLE, GSM7_PART = 160, 153  # septets; a split message loses 7 to the UDH
UCS2_SINGLE, UCS2_PART = 70, 67  # UTF-16 code units

# Explicit although unidecode maps them the same: this is the case the option exists for.
_POLISH = str.maketrans("ąćęłńóśźżĄĆĘŁŃÓŚŹŻ", "acelnoszzACELNOSZZ")
# Polish typography opens quotes with „, which unidecode turns into ",,".
_QUOTES = str.maketrans({"„": '"', "“": '"', "”": '"', "«": '"', "»": '"', "‚": "'", "‘": "'"})
# ASCII that unidecode may produce but GSM-7 lacks.
_ASCII_FIXES = {"`": "'", "\t": " "}


def is_gsm7(text: str) -> bool:
    """True if the text can go out as GSM-7 without losing a character."""
    return all(ch in GSM7_BASIC or ch in GSM7_EXTENSION for ch in text)


def to_gsm7(text: str) -> str:
    """Rewrite `text` into the GSM-7 alphabet, keeping every character GSM-7 already has.

    Polish letters lose their diacritics, other characters go through unidecode, and what
    has no GSM-7 spelling at all (most emoji, control characters) is dropped.
    """
    text = unicodedata.normalize("NFC", text).translate(_POLISH).translate(_QUOTES)
    out: list[str] = []
    for ch in text:
        if ch in GSM7_BASIC or ch in GSM7_EXTENSION:
            out.append(ch)
            continue
        for sub in unidecode(ch):
            sub = _ASCII_FIXES.get(sub, sub)
            if sub in GSM7_BASIC or sub in GSM7_EXTENSION:
                out.append(sub)
    return "".join(out)


def _pack(costs: list[int], single: int, part: int) -> int:
    """Segments needed for units of the given costs, never splitting a unit across parts.

    Handsets and SMSCs keep an ESC pair or a surrogate pair within one part, so a part may
    carry one unit less than `part`; a plain division would undercount at the edge.
    """
    if sum(costs) <= single:
        return 1
    segments, used = 1, 0
    for cost in costs:
        if used + cost > part:
            segments += 1
            used = 0
        used += cost
    return segments


def segment_count(text: str) -> int:
    """How many SMS parts `text` takes as is (no transliteration).

    An empty text is 0 segments: it is not sendable (SMSAPI answers error 11), and 0 lets
    the caller notice that instead of paying for nothing.
    """
    if not text:
        return 0
    if is_gsm7(text):
        return _pack([2 if ch in GSM7_EXTENSION else 1 for ch in text], GSM7_SINGLE, GSM7_PART)
    # Characters outside the Basic Multilingual Plane are a surrogate pair in UCS-2/UTF-16.
    return _pack([2 if ord(ch) > 0xFFFF else 1 for ch in text], UCS2_SINGLE, UCS2_PART)


def prepare_sms(text: str, transliterate: bool) -> tuple[str, int]:
    """The text to hand to the provider and its segment count, per the shop's option.

    Both paths normalise to NFC, so a decomposed "ó" from a pasted template counts (and is
    billed) as one character.
    """
    sent = to_gsm7(text) if transliterate else unicodedata.normalize("NFC", text)
    return sent, segment_count(sent)
