"""The merchant's birthday CSV import, a page of the settings inside the Shoper admin.

Reached from the settings page with its signed form token `t` (links.py): the token names the
shop and is the CSRF defence, as on the settings page. It travels in the query string, so a
file too large to read still gets a page in the shop's language, not a bare error."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template, request
from sqlalchemy.orm import Session

from shoper_retention.contacts import birthday_csv
from shoper_retention.messaging.locales import language_of
from shoper_retention.models import Shop
from shoper_retention.scenarios.settings_schema import say
from shoper_retention.web import settings_page
from shoper_retention.web.services import services

blueprint = Blueprint("birthday_import", __name__)

TEXTS = {
    "title": {"pl": "Import dat urodzin", "en": "Import birthdays"},
    "intro": {
        "pl": "Plik CSV (UTF-8), w którym pierwszy wiersz zawiera nazwy kolumn: email, phone, "
        "birthday. W każdym wierszu musi być e-mail lub telefon oraz data urodzin w formacie "
        "1990-02-28, 28.02.1990 lub 28.02. Daty z pliku mają pierwszeństwo przed datami "
        "podanymi przez klientów w formularzu na stronie sklepu.",
        "en": "A CSV file (UTF-8) with a header row and the columns email, phone, birthday. "
        "Each row needs an e-mail address or a phone number, and a date of birth: 1990-02-28, "
        "28.02.1990 or 28.02. Dates from the file take precedence over those customers enter "
        "in your shop's sign-up form.",
    },
    "limits": {
        "pl": f"Najwyżej {birthday_csv.MAX_ROWS} wierszy i {birthday_csv.MAX_BYTES // 1024} KB "
        "w jednym pliku. Wiersze z błędami pomijamy i pokazujemy w raporcie po imporcie; "
        "pozostałe zapisujemy.",
        "en": f"At most {birthday_csv.MAX_ROWS} rows and {birthday_csv.MAX_BYTES // 1024} KB per "
        "file. Rows with errors are skipped and listed after the import; the rest are saved.",
    },
    "file": {"pl": "Plik CSV", "en": "CSV file"},
    "submit": {"pl": "Importuj", "en": "Import"},
    "back": {"pl": "Wróć do ustawień", "en": "Back to settings"},
    "imported": {"pl": "Zapisane daty urodzin: {n}.", "en": "Birthdays saved: {n}."},
    "rejected": {"pl": "Pominięte wiersze: {n}.", "en": "Rows skipped: {n}."},
    "line": {"pl": "Wiersz", "en": "Line"},
    "reason": {"pl": "Powód", "en": "Reason"},
    "no_file": {"pl": "Wybierz plik CSV.", "en": "Choose a CSV file."},
}


def _shop(session: Session) -> Shop:
    """The shop the form token names, as on the settings page (the token is the CSRF defence);
    a refused token counts against the address's budget there."""
    return settings_page.counted(
        lambda: settings_page.shop_from_token(session, request.args.get("t", ""))
    )


@blueprint.before_request
def _refuse_guessers() -> None:
    services().limits.refuse_if_blocked(settings_page.BUDGET, request.remote_addr)


def _page(shop: Shop, status: int = 200, **values: Any) -> tuple[str, int, dict[str, str]]:
    svc = services()
    language = language_of(shop.language)
    body = render_template(
        "admin/birthday_import.html",
        language=language,
        t=lambda key, **kw: say(TEXTS[key], language).format(**kw),
        say=lambda text: say(text, language),
        token=svc.links.settings_form_token(shop.id, svc.clock()),
        reasons=birthday_csv.REASONS,
        **values,
    )
    return body, status, settings_page.frame_ancestors(shop)


@blueprint.get("/shoper/app/birthdays")
def import_page() -> Any:
    with services().factory() as session:
        return _page(_shop(session))


@blueprint.post("/shoper/app/birthdays")
def import_file() -> Any:
    svc = services()
    with svc.factory() as session, session.begin():
        shop = _shop(session)
        length = request.content_length
        if length is not None and length > birthday_csv.MAX_BYTES + 16 * 1024:
            problem = birthday_csv.FILE_PROBLEMS["too_large"]
            return _page(shop, 400, problem=problem)
        upload = request.files.get("file")
        if upload is None or not upload.filename:
            return _page(shop, 400, problem=TEXTS["no_file"])
        data = upload.stream.read(birthday_csv.MAX_BYTES + 1)
        try:
            with session.begin_nested():
                report = birthday_csv.import_birthdays(session, shop, data, svc.clock())
        except birthday_csv.FileProblem as exc:
            return _page(shop, 400, problem=birthday_csv.FILE_PROBLEMS[exc.key])
        return _page(shop, report=report)
