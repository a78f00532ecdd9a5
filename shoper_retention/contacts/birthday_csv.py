"""The merchant's CSV of birthdays (README, "Birthdays from a CSV file"), checked row by row.

A header row names the columns (`email`, `phone`, `birthday`, in any order; other columns are
ignored); each row needs an e-mail or a phone and a birth date. A row with anything wrong is
reported with its line number and why, and nothing of it is stored; the good rows are stored
together. The file is the shop's own record: it links a row's e-mail and phone, and its
birthdays outrank the storefront's (contacts/dates.py)."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy.orm import Session

from shoper_retention.contacts import dates
from shoper_retention.contacts import records as contacts
from shoper_retention.contacts.emails import canonical_email
from shoper_retention.contacts.phones import to_e164
from shoper_retention.ingest.events import ContactInfo
from shoper_retention.models import Shop

MAX_BYTES = 200 * 1024  # under the app's request limit, with room for the form around it
MAX_ROWS = 5000
COLUMNS = ("email", "phone", "birthday")

Text = Mapping[str, str]

FILE_PROBLEMS: dict[str, Text] = {
    "empty": {"pl": "Plik jest pusty.", "en": "The file is empty."},
    "too_large": {
        "pl": f"Plik jest za duży: najwyżej {MAX_BYTES // 1024} KB. "
        "Podziel go na kilka mniejszych.",
        "en": f"The file is too large: {MAX_BYTES // 1024} KB at most. Split it into smaller ones.",
    },
    "too_many_rows": {
        "pl": f"Plik ma za dużo wierszy: może ich mieć najwyżej {MAX_ROWS}. "
        "Podziel go na kilka mniejszych.",
        "en": f"Too many rows: a file may have at most {MAX_ROWS}. Split it into smaller files.",
    },
    "encoding": {
        "pl": "Plik nie jest zapisany w kodowaniu UTF-8. W Excelu użyj „Zapisz jako” i wybierz "
        "typ „CSV UTF-8 (rozdzielany przecinkami)”.",
        "en": "The file is not UTF-8. In Excel, save it as “CSV UTF-8”.",
    },
    "format": {
        "pl": "Nie da się odczytać pliku jako CSV (sprawdź cudzysłowy).",
        "en": "The file cannot be read as CSV (check its quotes).",
    },
    "header": {
        "pl": "Pierwszy wiersz musi zawierać nazwy kolumn: birthday oraz email lub phone.",
        "en": "The first row must name the columns: birthday, and email or phone.",
    },
}

REASONS: dict[str, Text] = {
    "no_address": {"pl": "brak e-maila i telefonu", "en": "no e-mail and no phone"},
    "email": {"pl": "nieprawidłowy adres e-mail", "en": "not a valid e-mail address"},
    "phone": {"pl": "nieprawidłowy numer telefonu", "en": "not a valid phone number"},
    "no_birthday": {"pl": "brak daty urodzin", "en": "no birth date"},
    "birthday": {
        "pl": "nieczytelna data urodzin (np. 1990-02-28, 28.02.1990 lub 28.02)",
        "en": "birth date not recognised (e.g. 1990-02-28, 28.02.1990 or 28.02)",
    },
    "repeated": {
        "pl": "ten sam e-mail lub telefon jest już w wierszu {line}",
        "en": "the same e-mail or phone is already on line {line}",
    },
}


class FileProblem(Exception):
    """The file as a whole cannot be read; `key` names the problem in FILE_PROBLEMS."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


@dataclass(frozen=True)
class Rejected:
    line: int
    reason: str  # a key of REASONS
    other_line: int = 0  # for "repeated"


@dataclass
class Report:
    imported: int = 0
    rejected: list[Rejected] = field(default_factory=list)


@dataclass(frozen=True)
class _Row:
    line: int
    info: ContactInfo
    month: int
    day: int


def import_birthdays(session: Session, shop: Shop, data: bytes, now: datetime) -> Report:
    """Check every row first, then store the good ones; raises FileProblem (nothing stored)."""
    rows, report = _read(data, shop, dates.local_today(shop, now))
    for row in rows:
        contact = contacts.upsert_contact(session, shop.id, row.info, now, trusted=True)
        if contact is not None:
            dates.set_birthday(contact, row.month, row.day, source=dates.IMPORT)
            report.imported += 1
    return report


def _read(data: bytes, shop: Shop, today: date) -> tuple[list[_Row], Report]:
    if len(data) > MAX_BYTES:
        raise FileProblem("too_large")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise FileProblem("encoding") from None
    if "\x00" in text:
        raise FileProblem("encoding")
    lines = text.splitlines()
    if not lines or not lines[0].strip():
        raise FileProblem("empty")
    # Polish Excel writes semicolons; elsewhere commas.
    delimiter = ";" if lines[0].count(";") > lines[0].count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        return _rows(reader, shop, today)
    except csv.Error:
        raise FileProblem("format") from None


def _rows(reader: Any, shop: Shop, today: date) -> tuple[list[_Row], Report]:
    header = [name.strip().lower() for name in next(reader)]
    if "birthday" not in header or not {"email", "phone"} & set(header):
        raise FileProblem("header")
    where = {name: header.index(name) for name in COLUMNS if name in header}
    report = Report()
    rows: list[_Row] = []
    seen: dict[str, int] = {}
    for values in reader:
        line = reader.line_num
        if not any(v.strip() for v in values):
            continue
        if len(rows) + len(report.rejected) >= MAX_ROWS:
            raise FileProblem("too_many_rows")
        cell = {name: values[i].strip() if i < len(values) else "" for name, i in where.items()}
        row, reason = _row(line, cell, shop.country, today)
        if row is not None:
            repeated = [seen[a] for a in (row.info.email, row.info.phone) if a and a in seen]
            if repeated:
                report.rejected.append(Rejected(line, "repeated", repeated[0]))
                continue
            for address in (row.info.email, row.info.phone):
                if address:
                    seen[address] = line
            rows.append(row)
        else:
            report.rejected.append(Rejected(line, reason))
    return rows, report


def _row(line: int, cell: dict[str, str], region: str, today: date) -> tuple[_Row | None, str]:
    email_raw, phone_raw = cell.get("email", ""), cell.get("phone", "")
    if not email_raw and not phone_raw:
        return None, "no_address"
    email = None
    if email_raw:
        try:
            email = canonical_email(email_raw)
        except ValueError:
            return None, "email"
    phone = to_e164(phone_raw, region) if phone_raw else None
    if phone_raw and phone is None:
        return None, "phone"
    if not cell.get("birthday"):
        return None, "no_birthday"
    birthday = dates.parse_birth_date(cell["birthday"], today)
    if birthday is None:
        return None, "birthday"
    return _Row(line, ContactInfo(email=email, phone=phone), *birthday), ""
